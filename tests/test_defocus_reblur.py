"""The learnable kernel bank, the reblur operator and radius-map fitting (fdikp_cli.defocus)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fdikp_cli.defocus import FitConfig, KernelBank, KernelBankConfig, best_single_radius, fit_radius_map, reblur
from fdikp_cli.defocus.fft_conv import SharedSpectrum, reflect_pad
from fdikp_cli.defocus.kernel_bank import butterworth_disc, effective_radius
from fdikp_cli.defocus.reblur import blend, blur_stack, needed_radii

# Kernel widths for radii 0..24 listed by the spec (§2.2), i.e. the released code's.
SPEC_WIDTHS = [1, 3, 7, 9, 11, 13, 15, 17, 19, 23, 25, 27, 29, 31, 33, 35, 39, 41, 43, 45, 47, 49, 51, 55, 57]


def textured_scene(height: int, width: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """Colour noise summed over scales 1..16 px (detail at every frequency), with one flat
    rectangle where no blur can be measured. Shape: -> (1, 3, H, W) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    scene = torch.zeros(1, 3, height, width, dtype=torch.float64)
    for step in (1, 2, 4, 8, 16):
        noise = torch.rand(1, 3, height // step + 2, width // step + 2, generator=generator, dtype=torch.float64)
        scene += F.interpolate(noise, size=(height + 2 * step, width + 2 * step), mode="bilinear",
                               align_corners=False)[..., step : step + height, step : step + width]
    scene = (scene - scene.amin()) / (scene.amax() - scene.amin())
    scene[..., 10:40, 20:60] = 0.5
    return scene.to(dtype)


def textured_mask(sharp: torch.Tensor, margin: int = 12) -> torch.Tensor:
    """Pixels whose 7x7 neighbourhood has detail (grey std > 0.02), away from the border.
    Shape: (1, 3, H, W) -> (1, 1, H, W) bool."""
    grey = sharp.double().mean(1, keepdim=True)
    mean = F.avg_pool2d(grey, 7, stride=1, padding=3, count_include_pad=False)
    var = F.avg_pool2d(grey**2, 7, stride=1, padding=3, count_include_pad=False) - mean**2
    mask = var.clamp(min=0).sqrt() > 0.02
    mask[..., :margin, :] = mask[..., -margin:, :] = False
    mask[..., :, :margin] = mask[..., :, -margin:] = False
    return mask


def uniform_disc(radius: float, supersample: int = 8) -> torch.Tensor:
    """A uniform disc PSF (pixel coverage), independent of the bank. Shape: -> (W, W), sum 1."""
    half = int(radius) + 1
    steps = (torch.arange(-half * supersample, (half + 1) * supersample, dtype=torch.float64) + 0.5) / supersample - 0.5
    yy, xx = torch.meshgrid(steps, steps, indexing="ij")
    inside = ((xx**2 + yy**2) <= radius * radius).double()
    kernel = inside.reshape(2 * half + 1, supersample, 2 * half + 1, supersample).mean((1, 3))
    return kernel / kernel.sum()


def convolve(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Direct convolution with reflected borders (the reference). Shape: (B, C, H, W) -> same."""
    b, c, h, w = image.shape
    half = kernel.shape[-1] // 2
    flat = reflect_pad(image.reshape(b * c, 1, h, w), half, half, half, half)
    out = F.conv2d(flat, kernel.flip(-2, -1).to(image.dtype)[None, None])  # conv2d correlates: flip
    return out.reshape(b, c, h, w)


@pytest.fixture(scope="module")
def bank64() -> KernelBank:
    return KernelBank(dtype=torch.float64)


@pytest.fixture(scope="module")
def bank32() -> KernelBank:
    return KernelBank()


# --- kernel bank -----------------------------------------------------------------------------


def test_support_calibration_reproduces_the_spec_kernels():
    config = KernelBankConfig(calibration="support")
    widths = [butterworth_disc(i, config).shape[-1] for i in range(25)]
    assert widths == SPEC_WIDTHS
    for i in (5, 10, 24):
        kernel = butterworth_disc(i, config)
        centre = kernel[kernel.shape[0] // 2, kernel.shape[1] // 2]
        assert 0.14 < float(centre / kernel.max()) < 0.19  # spec: a doughnut, centre 15-18 % of the peak
        assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)


def test_moment_calibration_blurs_like_a_uniform_disc_of_the_same_radius(bank64):
    assert bank64.max_radius >= 30
    for i in range(2, bank64.max_radius + 1):
        assert effective_radius(bank64.kernel(i)) == pytest.approx(i, abs=0.12)
    assert effective_radius(uniform_disc(9.0)) == pytest.approx(9.0, abs=0.05)  # the yardstick itself
    assert torch.equal(bank64.kernel(0), torch.ones(1, 1, dtype=torch.float64))


@pytest.mark.parametrize("point_symmetric", [True, False])
def test_kernels_stay_non_negative_and_normalised_after_optimizer_steps(point_symmetric):
    bank = KernelBank(KernelBankConfig(max_radius=6, point_symmetric=point_symmetric), dtype=torch.float64)
    before = [bank.kernel(i).detach().clone() for i in range(7)]
    optimizer = torch.optim.Adam(bank.parameters(), lr=0.5)
    generator = torch.Generator().manual_seed(1)
    for _ in range(8):
        optimizer.zero_grad()
        # A loss that pushes taps in random directions, hard: many would go negative if free.
        loss = sum((bank.kernel(i) * torch.randn(bank.kernel(i).shape, generator=generator, dtype=torch.float64)).sum()
                   for i in range(1, 7))
        loss.backward()
        optimizer.step()
    for i in range(7):
        kernel = bank.kernel(i).detach()
        assert float(kernel.min()) >= 0.0
        assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-9)
        if point_symmetric:
            assert torch.allclose(kernel, kernel.flip(-2, -1))
    assert not torch.allclose(bank.kernel(4).detach(), before[4])  # the steps did change the kernels
    assert torch.equal(bank.kernel(0).detach(), before[0])  # radius 0 stays the delta


# --- FFT convolution and the reblur operator -----------------------------------------------------


def test_reflect_pad_wider_than_the_image_mirrors_like_numpy():
    image = torch.rand(1, 2, 5, 7, dtype=torch.float64)
    padded = reflect_pad(image, 13, 2, 20, 9)
    expected = np.pad(image.numpy(), ((0, 0), (0, 0), (13, 2), (20, 9)), mode="reflect")
    np.testing.assert_array_equal(padded.numpy(), expected)


def test_fft_blur_equals_direct_convolution_with_reflected_borders():
    image = torch.rand(2, 3, 29, 41, dtype=torch.float64)
    kernel = torch.rand(9, 9, dtype=torch.float64)  # asymmetric: checks orientation and centring
    spectrum = SharedSpectrum(image, reach=12)
    torch.testing.assert_close(spectrum.blur(kernel), convolve(image, kernel), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_radius_zero_reblur_is_the_identity(dtype):
    bank = KernelBank(dtype=dtype)
    sharp = torch.rand(2, 3, 23, 31, dtype=dtype)
    out = reblur(sharp, torch.zeros(2, 1, 23, 31, dtype=dtype), bank)
    assert torch.equal(out, sharp)


def test_reblur_with_a_constant_radius_is_that_kernels_convolution(bank64):
    sharp = torch.rand(1, 3, 40, 48, dtype=torch.float64)
    out = reblur(sharp, torch.full((1, 1, 40, 48), 7.0, dtype=torch.float64), bank64)
    torch.testing.assert_close(out, convolve(sharp, bank64.kernel(7).detach()), rtol=0, atol=1e-12)


def test_interpolation_between_radii_is_linear_and_continuous(bank64):
    sharp = textured_scene(48, 56, torch.float64)

    def at(r: float) -> torch.Tensor:
        with torch.no_grad():
            return reblur(sharp, torch.full((1, 1, 48, 56), r, dtype=torch.float64), bank64)

    r3, r35, r4 = at(3.0), at(3.5), at(4.0)
    assert bool(((r35 >= torch.minimum(r3, r4) - 1e-12) & (r35 <= torch.maximum(r3, r4) + 1e-12)).all())
    torch.testing.assert_close(r35, 0.5 * (r3 + r4), rtol=0, atol=1e-12)
    assert float((r3 - r4).abs().max()) > 1e-3  # the two radii do differ
    # No jump at an integer radius, from either side.
    assert float((at(4.0 - 1e-6) - r4).abs().max()) < 1e-5
    assert float((at(4.0 + 1e-6) - r4).abs().max()) < 1e-5


def test_reblur_has_a_gradient_in_the_map_at_integer_radii_and_in_the_kernels():
    bank = KernelBank(KernelBankConfig(max_radius=8), dtype=torch.float64)
    sharp = textured_scene(32, 32, torch.float64)
    radius = torch.full((1, 1, 32, 32), 3.0, dtype=torch.float64, requires_grad=True)
    reblur(sharp, radius, bank).square().sum().backward()
    assert float(radius.grad.abs().max()) > 0  # an integer starting map can move
    assert float(bank.logits[3 - 1].grad.abs().max()) > 0  # radii 3 and 4 are read
    assert bank.logits[6 - 1].grad is None  # radius 6 is never computed


def test_blend_refuses_a_map_that_needs_radii_the_stack_lacks(bank64):
    sharp = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    radius = torch.full((1, 1, 16, 16), 2.5, dtype=torch.float64)
    assert needed_radii(radius, bank64.max_radius) == [2, 3]
    with pytest.raises(ValueError, match="needs radii"):
        blend(blur_stack(sharp, bank64, [2]), [2], radius, bank64.max_radius)
    with pytest.raises(ValueError):
        reblur(sharp, radius[..., :8], bank64)


# --- fitting -----------------------------------------------------------------------------------


@pytest.mark.parametrize("true_radius", [4.0, 9.0])
def test_fitted_map_recovers_a_uniform_disc_blur(bank32, true_radius):
    sharp = textured_scene(112, 144)
    blurred = convolve(sharp, uniform_disc(true_radius)).float()
    result = fit_radius_map(blurred, sharp, bank32)
    mask = textured_mask(sharp)
    error = (result.radius - true_radius).abs()[mask]
    assert float(error.mean()) <= 1.5
    # The baseline sees one global blur here, so it must find it as well.
    assert float(best_single_radius(blurred, sharp, bank32)[0]) == pytest.approx(true_radius, abs=1.5)


def test_fitted_map_separates_in_focus_from_defocused_halves(bank32):
    sharp = textured_scene(112, 144, seed=3)
    truth = torch.zeros(1, 1, 112, 144)
    truth[..., 72:] = 6.0
    blurred = torch.where(truth > 0, convolve(sharp, uniform_disc(6.0)).float(), sharp)
    result = fit_radius_map(blurred, sharp, bank32)
    mask = textured_mask(sharp)
    correct = ((result.radius > 1.0) == (truth > 1.0))[mask]
    assert float(correct.float().mean()) >= 0.90


def test_best_single_radius_finds_a_fractional_radius_exactly(bank64):
    sharp = textured_scene(64, 80, torch.float64)
    blurred = reblur(sharp, torch.full((1, 1, 64, 80), 5.3, dtype=torch.float64), bank64)
    assert float(best_single_radius(blurred, sharp, bank64)[0]) == pytest.approx(5.3, abs=1e-6)


def test_learning_kernels_lowers_the_error_and_keeps_them_normalised():
    bank = KernelBank(KernelBankConfig(max_radius=10))
    sharp = textured_scene(64, 80, seed=5)
    # A blur the Butterworth doughnuts do not model: a Gaussian-like bell.
    blurred = convolve(sharp, torch.outer(*[torch.exp(-0.5 * (torch.arange(-9, 10.0) / 2.5) ** 2)] * 2)
                       / torch.exp(-0.5 * (torch.arange(-9, 10.0) / 2.5) ** 2).sum() ** 2).float()
    config = FitConfig(phases=(60, 40, 30, 40, 30))
    fixed = fit_radius_map(blurred, sharp, bank, config)
    learned = fit_radius_map(blurred, sharp, bank, config, learn_kernels=True)
    with torch.no_grad():
        error_fixed = float((reblur(sharp, fixed.radius, bank) - blurred).abs().mean())
        error_learned = float((reblur(sharp, learned.radius, learned.bank) - blurred).abs().mean())
    assert error_learned < 0.9 * error_fixed
    assert [phase for phase, _ in learned.history] == ["map", "kernels", "map", "kernels", "map"]
    for i in range(11):
        kernel = learned.bank.kernel(i).detach()
        assert float(kernel.min()) >= 0.0 and float(kernel.sum()) == pytest.approx(1.0, abs=1e-5)
    assert learned.bank is not bank
    torch.testing.assert_close(bank.kernel(5), KernelBank(KernelBankConfig(max_radius=10)).kernel(5))  # untouched


def test_fit_refuses_a_bank_of_another_dtype(bank64):
    sharp = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="kernel bank"):
        fit_radius_map(sharp, sharp, bank64)


def test_fit_runs_inside_no_grad_and_reports_progress():
    bank = KernelBank(KernelBankConfig(max_radius=4))
    sharp = textured_scene(24, 24)
    calls = []
    with torch.no_grad():
        result = fit_radius_map(sharp, sharp, bank, FitConfig(phases=(3, 2, 1)), learn_kernels=True,
                                progress=lambda phase, step, steps, loss: calls.append((phase, step, steps)))
    assert calls == [("map", 1, 3), ("map", 2, 3), ("map", 3, 3), ("kernels", 1, 2), ("kernels", 2, 2), ("map", 1, 1)]
    assert result.radius.shape == (1, 1, 24, 24) and not result.radius.requires_grad
