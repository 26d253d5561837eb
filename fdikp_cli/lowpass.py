"""Gaussian low-pass of image tensors: the "coarse tones" of a photo, shared by the detail
metric (fdikp_cli.metrics.detail) and the tone lock of inference (fdikp_cli.inference.tone_lock)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_lowpass(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius 3 sigma) with reflected borders, in the input's dtype.

    Shape: (B, C, H, W) -> (B, C, H, W). The radius is cut to fit images smaller than 6 sigma.
    Exact (OpenCV's GaussianBlur with BORDER_REFLECT_101 to float precision); its cost grows
    with sigma, see `pyramid_lowpass` for large sigmas on large images.
    """
    b, c, h, w = image.shape
    flat = image.reshape(b * c, 1, h, w)
    for axis, side in ((3, w), (2, h)):
        radius = min(int(math.ceil(3.0 * sigma)), side - 1)  # 0 on a 1-px side: nothing to blur there
        if radius < 1:
            continue
        taps = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
        kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
        kernel = kernel / kernel.sum()
        if axis == 3:
            flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
        else:
            flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return flat.reshape(b, c, h, w)


def pyramid_lowpass(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """`gaussian_lowpass` for large sigma at a fraction of the cost: area-average down by
    f = sigma // 4, blur with sigma / f, and upsample bilinearly. A Gaussian of sigma >= 8 px has
    no content near the reduced grid's Nyquist frequency, so the result differs from the exact
    one by far less than one 8-bit level (checked in tests/test_inference_tone_lock.py).

    Shape: (B, C, H, W) -> (B, C, H, W).
    """
    factor = int(sigma // 4)
    h, w = image.shape[-2:]
    if factor < 2 or min(h, w) < 4 * factor:
        return gaussian_lowpass(image, sigma)
    # Reflect-pad at full resolution as the exact filter does, so that the reduced grid's own
    # border handling falls outside the image.
    pad = min(int(math.ceil(3.0 * sigma)), h - 1, w - 1)
    padded = F.pad(image, (pad, pad, pad, pad), mode="reflect")
    small = F.avg_pool2d(padded, factor, ceil_mode=True, count_include_pad=False)
    small = gaussian_lowpass(small, sigma / factor)
    # Pool cell i covers pixels [i f, (i + 1) f): its centre is at i f + (f - 1) / 2, which is
    # where bilinear upsampling by exactly f (align_corners=False) puts it.
    big = F.interpolate(small, scale_factor=factor, mode="bilinear", align_corners=False)
    return big[..., pad : pad + h, pad : pad + w]
