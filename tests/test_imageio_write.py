"""Writing images: round trips of bit depth and alpha, metadata, conversions, atomicity."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from fdikp_cli.errors import ConfigError, ImageWriteError
from fdikp_cli.imageio import ImageMetadata, format_from_name, format_from_path, read_image, write_image
from fdikp_cli.imageio import write as write_module

RNG = np.random.default_rng(1)


# Built once: the profile records its creation time, so two builds a second apart differ.
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _srgb_icc() -> bytes:
    return SRGB_ICC


def _exif_block() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "Nikon"
    exif[0x8769] = {0x9003: "2022:02:02 10:00:00"}
    return exif.tobytes()[6:]  # without the "Exif\0\0" header, as ImageMetadata keeps it


def _metadata() -> ImageMetadata:
    return ImageMetadata(icc_profile=_srgb_icc(), exif=_exif_block(), orientation=1)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_16bit_round_trip_is_exact(tmp_path: Path, suffix: str, with_alpha: bool) -> None:
    pixels = RNG.integers(0, 65536, (9, 14, 3), dtype=np.uint16)
    alpha = RNG.integers(0, 65536, (9, 14), dtype=np.uint16) if with_alpha else None
    path = tmp_path / f"out{suffix}"
    assert write_image(path, pixels, alpha=alpha) == []
    decoded = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)  # independent reader
    assert decoded.dtype == np.uint16
    assert np.array_equal(decoded[..., 2::-1], pixels)
    if with_alpha:
        assert np.array_equal(decoded[..., 3], alpha)
    again = read_image(path)
    assert np.array_equal(again.pixels, pixels) and (again.alpha is None) == (alpha is None)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_8bit_alpha_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    pixels = RNG.integers(0, 256, (8, 12, 3), dtype=np.uint8)
    alpha = RNG.integers(0, 256, (8, 12), dtype=np.uint8)
    path = tmp_path / f"a{suffix}"
    write_image(path, pixels, alpha=alpha, quality=100)  # WebP 100 = lossless
    reference = np.asarray(Image.open(path).convert("RGBA"))
    assert np.array_equal(reference[..., 3], alpha) and np.array_equal(reference[..., :3], pixels)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_grayscale_stays_grayscale(tmp_path: Path, suffix: str) -> None:
    gray = RNG.integers(0, 256, (7, 9, 1), dtype=np.uint8)
    path = tmp_path / f"g{suffix}"
    write_image(path, gray)
    opened = Image.open(path)
    assert opened.mode == "L" and np.array_equal(np.asarray(opened), gray[..., 0])


def test_16bit_grayscale_png(tmp_path: Path) -> None:
    gray = RNG.integers(0, 65536, (7, 9, 1), dtype=np.uint16)
    path = tmp_path / "g16.png"
    write_image(path, gray)
    opened = Image.open(path)
    assert opened.mode.startswith("I;16") and np.array_equal(np.asarray(opened), gray[..., 0])


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_icc_and_exif_are_written(tmp_path: Path, suffix: str) -> None:
    pixels = RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    path = tmp_path / f"meta{suffix}"
    assert write_image(path, pixels, metadata=_metadata()) == []
    opened = Image.open(path)
    assert opened.info.get("icc_profile") == _srgb_icc()
    exif = opened.getexif()
    assert exif[0x010F] == "Nikon" and exif[0x0112] == 1
    assert exif.get_ifd(0x8769)[0x9003] == "2022:02:02 10:00:00"


def test_16bit_png_carries_icc_and_exif(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 65536, (8, 8, 3), dtype=np.uint16)
    path = tmp_path / "meta16.png"
    write_image(path, pixels, metadata=_metadata())
    opened = Image.open(path)
    assert opened.info.get("icc_profile") == _srgb_icc()
    assert opened.getexif()[0x010F] == "Nikon"
    assert np.array_equal(read_image(path).pixels, pixels)


def test_16bit_tiff_carries_icc_and_says_exif_is_dropped(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 65536, (8, 8, 3), dtype=np.uint16)
    path = tmp_path / "meta16.tif"
    notes = write_image(path, pixels, metadata=_metadata())
    assert any("EXIF not written" in n for n in notes)
    assert Image.open(path).info.get("icc_profile") == _srgb_icc()
    assert np.array_equal(read_image(path).pixels, pixels)


def test_strip_metadata(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpg"
    write_image(path, RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8), metadata=_metadata(), strip_metadata=True)
    opened = Image.open(path)
    assert "icc_profile" not in opened.info and len(opened.getexif()) == 0


def test_conversions_are_reported(tmp_path: Path) -> None:
    deep = RNG.integers(0, 65536, (6, 6, 3), dtype=np.uint16)
    alpha = RNG.integers(0, 65536, (6, 6), dtype=np.uint16)
    notes = write_image(tmp_path / "x.jpg", deep, alpha=alpha, metadata=_metadata())
    assert any("16-bit reduced" in n for n in notes) and any("alpha channel dropped" in n for n in notes)
    written = np.asarray(Image.open(tmp_path / "x.jpg")).astype(int)
    assert np.abs(written - ((deep.astype(int) + 128) // 257)).mean() < 6  # lossy JPEG of noise, same picture
    assert np.abs(written - (deep.astype(int) % 256)).mean() > 40  # (not the low bytes)
    notes = write_image(tmp_path / "x.bmp", deep[..., :3].astype(np.uint8), metadata=_metadata())
    assert any("ICC" in n for n in notes) and any("EXIF" in n for n in notes)
    notes = write_image(tmp_path / "g.webp", np.zeros((4, 4, 1), np.uint8))
    assert notes == ["grayscale written as RGB"]


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "exists.png"
    path.write_bytes(b"precious")
    with pytest.raises(ImageWriteError, match="exists"):
        write_image(path, np.zeros((4, 4, 3), np.uint8))
    assert path.read_bytes() == b"precious"
    write_image(path, np.zeros((4, 4, 3), np.uint8), overwrite=True)
    assert Image.open(path).size == (4, 4)


@pytest.mark.parametrize("error", [RuntimeError("encoder crashed"), KeyboardInterrupt()])
def test_interrupted_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def failing_encoder(stream, image, fmt, quality=95):  # type: ignore[no-untyped-def]
        stream.write(b"\x89PNG half an image")
        stream.flush()
        raise error

    monkeypatch.setattr(write_module, "encode_image", failing_encoder)
    target = tmp_path / "result.png"
    with pytest.raises(type(error)):
        write_image(target, np.zeros((4, 4, 3), np.uint8))
    assert os.listdir(tmp_path) == []  # neither the result nor a temporary file

    target.write_bytes(b"previous result")
    with pytest.raises(type(error)):
        write_image(target, np.zeros((4, 4, 3), np.uint8), overwrite=True)
    assert target.read_bytes() == b"previous result" and os.listdir(tmp_path) == ["result.png"]


def test_written_file_has_normal_permissions(tmp_path: Path) -> None:
    path = tmp_path / "perm.png"
    write_image(path, np.zeros((2, 2, 3), np.uint8))
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_unwritable_folder_is_a_write_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(ImageWriteError):
        write_image(blocker / "sub" / "x.png", np.zeros((2, 2, 3), np.uint8))


def test_non_ascii_path(tmp_path: Path) -> None:
    path = tmp_path / "résultat 結果" / "ñ.tif"
    pixels = RNG.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    write_image(path, pixels)
    assert np.array_equal(read_image(path).pixels, pixels)


def test_format_names() -> None:
    assert format_from_name("JPG") is format_from_name("jpeg") is format_from_path("a/B.JPG")
    assert format_from_name(".tiff") is format_from_path("x.tif")
    with pytest.raises(ConfigError):
        format_from_name("gif")
    with pytest.raises(ConfigError):
        format_from_path("x.heic")
