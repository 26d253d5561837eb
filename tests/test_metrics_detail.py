"""Detail PSNR against an independent OpenCV reference, and what it must ignore."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fdikp_cli.lowpass import gaussian_lowpass
from fdikp_cli.metrics import detail_psnr, psnr


def scene(seed: int, size: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.random((size, size, 3)).astype(np.float64)
    image = cv2.GaussianBlur(noise, (0, 0), 1.0) * 0.6 + cv2.GaussianBlur(noise, (0, 0), 5.0) * 0.4
    return np.clip((image - image.min()) / (image.max() - image.min()) * 0.7 + 0.15, 0, 1)


def tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.transpose(2, 0, 1).copy())[None]  # (1, 3, H, W) float64


@pytest.mark.parametrize("sigma", [2.0, 8.0])
def test_lowpass_matches_opencv_gaussian_with_reflected_border(sigma):
    image = scene(0)
    radius = int(np.ceil(3 * sigma))
    expected = cv2.GaussianBlur(image, (2 * radius + 1, 2 * radius + 1), sigma, borderType=cv2.BORDER_REFLECT_101)
    ours = gaussian_lowpass(tensor(image), sigma)[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_detail_psnr_matches_a_numpy_reference():
    target, blurred = scene(1), cv2.GaussianBlur(scene(1), (0, 0), 2.0)
    restored = np.clip(target + 0.02 * (scene(2) - 0.5) + 0.03, 0, 1)
    k = (49, 49)
    locked = restored - cv2.GaussianBlur(restored, k, 8.0, borderType=cv2.BORDER_REFLECT_101) \
        + cv2.GaussianBlur(blurred, k, 8.0, borderType=cv2.BORDER_REFLECT_101)
    expected = 10 * np.log10(1.0 / np.mean((np.clip(locked, 0, 1) - target) ** 2))
    ours = float(detail_psnr(tensor(restored), tensor(blurred), tensor(target), 8.0)[0])
    assert ours == pytest.approx(expected, abs=1e-6)


def test_tone_change_earns_psnr_but_no_detail_psnr():
    target = scene(3)
    blurred = cv2.GaussianBlur(target, (0, 0), 1.0) - 0.04  # blurred and darker
    brightened = blurred + 0.04  # a "model" that only fixes exposure
    b, t, o = tensor(blurred), tensor(target), tensor(brightened)
    assert float(psnr(o, t)[0]) > float(psnr(b, t)[0]) + 2.0
    assert float(detail_psnr(o, b, t)[0]) == pytest.approx(float(psnr(b, t)[0]), abs=1e-6)
    # Restoring the detail itself does count.
    assert float(detail_psnr(t, b, t)[0]) > float(psnr(b, t)[0]) + 2.0
