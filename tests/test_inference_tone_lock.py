"""Tone lock: coarse tones from the input, detail from the model; the fast low-pass is accurate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fdikp_cli.inference import restore
from fdikp_cli.inference.tone_lock import lock_tone
from fdikp_cli.lowpass import gaussian_lowpass, pyramid_lowpass


def scene(seed: int, size: tuple[int, int] = (200, 260)) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    noise = rng.random((*size, 3)).astype(np.float32)
    image = 0.5 * cv2.GaussianBlur(noise, (0, 0), 1.5) + 0.5 * cv2.GaussianBlur(noise, (0, 0), 20.0)
    image = (image - image.min()) / (image.max() - image.min()) * 0.6 + 0.2
    return torch.from_numpy(image.transpose(2, 0, 1).copy())[None]  # (1, 3, H, W)


@pytest.mark.parametrize("sigma", [8.0, 32.0])
def test_pyramid_lowpass_is_within_a_fraction_of_an_8bit_level_of_the_exact_one(sigma):
    image = scene(0)
    error = (pyramid_lowpass(image, sigma) - gaussian_lowpass(image.double(), sigma).float()).abs()
    assert float(error.max()) < 0.25 / 255


def test_lock_keeps_added_detail_and_removes_a_tone_change():
    blurred = scene(1)
    detail = 1.5 * (scene(2) - gaussian_lowpass(scene(2), 2.0))  # fine structure only
    ramp = torch.linspace(0.0, 0.05, blurred.shape[-1]).view(1, 1, 1, -1)  # a smooth exposure change
    brighter = blurred + detail + 0.02 + ramp  # a "model" that adds detail and brightens
    locked = lock_tone(brighter.clamp(0, 1), blurred)
    inner = (..., slice(40, -40), slice(40, -40))  # away from the reflected borders
    # Coarse tones: back to the input's.
    coarse = (gaussian_lowpass(locked, 32.0) - gaussian_lowpass(blurred, 32.0))[inner]
    assert float(coarse.abs().mean()) < 0.5 / 255
    # Detail: what the model added survives.
    kept = (locked - blurred)[inner]
    assert float((kept - detail[inner]).abs().max()) < 0.5 / 255
    assert float(detail[inner].abs().max()) > 20 / 255


def test_restore_applies_the_lock_only_when_asked():
    def brighten(x: torch.Tensor) -> torch.Tensor:  # a model that only changes exposure
        return (x + 0.04).clamp(0, 1)

    blurred = scene(3, (96, 128))
    raw = restore(brighten, blurred)
    locked = restore(brighten, blurred, tone_lock=32.0)
    assert float((raw - blurred).mean()) > 0.035
    assert float((locked - blurred).abs().max()) < 0.5 / 255


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (3, 5)])
def test_lock_and_lowpass_take_images_of_any_size(shape):
    image = torch.rand(1, 3, *shape)
    assert gaussian_lowpass(image, 32.0).shape == image.shape
    # A constant image is its own low-pass on every axis, also where there is nothing to blur.
    constant = torch.full((1, 3, *shape), 0.3)
    assert torch.allclose(pyramid_lowpass(constant, 32.0), constant)
    assert torch.allclose(lock_tone(image, image), image, atol=1e-6)
