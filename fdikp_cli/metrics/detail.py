"""Detail PSNR: the part of a restoration's PSNR that comes from detail, not from tone.

Defocus blur leaves a photo's content at scales much coarser than the blur unchanged (a PSF has
unit DC gain), so deblurring should change detail and leave coarse tones alone. Real pairs also
differ in exposure and colour between the two captures, and a model trained on them can gain
PSNR by correcting that: a gain that is not deblurring, and that costs PSNR on other cameras.
`detail_psnr` replaces the restoration's Gaussian low-pass (sigma px) by the blurred input's
before scoring, so only the detail the model changed counts (benchmarks/gain_bands reports the
same at several sigmas).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fdikp_cli.metrics._checks import check_pair
from fdikp_cli.metrics.psnr import psnr


def gaussian_lowpass(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius 3 sigma) with reflected borders, in the input's dtype.

    Shape: (B, C, H, W) -> (B, C, H, W). The radius is cut to fit images smaller than 6 sigma.
    """
    b, c, h, w = image.shape
    radius = max(1, min(int(math.ceil(3.0 * sigma)), h - 1, w - 1))
    taps = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    flat = image.reshape(b * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return flat.reshape(b, c, h, w)


def detail_psnr(restored: torch.Tensor, blurred: torch.Tensor, target: torch.Tensor, sigma: float = 8.0,
                *, data_range: float = 1.0) -> torch.Tensor:
    """PSNR of the restoration with its low-pass (sigma px) locked to the blurred input's.

    Shape: restored, blurred, target (B, C, H, W) in [0, data_range] -> (B,). For the blurred
    input itself this is its ordinary PSNR; a model that only shifts tones scores no gain.
    """
    check_pair(restored, target, "detail_psnr")
    check_pair(blurred, target, "detail_psnr")
    locked = restored - gaussian_lowpass(restored, sigma) + gaussian_lowpass(blurred, sigma)
    return psnr(locked.clamp(0.0, data_range), target, data_range=data_range)
