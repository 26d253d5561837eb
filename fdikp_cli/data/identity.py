"""In-focus pairs: sharp photos as their own targets (dataset kind `sharp`).

Real defocus pairs teach the model what to restore, but say little about what to leave alone: a
sharp edge or a smooth in-focus texture in the input has, in the real pairs, almost the same
look as a mildly blurred one whose target is crisper, so the model learns to sharpen both. A
share of (x, x) crops of sharp photos asks for the identity wherever the input is already in
focus. Mixed in by weight like any other source:

    --dataset "pairs:0.8,sharp@../shared/data/dpdd-canon-iso/train/target:0.2"

Without a root the kind reads --sharp-dir. Windows are taken at a random scale (the run's
`data.sharp_scale`, area-averaged), as the synthetic source takes them: downscaling averages
the photos' grain away and varies the size of their detail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from fdikp_cli.data.augment import checked_scale_range, random_scaled_window, window_notes
from fdikp_cli.data.images import to_float


class ImageCache(Protocol):
    def get(self, path: Path) -> np.ndarray: ...


class InFocusCropSource:
    """Shape: crop_pair -> (x, x), both (crop, crop, 3) float32 in [0, 1] and equal.

    `images`: photos at least one crop in size (build_sources checks); `skipped`: how many were
    smaller (reported by describe)."""

    def __init__(self, images: list[Path], cache: ImageCache, scale_range: tuple[float, float] = (1.0, 1.0),
                 skipped: int = 0) -> None:
        self.scale_range = checked_scale_range(scale_range, "sharp-photo")
        self.name = "sharp"
        self.images = images
        self.skipped = skipped
        self.cache = cache

    def __len__(self) -> int:
        return len(self.images)

    def crop_pair(self, index: int, crop_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        window = to_float(random_scaled_window(self.cache.get(self.images[index]), crop_size, self.scale_range, rng))
        window = np.ascontiguousarray(window, dtype=np.float32)
        return window, window.copy()

    def describe(self) -> str:
        return f"sharp (in-focus identity pairs): {len(self)} photos{window_notes(self.scale_range, self.skipped)}"
