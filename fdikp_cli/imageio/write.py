"""Writing results: atomically, keeping bit depth, alpha, ICC profile and EXIF where the
format can hold them (and saying what had to change where it cannot).

Atomic: the file is encoded into a hidden temporary file in the destination folder, synced,
then renamed over the destination. An interrupted run (error, Ctrl-C, kill) never leaves a
half-written image under the final name; a killed process can leave a `.NAME.*.part` file.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from fdikp_cli.errors import ImageWriteError
from fdikp_cli.imageio.formats import JPEG, PNG, TIFF, WEBP, ImageFormat, format_from_path
from fdikp_cli.imageio.metadata import (
    EXIF_HEADER,
    ICC_TIFF_TAG,
    ImageMetadata,
    png_add_metadata,
    tiff_add_tags,
    tiff_byte_order,
)

EXTRA_SAMPLES_TAG = 338  # TIFF ExtraSamples; value 2 = unassociated alpha

DEFAULT_QUALITY = 95


@dataclass
class PreparedImage:
    """Pixels and metadata made to fit one format (see `prepare_for_format`)."""

    pixels: np.ndarray  # (H, W, C) C in {1, 3}, uint8 or uint16
    alpha: np.ndarray | None  # (H, W), same dtype
    metadata: ImageMetadata
    notes: list[str]


def to_8bit(array: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 with rounding (65535 -> 255)."""
    if array.dtype == np.uint8:
        return array
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)


def prepare_for_format(
    pixels: np.ndarray,
    alpha: np.ndarray | None,
    metadata: ImageMetadata | None,
    fmt: ImageFormat,
    *,
    strip_metadata: bool = False,
) -> PreparedImage:
    """Convert what `fmt` cannot hold (16-bit, alpha, grayscale, metadata), with a note each."""
    notes: list[str] = []
    metadata = ImageMetadata() if strip_metadata or metadata is None else metadata
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.dtype == np.uint16 and fmt.max_bit_depth < 16:
        notes.append(f"16-bit reduced to 8 bits ({fmt.name} holds 8)")
        pixels, alpha = to_8bit(pixels), None if alpha is None else to_8bit(alpha)
    if alpha is not None and not fmt.alpha:
        notes.append(f"alpha channel dropped ({fmt.name} has none)")
        alpha = None
    gray_with_alpha_16 = pixels.dtype == np.uint16 and alpha is not None and pixels.shape[2] == 1
    if pixels.shape[2] == 1 and (not fmt.grayscale or gray_with_alpha_16):
        # WebP has no grayscale; OpenCV cannot write 16-bit grayscale + alpha.
        notes.append("grayscale written as RGB")
        pixels = np.repeat(pixels, 3, axis=2)
        if metadata.icc_profile is not None:
            metadata = metadata.without_icc()
    icc, exif = metadata.icc_profile, metadata.exif
    if icc is not None and not fmt.icc:
        notes.append(f"ICC profile not written ({fmt.name} cannot hold it)")
        icc = None
    if exif is not None and not fmt.exif:
        notes.append(f"EXIF not written ({fmt.name} cannot hold it)")
        exif = None
    if exif is not None and fmt is TIFF and pixels.dtype == np.uint16:
        notes.append("EXIF not written (16-bit TIFF output keeps the ICC profile only)")
        exif = None
    return PreparedImage(pixels, alpha, ImageMetadata(icc, exif, metadata.orientation), notes)


def encode_image(stream: BinaryIO, image: PreparedImage, fmt: ImageFormat, quality: int = DEFAULT_QUALITY) -> None:
    """Encode a prepared image into an open binary stream."""
    if image.pixels.dtype == np.uint16:
        stream.write(_encode_16bit(image, fmt))
    else:
        _encode_pillow(stream, image, fmt, quality)


