"""Reading training images: 8 or 16-bit, gray or RGB(A), as the decoder gives them.

Training keeps decoded images in their native dtype (uint8 / uint16) so that a per-worker
cache holds twice as many images as float32 would; crops are converted to float32 later.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fdikp_cli.errors import ImageReadError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def read_native(path: Path) -> np.ndarray:
    """Decode an image to (H, W, 3) RGB, uint8 or uint16 as stored. Raises ImageReadError."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    if data is None:
        raise ImageReadError(f"{path}: file not found")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: unsupported pixel type {image.dtype} (expected 8 or 16-bit)")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]  # drop alpha: training pairs are opaque photographs
    elif image.shape[2] != 3:
        raise ImageReadError(f"{path}: {image.shape[2]} channels, expected 1, 3 or 4")
    return np.ascontiguousarray(image[:, :, ::-1])  # OpenCV decodes BGR


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 (H, W, 3) -> float32 in [0, 1]; float images are taken as already in [0, 1]."""
    if image.dtype.kind == "f":
        return image.astype(np.float32, copy=False)
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return image.astype(np.float32) / np.float32(scale)


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file header, without decoding. Raises ImageReadError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as handle:
            width, height = handle.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ImageReadError(f"{path}: not a readable image ({exc})") from None
    return height, width


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in a folder, sorted by path (a stable order makes runs reproducible)."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
