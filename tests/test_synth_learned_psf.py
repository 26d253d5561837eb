"""The synthetic engine with kernels learnt from real pairs (the defocus-map weights' bank)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig
from fdikp_cli.defocus.weights import save_defocus_weights
from fdikp_cli.synth import SynthConfig, synthesize_pair
from fdikp_cli.synth.engine import synthesize_pair_with_layers
from fdikp_cli.synth.srgb import linear_to_srgb, srgb_to_linear
from fdikp_cli.synth.learned_psf import LearnedPsf, learned_psf
from fdikp_cli.synth.render import BlurLayer, radius_levels, render_layers


def _bank(max_radius: int = 8, seed: int = 0) -> KernelBank:
    """A bank moved away from its Butterworth start (random log-taps), as training leaves it."""
    torch.manual_seed(seed)
    bank = KernelBank(KernelBankConfig(max_radius=max_radius))
    with torch.no_grad():
        for logits in bank.logits:
            logits.add_(0.5 * torch.randn_like(logits))
    return bank


def _texture(size: int = 96, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 0.9, (size, size, 3)).astype(np.float32)


def test_kernels_are_the_banks_at_integer_radii_and_linear_between() -> None:
    bank = _bank()
    psf = LearnedPsf.from_bank(bank)
    np.testing.assert_allclose(psf.kernel(3.0), bank.kernel(3).detach().numpy(), atol=1e-7)
    k2, k3 = psf.kernel(2.0), psf.kernel(3.0)
    pad = (k3.shape[0] - k2.shape[0]) // 2
    np.testing.assert_allclose(psf.kernel(2.25), 0.75 * np.pad(k2, pad) + 0.25 * k3, atol=1e-7)
    for radius in (0.0, 0.6, 4.5, 8.0, 30.0):  # 30: clamped to the bank's 8
        kernel = psf.kernel(radius)
        assert kernel.min() >= 0.0 and kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert psf.reach(30.0) == psf.reach(8.0) == bank.half_width(8)


def test_a_uniform_layer_is_the_convolution_with_the_learnt_kernel() -> None:
    bank = _bank(seed=2)
    psf = LearnedPsf.from_bank(bank)
    image = _texture()
    # The engine renders a table of radius levels, mixing the two around any other radius.
    radius = float(radius_levels(8.0)[8])  # ~4.6 px
    out = render_layers(image, [BlurLayer(np.ones((96, 96), np.float32), np.full((96, 96), radius, np.float32))], psf)
    # Independent reference: torch's convolution (a correlation: flip the kernel) of the interior.
    kernel = torch.from_numpy(psf.kernel(radius)).flip(0, 1)[None, None].repeat(3, 1, 1, 1)
    reference = F.conv2d(torch.from_numpy(image).permute(2, 0, 1)[None], kernel, groups=3)[0].permute(1, 2, 0).numpy()
    h = kernel.shape[-1] // 2
    np.testing.assert_allclose(out[h:-h, h:-h], reference, atol=1e-5)


def test_the_engine_renders_with_the_bank_of_a_weights_file(tmp_path: Path) -> None:
    bank = _bank(seed=3)
    path = save_defocus_weights(DefocusMapNet(EstimatorConfig(widths=(4, 8), max_radius=8.0)), bank,
                                tmp_path / "map.safetensors")
    quiet = dict(max_radius=8.0, noise_prob=0.0, jpeg_prob=0.0, highlight_prob=0.0, tone_power_range=(1.0, 1.0))
    image = _texture(128, seed=4)
    radius = float(radius_levels(8.0)[8])
    layer = [BlurLayer(np.ones((128, 128), np.float32), np.full((128, 128), radius, np.float32))]
    learnt = synthesize_pair_with_layers(image, layer, 7, SynthConfig(**quiet, kernel_bank=str(path)))
    parametric = synthesize_pair_with_layers(image, layer, 7, SynthConfig(**quiet))
    assert np.abs(learnt.blurred - parametric.blurred).mean() > 1e-3  # another lens
    # Reference: the bank's kernel applied in linear light by torch, back to sRGB.
    kernel = torch.from_numpy(LearnedPsf.from_bank(bank).kernel(radius)).flip(0, 1)[None, None].repeat(3, 1, 1, 1)
    linear = torch.from_numpy(srgb_to_linear(image)).permute(2, 0, 1)[None]
    reference = linear_to_srgb(F.conv2d(linear, kernel, groups=3)[0].permute(1, 2, 0).numpy())
    h = kernel.shape[-1] // 2
    np.testing.assert_allclose(learnt.blurred[h:-h, h:-h], reference, atol=2e-5)
    assert learned_psf(str(path)).max_radius == 8
    # And through synthesize_pair's random layouts too (no occluder: one smooth depth surface).
    pair = synthesize_pair(image, 3, SynthConfig(**quiet, max_occluders=0, kernel_bank=str(path)))
    assert pair.blurred.shape == image.shape and float(pair.radius.max()) <= 8.0
