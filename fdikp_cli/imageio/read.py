"""Reading photographs: any bit depth, alpha, EXIF orientation, ICC and EXIF capture.

Pillow reads the header (format, size, metadata) and decodes 8-bit images and 16-bit
grayscale. Pillow truncates 16-bit colour to 8 bits, so 16-bit colour PNG and TIFF are
decoded by OpenCV (`cv2.imdecode` on the bytes: `cv2.imread` fails on non-ASCII paths).
Files are read as bytes first, so any path the OS accepts works, and the pixel count is
checked from the header before anything is decoded (decompression bombs).
"""

from __future__ import annotations

import io
import warnings
from struct import error as struct_error
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fdikp_cli.errors import ImageReadError
from fdikp_cli.imageio.formats import PNG, TIFF, ImageFormat, format_from_pillow
from fdikp_cli.imageio.metadata import (
    ORIENTATION_TAG,
    ImageMetadata,
    icc_colour_space,
    png_chunks,
    png_reset_orientation,
    reset_exif_orientation,
    strip_exif_header,
)

# 170 megapixels (e.g. 16,000 x 10,600): above every camera's photo; a header claiming more
# is treated as a decompression bomb. (Pillow refuses above 179 MP on its own: reported the same way.)
DEFAULT_MAX_PIXELS = 170_000_000

# IFD0 tags of a TIFF file that describe the photo (not its storage): what a TIFF input
# contributes as EXIF to its output. Strip offsets, compression and the like must not travel.
_DESCRIPTIVE_TIFF_TAGS = (0x010E, 0x010F, 0x0110, 0x0112, 0x011A, 0x011B, 0x0128, 0x0131, 0x0132, 0x013B, 0x8298)
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


@dataclass
class DecodedImage:
    """A photo as the model and the writer need it.

    pixels: (H, W, C) uint8 or uint16, C = 1 (grayscale) or 3 (RGB), upright (EXIF
    orientation applied). alpha: (H, W), same dtype, or None. Alpha is kept out of the
    pixels so it can be passed through untouched.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    format: ImageFormat
    metadata: ImageMetadata
    notes: list[str] = field(default_factory=list)  # what was converted on reading

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def grayscale(self) -> bool:
        return self.pixels.shape[2] == 1

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def megapixels(self) -> float:
        return self.height * self.width / 1e6


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an (H, W, ...) array stored with EXIF orientation 1-8 upright (as viewers show it).

    Returns a view where possible (flips and rotations of numpy arrays are views).
    """
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:  # transpose
        return np.swapaxes(array, 0, 1)
    if orientation == 6:  # stored rotated 90 degrees counter-clockwise: turn clockwise
        return np.rot90(array, k=-1)
    if orientation == 7:  # transverse
        return np.swapaxes(array[::-1, ::-1], 0, 1)
    if orientation == 8:
        return np.rot90(array, k=1)
    return array


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Read an image file; every problem is an ImageReadError with a one-line reason."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    data = _read_bytes(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"refused: image too large, possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image, or a format Pillow cannot identify") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"corrupt image header: {exc}") from None
    fmt = format_from_pillow(image.format)
    if fmt is None:
        raise ImageReadError(f"unsupported format {image.format} (supported: JPEG, PNG, TIFF, WebP, BMP)")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageReadError(
            f"refused: {width}x{height} = {width * height / 1e6:.0f} MP exceeds the limit of "
            f"{max_pixels / 1e6:.0f} MP (possible decompression bomb)"
        )
    notes: list[str] = []
    if getattr(image, "n_frames", 1) > 1:
        notes.append(f"{image.n_frames} frames: only the first is processed")
    try:
        exif, orientation = _read_exif(image, data, fmt, notes)  # before decoding: see below
        use_opencv = _needs_opencv(image, data, fmt)
        if use_opencv:
            # OpenCV turns some formats upright itself (TIFF, even with IMREAD_UNCHANGED), others
            # not: it gets the bytes with orientation 1, and the orientation is applied below.
            stored = png_reset_orientation(data) if fmt is PNG else (reset_exif_orientation(data) or data)
            pixels, alpha = _decode_opencv(stored, grayscale=_header_says_grayscale(image, data, fmt))
        else:
            pixels, alpha = _decode_pillow(image, notes)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise ImageReadError(f"corrupt or truncated image data: {exc}") from None
    icc = _read_icc(image, grayscale=pixels.shape[2] == 1, notes=notes)
    metadata = ImageMetadata(icc_profile=icc, exif=exif, orientation=orientation)
    # Pillow turns TIFFs upright while loading them (and drops the tag); OpenCV never does.
    pillow_turned_it = fmt is TIFF and not use_opencv and ORIENTATION_TAG not in image.tag_v2
    to_apply = 1 if pillow_turned_it else orientation
    pixels = np.ascontiguousarray(apply_orientation(pixels, to_apply))
    if alpha is not None:
        alpha = np.ascontiguousarray(apply_orientation(alpha, to_apply))
    return DecodedImage(pixels, alpha, fmt, metadata, notes)


