"""Sensor noise and JPEG after the blur, matched to the noise already in the sharp target.

A defocused photo is blurred light recorded by the same noisy sensor, so the blurred input
must carry fresh noise: blurring removes the noise the sharp photo had, and a model trained
without it learns to sharpen noise. Noise is added in linear light as photon (Poisson-like,
variance proportional to the signal) plus read noise (constant variance).
"""

from __future__ import annotations

import cv2
import numpy as np

# Immerkaer's mask: zero response to any locally linear image, so on a smooth region it sees only noise.
_NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
# Slope of the sRGB curve at linear 0.18 (mid grey): converts noise std between the two spaces.
_MID_GREY = 0.18
_SRGB_SLOPE_AT_MID_GREY = 1.055 / 2.4 * _MID_GREY ** (1.0 / 2.4 - 1.0)


def estimate_noise_sigma(encoded: np.ndarray, flat_fraction: float = 0.3) -> float:
    """Noise standard deviation of an image in its own units (Immerkaer 1996, on flat areas).

    Texture also answers the mask, so only the `flat_fraction` of 8x8 blocks with the weakest
    response is averaged: those are the regions where the response is mostly noise.
    Shape: (H, W, 3) or (H, W) -> float.
    """
    gray = encoded.mean(axis=2) if encoded.ndim == 3 else encoded
    gray = np.ascontiguousarray(gray, dtype=np.float32)
    response = np.abs(cv2.filter2D(gray, -1, _NOISE_MASK, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    block = 8
    h, w = (response.shape[0] // block) * block, (response.shape[1] // block) * block
    if h == 0 or w == 0:
        return 0.0
    blocks = response[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3)).ravel()
    count = max(1, int(len(blocks) * flat_fraction))
    flat = np.partition(blocks, count - 1)[:count]
    return float(np.sqrt(np.pi / 2.0) / 6.0 * flat.mean())


def add_sensor_noise(
    linear: np.ndarray, sigma_encoded: float, shot_share: float, rng: np.random.Generator
) -> np.ndarray:
    """Photon + read noise in linear light whose std at mid grey, seen in sRGB units, is `sigma_encoded`.

    shot_share: fraction of the variance at mid grey that is photon noise (the rest is read noise).
    Shape: (H, W, 3) -> (H, W, 3) float32, clipped to [0, 1] (the sensor saturates).
    """
    if sigma_encoded <= 0.0:
        return np.clip(linear, 0.0, 1.0).astype(np.float32)
    sigma_linear = sigma_encoded / _SRGB_SLOPE_AT_MID_GREY
    variance = sigma_linear**2
    shot_gain = shot_share * variance / _MID_GREY
    read_variance = (1.0 - shot_share) * variance
    signal = np.clip(linear, 0.0, 1.0)
    std = np.sqrt(shot_gain * signal + read_variance)
    noisy = signal + std * rng.standard_normal(signal.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def unsharp_mask(encoded: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """Unsharp mask: encoded + amount * (encoded - Gaussian(encoded)), clipped.

    A camera's output sharpening (SynthConfig.sharpen_prob; off by default, see there). Shape: (H, W, 3) -> (H, W, 3) float32 in [0, 1].
    """
    if amount <= 0.0:
        return encoded
    smooth = cv2.GaussianBlur(encoded, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return np.clip(encoded + amount * (encoded - smooth), 0.0, 1.0).astype(np.float32)


def jpeg_roundtrip(encoded: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress with JPEG at `quality`. Shape: (H, W, 3) RGB in [0, 1] -> same."""
    bgr = (np.clip(encoded, 0.0, 1.0)[..., ::-1] * 255.0 + 0.5).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        return encoded
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return (decoded[..., ::-1].astype(np.float32) / 255.0).copy()
