"""PSNR / SSIM / MAE against independent references: scikit-image (dpdd protocol) and a
straightforward scipy implementation of Wang et al.'s MATLAB SSIM (wang protocol)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import convolve2d
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from fdikp_cli.metrics import SSIM_DPDD, SSIM_WANG, SsimConfig, mae, psnr, ssim
from tests.conftest import shared_path


def _to_tensor(hwc: np.ndarray) -> torch.Tensor:
    """(H, W, C) float64 -> (1, C, H, W)."""
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))[None]


def _random_pair(seed: int, h: int = 61, w: int = 83) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.random((h, w, 3))
    pred = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1)
    return pred, target


def _real_pair(crop: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    root = shared_path("data", "dpdd-canon-iso", "val")
    name = sorted(p.name for p in (root / "source").iterdir())[0]
    images = [np.asarray(Image.open(root / sub / name).convert("RGB"), dtype=np.float64) / 255 for sub in ("source", "target")]
    if crop is not None:
        images = [im[100 : 100 + crop[0], 200 : 200 + crop[1]] for im in images]
    return images[0], images[1]


def _wang_ssim_reference(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """MATLAB ssim_index per channel: fspecial('gaussian', 11, 1.5), filter2 'valid',
    population (co)variances, mean of the map; then the mean over channels."""
    ax = np.arange(11) - 5.0
    xx, yy = np.meshgrid(ax, ax)
    window = np.exp(-(xx**2 + yy**2) / (2 * 1.5**2))
    window /= window.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for ch in range(pred.shape[2]):
        x, y = pred[..., ch], target[..., ch]
        f = lambda a: convolve2d(a, np.rot90(window, 2), mode="valid")  # noqa: E731 (filter2 = correlation)
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        ssim_map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        values.append(ssim_map.mean())
    return float(np.mean(values))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_ssim_mae_match_skimage_on_random_pairs(seed: int) -> None:
    pred, target = _random_pair(seed)
    p, t = _to_tensor(pred), _to_tensor(target)
    assert psnr(p, t).item() == pytest.approx(peak_signal_noise_ratio(target, pred, data_range=1.0), abs=1e-6)
    expected_ssim = structural_similarity(pred, target, channel_axis=-1, data_range=1.0)
    assert ssim(p, t).item() == pytest.approx(expected_ssim, abs=1e-6)
    assert mae(p, t).item() == pytest.approx(np.abs(pred - target).mean(), abs=1e-12)


def test_psnr_ssim_match_skimage_on_a_real_dpdd_pair() -> None:
    pred, target = _real_pair(crop=None)  # the whole 1024x683 image
    p, t = _to_tensor(pred), _to_tensor(target)
    assert psnr(p, t).item() == pytest.approx(peak_signal_noise_ratio(target, pred, data_range=1.0), abs=1e-6)
    assert ssim(p, t).item() == pytest.approx(structural_similarity(pred, target, channel_axis=-1, data_range=1.0), abs=1e-6)


def test_batched_results_equal_per_image_results() -> None:
    pairs = [_random_pair(seed, 40, 50) for seed in range(3)]
    p = torch.cat([_to_tensor(a) for a, _ in pairs])
    t = torch.cat([_to_tensor(b) for _, b in pairs])
    for metric in (psnr, ssim, mae):
        batched = metric(p, t)
        assert batched.shape == (3,)
        singles = torch.cat([metric(p[i : i + 1], t[i : i + 1]) for i in range(3)])
        torch.testing.assert_close(batched, singles, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_wang_ssim_matches_an_independent_matlab_style_implementation(seed: int) -> None:
    pred, target = _random_pair(seed)
    # The wang protocol first rounds to 8 bits; the SSIM itself must match on any input.
    pred = np.round(pred * 255) / 255
    value = ssim(_to_tensor(pred), _to_tensor(target), config=SSIM_WANG).item()
    assert value == pytest.approx(_wang_ssim_reference(pred, target), abs=1e-6)
    # scikit-image's Gaussian variant is the same computation (a second, independent reference).
    skimage_value = structural_similarity(
        pred, target, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert value == pytest.approx(skimage_value, abs=1e-6)


def test_wang_ssim_on_a_real_crop_in_255_scale() -> None:
    pred, target = _real_pair(crop=(128, 128))
    pred8, target8 = np.round(pred * 255), np.round(target * 255)
    value = ssim(_to_tensor(pred8), _to_tensor(target8), config=SSIM_WANG, data_range=255.0).item()
    assert value == pytest.approx(_wang_ssim_reference(pred8, target8, data_range=255.0), abs=1e-6)


def test_protocols_differ_so_the_choice_matters() -> None:
    pred, target = _random_pair(3)
    p, t = _to_tensor(pred), _to_tensor(target)
    assert abs(ssim(p, t, config=SSIM_DPDD).item() - ssim(p, t, config=SSIM_WANG).item()) > 1e-3


def test_psnr_closed_form_and_identical_images() -> None:
    target = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    pred = target + torch.tensor([0.1, 0.01], dtype=torch.float64).view(2, 1, 1, 1)
    torch.testing.assert_close(psnr(pred, target), torch.tensor([20.0, 40.0], dtype=torch.float64))
    assert torch.isinf(psnr(target, target)).all()
    assert ssim(target + 0.5, target + 0.5).allclose(torch.ones(2, dtype=torch.float64))


def test_metrics_are_differentiable_in_float32() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    pred = (target + 0.05 * torch.randn_like(target)).clamp(0, 1).requires_grad_(True)
    loss = (1 - ssim(pred, target)).sum() + mae(pred, target).sum() - psnr(pred, target).sum() / 100
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # float32 stays close to the float64 value
    exact = ssim(pred.detach().double(), target.double())
    torch.testing.assert_close(ssim(pred.detach(), target).double(), exact, rtol=0, atol=1e-5)


def test_bad_inputs_are_refused() -> None:
    a = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, torch.rand(1, 3, 16, 15))
    with pytest.raises(ValueError, match="smaller than"):
        ssim(torch.rand(1, 3, 6, 6), torch.rand(1, 3, 6, 6))
    with pytest.raises(ValueError, match="odd"):
        SsimConfig(size=8)


def test_masked_psnr_scores_only_the_masked_pixels_against_numpy() -> None:
    from fdikp_cli.metrics import masked_psnr

    rng = np.random.default_rng(4)
    a, b = rng.random((2, 3, 12, 10)), rng.random((2, 3, 12, 10))
    mask = rng.random((2, 1, 12, 10)) < 0.3
    expected = [10 * np.log10(1.0 / np.mean((a[i] - b[i])[:, mask[i, 0]] ** 2)) for i in range(2)]
    got = masked_psnr(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(mask))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    # Errors outside the mask do not count; an empty mask has nothing to score.
    c = b.copy()
    c[:, :, ~mask[0, 0]] += 0.5
    changed = masked_psnr(torch.from_numpy(a), torch.from_numpy(c), torch.from_numpy(mask))
    assert changed[0] == got[0] and changed[1] != got[1]
    empty = masked_psnr(torch.from_numpy(a), torch.from_numpy(b), torch.zeros(2, 1, 12, 10, dtype=torch.bool))
    assert torch.isnan(empty).all()
    with pytest.raises(ValueError, match="mask"):
        masked_psnr(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(mask[:, :, :6]))
