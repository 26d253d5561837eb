"""Tone lock: the restored photo keeps the input's coarse tones and colour, exactly.

Defocus blur moves light around by at most the blur radius (tens of pixels); it does not change
a photo's exposure, white balance or tones at larger scales. A model trained on real pairs can
still learn to change them, because real pairs are two captures whose exposure differs (the
DPDD blurred captures are ~3.8/255 darker than the sharp ones): the shipped round-2 weights
brightened every photo by ~2/255, which scored +0.26 dB on DPDD's own camera and lost 0.16 dB
on another camera. Deblurring should leave those scales alone, so after the model runs:

    output = restored - lowpass(restored, sigma) + lowpass(input, sigma)

With sigma = 32 px the lock acts on structures of ~100 px and more (the Gaussian's transfer is
below 1 % beyond 1/60 c/px), well above DPDD's blur radii (97 % of textured patches under 24 px),
so restored detail passes untouched.
"""

from __future__ import annotations

import torch

from fdikp_cli.lowpass import pyramid_lowpass

DEFAULT_TONE_LOCK_SIGMA = 32.0


def lock_tone(restored: torch.Tensor, blurred: torch.Tensor, sigma: float = DEFAULT_TONE_LOCK_SIGMA) -> torch.Tensor:
    """The restoration with its low-pass (sigma px) replaced by the blurred input's, clamped to [0, 1].

    Shape: restored, blurred (B, 3, H, W) float in [0, 1] -> (B, 3, H, W) float32.
    """
    if restored.shape != blurred.shape:
        raise ValueError(f"lock_tone: shapes differ: {tuple(restored.shape)} vs {tuple(blurred.shape)}")
    if sigma <= 0:
        raise ValueError(f"lock_tone: sigma must be positive, got {sigma}")
    restored, blurred = restored.float(), blurred.float()
    return (restored - pyramid_lowpass(restored, sigma) + pyramid_lowpass(blurred, sigma)).clamp_(0.0, 1.0)
