"""Inverse-disc bank: wide linear deconvolutions of each stage input, read by a small head.

Why (issue 23, `benchmarks/part_ablation.py`): most of what FDIKP restores passes through its
inverse kernels, but five 5x5 kernels per image, spread at most 8 px apart by PAC, cannot invert a
10 px disc; on the same crops a per-block linear oracle gains +0.64 dB at 9x9 taps, +0.94 at 17x17
and +1.08 at 25x25. The bank gives each stage M learnt kernels of S x S taps (47 by default, 3-63),
started as regularised (Wiener) inverses of discs of radii r_1 .. r_M stage px, applied to the stage
input through one shared spectrum. The head reads what each does to the input, and the guidance radius
where there is one, and adds its output to the stage's:

    y_s += Conv3x3(ReLU(Conv3x3([K_m * x_s - x_s]_m, r_s / 8)))      last conv zero-initialised

so a model built from weights that predate the bank behaves exactly as before, and training moves
it. Which kernel suits which pixel is the head's to learn: a blend chosen by the estimator's radius
alone lost 1.8 dB on val (`docs/experiments.md`, the Wiener probe), the estimator being too coarse
for a linear inverse. The FFTs run in float32 whatever the autocast dtype (bf16 FFTs are neither
supported on CPU nor accurate enough for a 63 x 63 inverse).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fdikp_cli.defocus.fft_conv import SharedSpectrum
from fdikp_cli.model.blur_guidance import RADIUS_SCALE
from fdikp_cli.synth.psf import psf_kernel

# Noise-to-signal ratio of the initial inverses. On a test card of sharp-edged squares, 1e-2 gains
# more at one radius and loses at another (the crop cuts its long ringing); 3e-2 gains at each
# (`tests/test_inverse_bank.py` checks one radius).
WIENER_REGULARISATION = 3e-2
HEAD_CHANNELS = 32


def wiener_inverse_disc(radius: float, size: int, regularisation: float = WIENER_REGULARISATION) -> np.ndarray:
    """The zero-phase regularised inverse of the disc of `radius` px, cropped to size x size, sum 1.

    conj(H) / (|H|^2 + λ) on a grid four times the kernel's width (so the crop, not the grid's
    period, limits it). What the crop cuts off changes the DC gain; the centre tap takes the
    difference, so flat areas stay flat (dividing by the sum instead blows up where it nears 0).
    Shape: -> (size, size) float32, size odd.
    """
    if size % 2 == 0 or size < 1:
        raise ValueError(f"size must be a positive odd number, got {size}")
    disc = psf_kernel(radius).astype(np.float64)
    grid = max(4 * size, 2 * disc.shape[0])
    padded = np.zeros((grid, grid))
    half = disc.shape[0] // 2
    padded[:disc.shape[0], :disc.shape[0]] = disc
    padded = np.roll(padded, (-half, -half), axis=(0, 1))  # centre at (0, 0): a real spectrum
    spectrum = np.fft.rfft2(padded)
    inverse = np.fft.irfft2(np.conj(spectrum) / (np.abs(spectrum) ** 2 + regularisation), s=(grid, grid))
    inverse = np.roll(inverse, (size // 2, size // 2), axis=(0, 1))[:size, :size]
    inverse[size // 2, size // 2] += 1.0 - inverse.sum()
    return inverse.astype(np.float32)


class InverseDiscBank(nn.Module):
    """M wide learnt deconvolutions of a stage input and the head that turns them into a correction.

    Shape: x (B, 3, h, w), radius (B, 1, h, w) stage px or None -> correction (B, 3, h, w).
    """

    def __init__(self, radii: tuple[float, ...], size: int, guided: bool) -> None:
        super().__init__()
        if not radii:
            raise ValueError("the bank needs at least one radius")
        self.kernels = nn.Parameter(torch.from_numpy(np.stack([wiener_inverse_disc(r, size) for r in radii])))
        self.guided = guided
        self.read = nn.Conv2d(3 * len(radii) + int(guided), HEAD_CHANNELS, 3, padding=1)
        self.to_image = nn.Conv2d(HEAD_CHANNELS, 3, 3, padding=1)
        nn.init.zeros_(self.to_image.weight)
        nn.init.zeros_(self.to_image.bias)

    def deconvolve(self, x: torch.Tensor) -> torch.Tensor:
        """Each kernel applied to x, reflected borders, float32. (B, 3, h, w) -> (B, M, 3, h, w)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            spectrum = SharedSpectrum(x.float(), self.kernels.shape[-1] // 2)
            return spectrum.blur_stack(self.kernels.float())

    def forward(self, x: torch.Tensor, radius: torch.Tensor | None = None) -> torch.Tensor:
        if self.guided and radius is None:
            raise ValueError("this bank was built to read the guidance radius; none was given")
        change = (self.deconvolve(x) - x.float()[:, None]).flatten(1, 2).to(x.dtype)  # (B, 3M, h, w)
        if self.guided:
            change = torch.cat([change, (radius / RADIUS_SCALE).to(x.dtype)], dim=1)  # type: ignore[operator]
        return self.to_image(torch.relu(self.read(change)))  # (B, 3, h, w)
