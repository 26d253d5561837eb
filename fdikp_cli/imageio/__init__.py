"""Image files in and out: every bit depth, alpha, orientation and metadata kept.

    from fdikp_cli.imageio import read_image, write_image
    image = read_image("photo.jpg")          # DecodedImage: pixels (H, W, C) uint8/uint16, upright
    write_image("out.jpg", image.pixels, alpha=image.alpha, metadata=image.metadata)
"""

from fdikp_cli.imageio.formats import FORMATS, SUPPORTED_EXTENSIONS, ImageFormat, format_from_name, format_from_path
from fdikp_cli.imageio.metadata import ImageMetadata
from fdikp_cli.imageio.read import DEFAULT_MAX_PIXELS, DecodedImage, apply_orientation, read_image, read_rgb_pixels
from fdikp_cli.imageio.write import DEFAULT_QUALITY, atomic_write, write_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_QUALITY",
    "FORMATS",
    "SUPPORTED_EXTENSIONS",
    "DecodedImage",
    "ImageFormat",
    "ImageMetadata",
    "apply_orientation",
    "atomic_write",
    "format_from_name",
    "format_from_path",
    "read_image",
    "read_rgb_pixels",
    "write_image",
]
