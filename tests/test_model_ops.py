"""PAC and inverse-kernel construction against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fdikp_cli.model.frequency import kernel_from_spectrum
from fdikp_cli.model.kernel_predictor import FrequencyKernelPredictor
from fdikp_cli.model.pac import fixed_dilation_conv, position_adaptive_conv


def _bilinear_reflect(img: np.ndarray, y: float, x: float) -> float:
    """Sample img (H, W) at real coordinates with reflection about the border pixel centres."""
    h, w = img.shape

    def reflect(v: float, n: int) -> float:
        if n == 1:
            return 0.0
        period = 2 * (n - 1)
        v = abs(v) % period
        return period - v if v > n - 1 else v

    y, x = reflect(y, h), reflect(x, w)
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    fy, fx = y - y0, x - x0
    return (
        img[y0, x0] * (1 - fy) * (1 - fx)
        + img[y0, x1] * (1 - fy) * fx
        + img[y1, x0] * fy * (1 - fx)
        + img[y1, x1] * fy * fx
    )


def brute_force_pac(image: np.ndarray, kernels: np.ndarray, dilation: np.ndarray) -> np.ndarray:
    """Per-pixel, per-tap loop of F_n(p) = sum_i k_n,i x(p + Delta p_i D(p)). (C,H,W),(N,K,K),(H,W)."""
    c, h, w = image.shape
    n, k, _ = kernels.shape
    r = k // 2
    out = np.zeros((n, c, h, w))
    for py in range(h):
        for px in range(w):
            d = dilation[py, px]
            for ki in range(n):
                for ty in range(k):
                    for tx in range(k):
                        for ch in range(c):
                            out[ki, ch, py, px] += kernels[ki, ty, tx] * _bilinear_reflect(
                                image[ch], py + (ty - r) * d, px + (tx - r) * d
                            )
    return out.reshape(n * c, h, w)


def test_pac_matches_brute_force_with_fractional_dilation() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((3, 9, 12))
    kernels = rng.normal(size=(2, 3, 3))
    dilation = 1.0 + 1.7 * rng.random((9, 12))  # fractional: bilinear taps, some reflected
    ours = position_adaptive_conv(
        torch.from_numpy(image)[None], torch.from_numpy(kernels)[None], torch.from_numpy(dilation)[None, None]
    )[0].numpy()
    np.testing.assert_allclose(ours, brute_force_pac(image, kernels, dilation), atol=1e-10)


def test_pac_with_unit_dilation_is_an_ordinary_convolution() -> None:
    torch.manual_seed(0)
    image = torch.rand(2, 3, 10, 13, dtype=torch.float64)
    kernels = torch.randn(2, 5, 5, 5, dtype=torch.float64)
    expected = torch.stack(
        [
            torch.cat(
                [
                    F.conv2d(F.pad(image[b : b + 1, c : c + 1], (2, 2, 2, 2), mode="reflect"), kernels[b, n][None, None])
                    for n in range(5)
                    for c in range(3)
                ],
                dim=1,
            )[0]
            for b in range(2)
        ]
    )
    pac = position_adaptive_conv(image, kernels, torch.ones(2, 1, 10, 13, dtype=torch.float64))
    torch.testing.assert_close(pac, expected)
    torch.testing.assert_close(fixed_dilation_conv(image, kernels), expected)


@pytest.mark.parametrize("k", [3, 5, 7])
def test_kernel_from_spectrum_matches_numpy_ifft(k: int) -> None:
    rng = np.random.default_rng(k)
    amplitude = rng.random((2, k, k)) + 0.1
    phase = rng.uniform(-np.pi, np.pi, (2, k, k))
    # numpy reference: centred spectrum -> ifftshift -> ifft2 -> real -> centre the origin.
    reference = np.fft.fftshift(
        np.fft.ifft2(np.fft.ifftshift(amplitude * np.exp(1j * phase), axes=(-2, -1))).real, axes=(-2, -1)
    )
    ours = kernel_from_spectrum(torch.from_numpy(amplitude), torch.from_numpy(phase)).numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_flat_amplitude_and_zero_phase_give_a_delta_kernel() -> None:
    k = 5
    kernel = kernel_from_spectrum(torch.full((k, k), 1.0 / k**2), torch.zeros(k, k))
    expected = torch.zeros(k, k)
    expected[k // 2, k // 2] = 1.0 / k**2
    torch.testing.assert_close(kernel, expected)


def test_fresh_frequency_predictor_returns_unit_delta_kernels() -> None:
    predictor = FrequencyKernelPredictor(channels=8, pool=8, kernels=5, kernel_size=5)
    kernels = predictor(torch.rand(2, 3, 32, 40))
    delta = torch.zeros(5, 5)
    delta[2, 2] = 1.0
    torch.testing.assert_close(kernels, delta.expand(2, 5, 5, 5), atol=0.02, rtol=0)