def read_rgb_pixels(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file as upright RGB pixels (H, W, 3), uint8 or uint16 as stored: read_image
    (so the same pixel limit and EXIF orientation as `deblur`), grayscale repeated to three
    channels and alpha left out. For the commands that treat every photo as an opaque RGB
    picture (`evaluate`, `synth`). Every problem is an ImageReadError naming the file."""
    try:
        decoded = read_image(path, max_pixels=max_pixels)
    except ImageReadError as exc:
        raise ImageReadError(f"{path}: {exc}") from None
    return np.repeat(decoded.pixels, 3, axis=2) if decoded.grayscale else decoded.pixels


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError("file not found") from None
    except IsADirectoryError:
        raise ImageReadError("is a folder, not a file") from None
    except PermissionError:
        raise ImageReadError("permission denied") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read: {exc.strerror or exc}") from None
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    return data


def _source_bit_depth(image: "PIL.Image.Image", data: bytes, fmt: ImageFormat) -> int:  # noqa: F821
    if fmt is PNG and data[12:16] == b"IHDR":
        return data[24]
    if fmt is TIFF:
        bits = image.tag_v2.get(258, 8)
        return max(bits) if isinstance(bits, tuple) else int(bits)
    return 8


def _needs_opencv(image: "PIL.Image.Image", data: bytes, fmt: ImageFormat) -> bool:  # noqa: F821
    """Pillow decodes 16-bit grayscale (mode I;16) faithfully but truncates 16-bit colour."""
    return _source_bit_depth(image, data, fmt) > 8 and not image.mode.startswith("I;16")


def _header_says_grayscale(image: "PIL.Image.Image", data: bytes, fmt: ImageFormat) -> bool:  # noqa: F821
    if fmt is PNG:
        return data[25] in (0, 4)  # PNG colour types: grayscale, grayscale + alpha
    if fmt is TIFF:
        return image.tag_v2.get(262, 2) in (0, 1)  # photometric: min-is-white / min-is-black
    return False


def _decode_opencv(data: bytes, grayscale: bool) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2

    array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageReadError("corrupt or truncated image data (OpenCV could not decode it)")
    if array.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"unsupported sample type {array.dtype} (only 8- and 16-bit integers)")
    if array.ndim == 2:
        return array[..., None], None
    channels = array.shape[2]
    alpha = array[..., 3].copy() if channels == 4 else (array[..., 1].copy() if channels == 2 else None)
    if grayscale or channels <= 2:
        return array[..., :1].copy(), alpha
    return np.ascontiguousarray(array[..., 2::-1]), alpha  # BGR(A) -> RGB


def _decode_pillow(image: "PIL.Image.Image", notes: list[str]) -> tuple[np.ndarray, np.ndarray | None]:  # noqa: F821
    image.load()  # decodes now, so truncation surfaces here as OSError
    mode = image.mode
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)[..., None], None
    if mode == "I":
        values = np.asarray(image)
        if values.min() < 0 or values.max() > 65535:
            raise ImageReadError("unsupported 32-bit integer samples")
        return values.astype(np.uint16)[..., None], None
    if mode == "F":
        raise ImageReadError("unsupported floating-point samples")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    grayscale = mode in ("1", "L", "LA", "La") or (mode == "P" and _palette_is_gray(image))
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
    target = ("LA" if has_alpha else "L") if grayscale else ("RGBA" if has_alpha else "RGB")
    array = np.asarray(image.convert(target) if mode != target else image)
    if array.ndim == 2:
        array = array[..., None]
    if has_alpha:
        return np.ascontiguousarray(array[..., :-1]), np.ascontiguousarray(array[..., -1])
    return array, None


def _palette_is_gray(image: "PIL.Image.Image") -> bool:  # noqa: F821
    palette = np.asarray(image.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
    return palette.size > 0 and bool((palette == palette[:, :1]).all())


def _read_exif(
    image: "PIL.Image.Image", data: bytes, fmt: ImageFormat, notes: list[str]  # noqa: F821
) -> tuple[bytes | None, int]:
    """The EXIF block with its orientation reset to 1, and the orientation it had."""
    from PIL import Image

    block = _exif_block(image, data, fmt)
    if not block:
        return None, 1
    orientation = 1
    try:
        parsed = Image.Exif()
        parsed.load(block)
        orientation = int(parsed.get(ORIENTATION_TAG, 1))
    except (ValueError, TypeError, OSError, SyntaxError, KeyError, struct_error):
        pass
    if orientation not in range(1, 9):
        orientation = 1
    reset = reset_exif_orientation(block)
    if reset is None:
        notes.append("EXIF block unreadable: not kept")
    return reset, orientation


def _read_icc(image: "PIL.Image.Image", grayscale: bool, notes: list[str]) -> bytes | None:  # noqa: F821
    icc = image.info.get("icc_profile") or None
    if icc is not None:
        space = icc_colour_space(icc)
        if space != ("GRAY" if grayscale else "RGB"):
            notes.append(f"ICC profile for {space or 'unknown'} data does not fit the decoded image: not kept")
            return None
    return icc


def _exif_block(image: "PIL.Image.Image", data: bytes, fmt: ImageFormat) -> bytes | None:  # noqa: F821
    """The raw EXIF block (TIFF structure), from wherever this format keeps it."""
    from PIL import Image

    if fmt is TIFF:
        # A TIFF's EXIF lives in its own IFD0, mixed with storage tags: keep the descriptive ones.
        source = image.getexif()
        exif = Image.Exif()
        for tag in _DESCRIPTIVE_TIFF_TAGS:
            if tag in source:
                exif[tag] = source[tag]
        for sub in (_EXIF_IFD, _GPS_IFD):
            if sub in source:
                exif[sub] = source.get_ifd(sub)
        return strip_exif_header(exif.tobytes()) if len(exif) else None
    if fmt is PNG:
        raw = png_chunks(data).get(b"eXIf")  # may sit after the image data, where Pillow looks late
        return raw or None
    raw = image.info.get("exif")
    return strip_exif_header(raw) if raw else None
