"""The image formats `fdikp deblur` reads and writes, and what each one can hold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fdikp_cli.errors import ConfigError


@dataclass(frozen=True)
class ImageFormat:
    """One file format and its capabilities (decides what is kept or converted on write)."""

    name: str  # Pillow's format name
    extensions: tuple[str, ...]  # lower case, with the dot; the first one is used for new files
    max_bit_depth: int  # 8 or 16 bits per channel
    alpha: bool  # can hold an alpha channel
    grayscale: bool  # can hold a single-channel image (else grayscale is written as RGB)
    icc: bool  # can hold an ICC profile
    exif: bool  # can hold EXIF metadata
    quality: bool  # lossy: --quality applies

    @property
    def extension(self) -> str:
        return self.extensions[0]


JPEG = ImageFormat("JPEG", (".jpg", ".jpeg", ".jpe"), 8, False, True, True, True, True)
PNG = ImageFormat("PNG", (".png",), 16, True, True, True, True, False)
TIFF = ImageFormat("TIFF", (".tif", ".tiff"), 16, True, True, True, True, False)
WEBP = ImageFormat("WEBP", (".webp",), 8, True, False, True, True, True)
# Pillow writes BMP without alpha and without metadata.
BMP = ImageFormat("BMP", (".bmp",), 8, False, True, False, False, False)

FORMATS: tuple[ImageFormat, ...] = (JPEG, PNG, TIFF, WEBP, BMP)
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(ext for fmt in FORMATS for ext in fmt.extensions)


def format_from_name(name: str) -> ImageFormat:
    """A format from a name or extension as users type it: "jpg", "JPEG", ".tif", "webp"..."""
    key = name.strip().lower().lstrip(".")
    for fmt in FORMATS:
        if key == fmt.name.lower() or f".{key}" in fmt.extensions:
            return fmt
    known = ", ".join(fmt.extension.lstrip(".") for fmt in FORMATS)
    raise ConfigError(f"unknown image format {name!r} (known: {known})")


def format_from_path(path: str | Path) -> ImageFormat:
    """The format a file name asks for, from its extension."""
    suffix = Path(path).suffix.lower()
    for fmt in FORMATS:
        if suffix in fmt.extensions:
            return fmt
    raise ConfigError(f"{path}: unknown image extension {suffix!r} (known: {', '.join(sorted(SUPPORTED_EXTENSIONS))})")


def format_from_pillow(name: str | None) -> ImageFormat | None:
    """The format Pillow detected when opening a file (None if we do not handle it)."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    return None


def is_supported_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS
