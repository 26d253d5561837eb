"""Defocus PSFs learnt from real pairs: the kernel bank of the defocus-map estimator as the
synthetic engine's lens (spec §7.2, "re-synthesis augmentation").

The engine's own PSFs are parametric shapes drawn at random per pair (discs, polygons, cat's
eyes, rims, cores), a wide family meant to cover unknown lenses. The bank of a trained
defocus-map weights file (`fdikp train-defocus-map`) holds one kernel per integer radius fitted
so that reblurring the sharp DPDD captures reproduces the blurred ones, in the engine's own radius
unit (the estimator is supervised with the engine's radius maps). Rendering synthetic pairs with
it gives FDIKP in-domain training pairs whose blur has the shape of the real camera's, while
layout, occlusion, linear light, noise and compression stay the engine's.

`LearnedPsf` is a `PsfSource` (fdikp_cli.synth.render): kernel(r) is linear between the two
neighbouring integer radii, as the reblur operator reads the bank, and every kernel is applied
at full resolution (the bank is 61 px wide at most).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fdikp_cli.synth.psf import pad_kernel
from fdikp_cli.synth.render import convolve_kernel


@dataclass(frozen=True)
class LearnedPsf:
    """Kernels for integer radii 0..R. kernels[i]: (2h_i+1, 2h_i+1) float32, >= 0, sums to 1."""

    kernels: tuple[np.ndarray, ...]

    @classmethod
    def from_bank(cls, bank: "object") -> "LearnedPsf":
        """From a `fdikp_cli.defocus.KernelBank` (any device; copied to float32 numpy)."""
        import torch

        with torch.no_grad():
            kernels = tuple(bank.kernel(r).detach().float().cpu().numpy().astype(np.float32)
                            for r in range(bank.max_radius + 1))
        return cls(kernels)

    @property
    def max_radius(self) -> int:
        return len(self.kernels) - 1

    def reach(self, radius: float) -> int:
        """Half the side of kernel(radius)."""
        upper = min(self.max_radius, math.ceil(max(radius, 0.0)))
        return self.kernels[upper].shape[0] // 2

    def kernel(self, radius: float) -> np.ndarray:
        """The kernel of a (fractional) radius, clamped to [0, R]. Shape: -> (2h+1, 2h+1)."""
        r = min(max(float(radius), 0.0), float(self.max_radius))
        low = min(int(math.floor(r)), self.max_radius - 1) if self.max_radius > 0 else 0
        frac = r - low
        if frac == 0.0 or self.max_radius == 0:
            return self.kernels[low].copy()
        below, above = self.kernels[low], self.kernels[low + 1]
        size = max(below.shape[0], above.shape[0])
        return ((1.0 - frac) * pad_kernel(below, size) + frac * pad_kernel(above, size)).astype(np.float32)

    def convolve(self, image: np.ndarray, radius: float) -> np.ndarray:
        """`image` (H, W, C) scattered by kernel(radius) (a convolution, reflected borders)."""
        return image if radius < 0.25 else convolve_kernel(image, self.kernel(radius))


@functools.lru_cache(maxsize=4)
def learned_psf(weights_path: str) -> LearnedPsf:
    """The bank of a defocus-map weights file, loaded once per process (data workers included)."""
    from fdikp_cli.defocus.weights import load_defocus_weights

    return LearnedPsf.from_bank(load_defocus_weights(Path(weights_path).expanduser()).bank)
