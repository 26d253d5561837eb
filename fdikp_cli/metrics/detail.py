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

import torch

from fdikp_cli.lowpass import gaussian_lowpass
from fdikp_cli.metrics._checks import check_pair
from fdikp_cli.metrics.psnr import psnr


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
