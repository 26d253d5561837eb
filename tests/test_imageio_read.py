"""Reading images: bit depth, alpha, grayscale, EXIF orientation, metadata, bad files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from fdikp_cli.errors import ImageReadError
from fdikp_cli.imageio import apply_orientation, read_image
from fdikp_cli.imageio.metadata import reset_exif_orientation

RNG = np.random.default_rng(0)


# Built once: the profile records its creation time, so two builds a second apart differ.
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _srgb_icc() -> bytes:
    return SRGB_ICC


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Canon"
    exif[0x8769] = {0x9003: "2021:06:01 12:00:00"}
    return exif


def _write_cv2(path: Path, rgb: np.ndarray) -> None:
    """Encode with OpenCV (an independent writer) from RGB(A) or gray."""
    if rgb.ndim == 3 and rgb.shape[2] >= 3:
        rgb = np.concatenate([rgb[..., 2::-1], rgb[..., 3:]], axis=2)
    ok, data = cv2.imencode(path.suffix, rgb)
    assert ok
    path.write_bytes(data.tobytes())


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_colour_is_read_at_16_bits(tmp_path: Path, suffix: str) -> None:
    rgb = RNG.integers(0, 65536, (12, 17, 3), dtype=np.uint16)
    path = tmp_path / f"deep{suffix}"
    _write_cv2(path, rgb)
    image = read_image(path)
    assert image.pixels.dtype == np.uint16 and image.bit_depth == 16
    assert np.array_equal(image.pixels, rgb) and image.alpha is None


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgba_keeps_alpha_exactly(tmp_path: Path, suffix: str) -> None:
    rgba = RNG.integers(0, 65536, (9, 11, 4), dtype=np.uint16)
    path = tmp_path / f"deep_alpha{suffix}"
    _write_cv2(path, rgba)
    image = read_image(path)
    assert np.array_equal(image.pixels, rgba[..., :3]) and np.array_equal(image.alpha, rgba[..., 3])


def test_16bit_grayscale(tmp_path: Path) -> None:
    gray = RNG.integers(0, 65536, (10, 13), dtype=np.uint16)
    path = tmp_path / "gray16.png"
    _write_cv2(path, gray)
    image = read_image(path)
    assert image.grayscale and image.pixels.dtype == np.uint16
    assert np.array_equal(image.pixels[..., 0], gray)


@pytest.mark.parametrize(
    ("mode", "channels", "alpha"), [("L", 1, False), ("LA", 1, True), ("RGB", 3, False), ("RGBA", 3, True)]
)
def test_8bit_modes(tmp_path: Path, mode: str, channels: int, alpha: bool) -> None:
    bands = len(mode)
    array = RNG.integers(0, 256, (8, 10, bands), dtype=np.uint8)
    path = tmp_path / f"m_{mode}.png"
    Image.fromarray(array[..., 0] if bands == 1 else array, mode).save(path)
    image = read_image(path)
    assert image.pixels.shape == (8, 10, channels) and image.pixels.dtype == np.uint8
    assert np.array_equal(image.pixels, array[..., :channels])
    assert (image.alpha is not None) == alpha
    if alpha:
        assert np.array_equal(image.alpha, array[..., -1])


def test_palette_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    rgb = Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).quantize(16)
    rgb.info["transparency"] = 0
    path = tmp_path / "palette.png"
    rgb.save(path, transparency=0)
    image = read_image(path)
    reference = np.asarray(Image.open(path).convert("RGBA"))
    assert np.array_equal(image.pixels, reference[..., :3]) and np.array_equal(image.alpha, reference[..., 3])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow_does(tmp_path: Path, orientation: int) -> None:
    stored = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(stored).save(path, exif=_exif(orientation).tobytes())
    reference = np.asarray(ImageOps.exif_transpose(Image.open(path)))  # independent reference
    image = read_image(path)
    assert np.array_equal(image.pixels, reference)
    assert image.metadata.orientation == orientation
    written = Image.Exif()
    written.load(image.metadata.exif)
    assert written[0x0112] == 1  # reset: the pixels are upright now
    assert np.array_equal(apply_orientation(stored, orientation), reference)


def test_exif_rotated_jpeg_is_read_upright_with_metadata(tmp_path: Path) -> None:
    stored = np.zeros((32, 48, 3), dtype=np.uint8)
    stored[:, :24] = 255  # left half white as stored; orientation 6 = turn clockwise: top half white
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, exif=_exif(6).tobytes(), icc_profile=_srgb_icc(), quality=95)
    image = read_image(path)
    assert image.pixels.shape == (48, 32, 3)
    assert image.pixels[:20].mean() > 240 and image.pixels[-20:].mean() < 15
    assert image.metadata.icc_profile == _srgb_icc()
    exif = Image.Exif()
    exif.load(image.metadata.exif)
    assert exif[0x010F] == "Canon" and exif.get_ifd(0x8769)[0x9003] == "2021:06:01 12:00:00"


@pytest.mark.parametrize("orientation", [2, 6, 8])
def test_16bit_tiff_orientation_is_applied_once(tmp_path: Path, orientation: int) -> None:
    tifffile = pytest.importorskip("tifffile")  # writes the stored pixels and the tag verbatim
    stored = RNG.integers(0, 65536, (6, 10, 4), dtype=np.uint16)
    path = tmp_path / "rotated16.tif"
    tifffile.imwrite(path, stored, photometric="rgb", extrasamples=[2], extratags=[(274, "H", 1, orientation, True)])
    image = read_image(path)
    upright = apply_orientation(stored, orientation)
    assert np.array_equal(image.pixels, upright[..., :3]) and np.array_equal(image.alpha, upright[..., 3])
    assert image.metadata.orientation == orientation


def test_16bit_png_orientation_is_applied_once(tmp_path: Path) -> None:
    from fdikp_cli.imageio.metadata import png_add_metadata

    stored = RNG.integers(0, 65536, (6, 10, 3), dtype=np.uint16)
    ok, encoded = cv2.imencode(".png", stored[..., ::-1])
    path = tmp_path / "rotated16.png"
    path.write_bytes(png_add_metadata(encoded.tobytes(), None, _exif(6).tobytes()[6:]))
    image = read_image(path)
    assert np.array_equal(image.pixels, np.rot90(stored, -1)) and image.metadata.orientation == 6


def test_8bit_tiff_orientation_is_applied_once(tmp_path: Path) -> None:
    stored = RNG.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    path = tmp_path / "rotated8.tif"
    Image.fromarray(stored).save(path, exif=_exif(6).tobytes())
    image = read_image(path)
    assert np.array_equal(image.pixels, np.rot90(stored, -1)) and image.metadata.orientation == 6


def test_reset_orientation_in_a_little_endian_block() -> None:
    # II*\0, IFD0 at 8 with one entry: Orientation SHORT 1 = 3, then next-IFD 0.
    entry = struct.pack("<HHIHH", 0x0112, 3, 1, 3, 0)
    block = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry + b"\0" * 4
    reset = reset_exif_orientation(block)
    assert reset is not None and len(reset) == len(block)
    parsed = Image.Exif()
    parsed.load(reset)
    assert parsed[0x0112] == 1
    assert reset_exif_orientation(b"garbage!") is None


def test_cmyk_icc_is_not_attached_to_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save(path, icc_profile=_srgb_icc()[:16] + b"CMYK" + _srgb_icc()[20:])
    image = read_image(path)
    assert image.pixels.shape == (8, 8, 3) and image.metadata.icc_profile is None
    assert any("CMYK" in note for note in image.notes)


def _png_with_size(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"this is not an image at all", "not an image"),
        (_png_with_size(100_000, 100_000), "decompression bomb"),
        (_png_with_size(14_000, 12_500), "exceeds the limit"),
    ],
)
def test_bad_files_raise_one_line_reasons(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_pixel_limit_is_a_parameter(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (40, 30)).save(path)
    assert read_image(path, max_pixels=1200).pixels.shape == (30, 40, 3)
    with pytest.raises(ImageReadError, match="40x30"):
        read_image(path, max_pixels=1199)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_files_are_read_errors(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"whole{suffix}"
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageReadError, match="truncated|corrupt"):
        read_image(cut)


def test_truncated_16bit_png_is_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    _write_cv2(path, RNG.integers(0, 65536, (64, 64, 3), dtype=np.uint16))
    cut = tmp_path / "deep_cut.png"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageReadError):
        read_image(cut)


def test_missing_folder_and_unsupported_format(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="not found"):
        read_image(tmp_path / "nothing.jpg")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)
    gif = tmp_path / "anim.gif"
    Image.new("P", (4, 4)).save(gif)
    with pytest.raises(ImageReadError, match="unsupported format GIF"):
        read_image(gif)


def test_non_ascii_path(tmp_path: Path) -> None:
    folder = tmp_path / "фото 写真 é"
    folder.mkdir()
    path = folder / "ßild ñ.png"
    array = RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    _write_cv2(tmp_path / "plain.png", array)
    path.write_bytes((tmp_path / "plain.png").read_bytes())
    assert np.array_equal(read_image(path).pixels, array)