def _encode_16bit(image: PreparedImage, fmt: ImageFormat) -> bytes:
    """16-bit PNG/TIFF through OpenCV (Pillow has no 16-bit colour), metadata added by hand."""
    import cv2

    pixels = image.pixels
    if pixels.shape[2] == 3:
        pixels = pixels[..., ::-1]  # RGB -> BGR
    if image.alpha is not None:
        pixels = np.concatenate([pixels, image.alpha[..., None]], axis=2)
    ok, encoded = cv2.imencode(fmt.extension, np.ascontiguousarray(pixels))
    if not ok:
        raise ImageWriteError(f"OpenCV could not encode a 16-bit {fmt.name}")
    data = encoded.tobytes()
    if fmt is PNG:
        return png_add_metadata(data, image.metadata.icc_profile, image.metadata.exif)
    if fmt is TIFF:
        order = tiff_byte_order(data)
        tags = []
        if image.alpha is not None:  # OpenCV does not mark the 4th channel as alpha
            tags.append((EXTRA_SAMPLES_TAG, 3, 1, struct.pack(order + "H", 2)))
        if image.metadata.icc_profile:
            tags.append((ICC_TIFF_TAG, 7, len(image.metadata.icc_profile), image.metadata.icc_profile))
        return tiff_add_tags(data, tags) if tags else data
    return data


def _encode_pillow(stream: BinaryIO, image: PreparedImage, fmt: ImageFormat, quality: int) -> None:
    from PIL import Image

    gray = image.pixels.shape[2] == 1
    channels = image.pixels if image.alpha is None else np.concatenate([image.pixels, image.alpha[..., None]], axis=2)
    if gray:
        mode = "L" if image.alpha is None else "LA"
    else:
        mode = "RGB" if image.alpha is None else "RGBA"
    picture = Image.fromarray(np.ascontiguousarray(channels[..., 0] if mode == "L" else channels), mode)
    options: dict[str, object] = {}
    if image.metadata.icc_profile:
        options["icc_profile"] = image.metadata.icc_profile
    if image.metadata.exif:
        options["exif"] = EXIF_HEADER + image.metadata.exif
    if fmt is JPEG:
        # 4:4:4 chroma at high quality: photographers asked for quality, not the smallest file.
        options.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt is WEBP:
        options.update(quality=quality, lossless=quality >= 100, method=4)
    elif fmt is PNG:
        options.update(compress_level=6)
    # TIFF stays uncompressed: Pillow's compressed (libtiff) writer cannot write the EXIF IFD.
    picture.save(stream, fmt.name, **options)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, overwrite: bool = False) -> Path:
    """Call write(stream) on a temporary file beside `path`, then move it into place.

    Without overwrite, an existing `path` is an ImageWriteError (checked again at the final
    rename, so a file that appeared meanwhile is not clobbered either).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ImageWriteError(f"{path} exists (use --overwrite to replace it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise ImageWriteError(f"cannot write in {path.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal permissions
        _move_into_place(temporary, path, overwrite)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path


def _move_into_place(temporary: str, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if path exists: no-clobber, atomically
    except FileExistsError:
        raise ImageWriteError(f"{path} exists (use --overwrite to replace it)") from None
    except OSError:  # file systems without hard links
        if path.exists():
            raise ImageWriteError(f"{path} exists (use --overwrite to replace it)") from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_image(
    path: str | Path,
    pixels: np.ndarray,
    *,
    alpha: np.ndarray | None = None,
    metadata: ImageMetadata | None = None,
    fmt: ImageFormat | None = None,
    quality: int = DEFAULT_QUALITY,
    strip_metadata: bool = False,
    overwrite: bool = False,
) -> list[str]:
    """Write pixels (H, W, C) uint8/uint16 (+ alpha, metadata) atomically; returns notes on
    what the format could not keep. The format comes from the extension unless given."""
    fmt = fmt or format_from_path(path)
    prepared = prepare_for_format(pixels, alpha, metadata, fmt, strip_metadata=strip_metadata)

    def write(stream: BinaryIO) -> None:
        try:
            encode_image(stream, prepared, fmt, quality)
        except (ValueError, KeyError) as exc:  # Pillow reports encoder problems this way
            raise ImageWriteError(f"cannot encode {fmt.name}: {exc}") from None

    atomic_write(path, write, overwrite=overwrite)
    return prepared.notes
