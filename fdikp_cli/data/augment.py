"""The paper's augmentation: random crop, horizontal and vertical flip, rotation by 90 degrees.

Every function takes an explicit numpy Generator: a sample's augmentation is a pure function
of its seed, so resumed runs and worker processes see exactly the same data.
"""

from __future__ import annotations

import numpy as np


def random_crop_box(height: int, width: int, crop: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left corner of a crop x crop window inside a height x width image."""
    top = int(rng.integers(0, height - crop + 1))
    left = int(rng.integers(0, width - crop + 1))
    return top, left


def crop(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    return image[top : top + size, left : left + size]


def checked_scale_range(scale_range: tuple[float, float], what: str) -> tuple[float, float]:
    """(low, high) as floats, or DatasetError unless 0 < low <= high <= 1 (`what` names the option)."""
    from fdikp_cli.errors import DatasetError

    low, high = scale_range
    if not 0.0 < low <= high <= 1.0:
        raise DatasetError(f"{what} scale range must satisfy 0 < low <= high <= 1, got {scale_range}")
    return float(low), float(high)


def window_notes(scale_range: tuple[float, float], skipped: int) -> str:
    """The tail of a source's describe(): its scale range (when it downscales) and skipped images."""
    low, high = scale_range
    scale = f", scaled {low:g}-{high:g}x" if low < 1.0 else ""
    return scale + (f", {skipped} smaller than the crop skipped" if skipped else "")


def random_scaled_window(image: np.ndarray, size: int, scale_range: tuple[float, float],
                         rng: np.random.Generator) -> np.ndarray:
    """A random size x size window of the image seen at a random scale in scale_range (<= 1).

    The window is cut at size / scale and area-averaged down; the scale is raised where that
    would not fit in the image (a window that fits only at scale 1 is returned as is).
    """
    import cv2

    h, w = image.shape[:2]
    low, high = scale_range
    scale = float(rng.uniform(low, high)) if high > low else high
    scale = min(1.0, max(scale, size / min(h, w)))
    source_size = min(h, w, int(round(size / scale)))
    top, left = random_crop_box(h, w, source_size, rng)
    window = crop(image, top, left, source_size)
    if source_size == size:
        return window
    if window.ndim == 3 and window.shape[2] > 4:  # OpenCV resizes at most 4 channels at a time
        groups = [window[..., c : c + 3] for c in range(0, window.shape[2], 3)]
        return np.concatenate([area_resize(g, size) for g in groups], axis=2)
    return area_resize(window, size)


def area_resize(window: np.ndarray, size: int) -> np.ndarray:
    """Area-averaged resize of an (h, w[, <=4]) window to size x size (no randomness involved)."""
    import cv2

    resized = cv2.resize(np.ascontiguousarray(window), (size, size), interpolation=cv2.INTER_AREA)
    return resized.reshape(size, size, *window.shape[2:])


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central size x size window (clipped to the image)."""
    h, w = image.shape[:2]
    size_h, size_w = min(size, h), min(size, w)
    top, left = (h - size_h) // 2, (w - size_w) // 2
    return image[top : top + size_h, left : left + size_w]


def random_flip_rot_code(rng: np.random.Generator) -> tuple[bool, bool, int]:
    """(horizontal flip, vertical flip, quarter turns): the 8 symmetries of the square (with
    repeats: 16 codes cover the dihedral group twice, which keeps it uniform)."""
    return bool(rng.integers(2)), bool(rng.integers(2)), int(rng.integers(4))


def apply_flip_rot(image: np.ndarray, code: tuple[bool, bool, int]) -> np.ndarray:
    """Apply a flip/rotation code to an (H, W, C) array (a view; callers copy)."""
    hflip, vflip, turns = code
    if hflip:
        image = image[:, ::-1]
    if vflip:
        image = image[::-1]
    if turns:
        image = np.rot90(image, turns, axes=(0, 1))
    return image
