"""The radius-bands benchmark's measurements: the per-block radius fit recovers a known disc
blur, and the rank statistics match hand-computed values."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.radius_bands import (
    RADII,
    band_index,
    fit_block_radius,
    pooled_psnr,
    spearman,
    stage_gains,
    stage_view,
    texture_rms,
    textured_mask,
)


def _texture(size: int = 128, seed: int = 0) -> torch.Tensor:
    """Random RGB noise in [0.2, 0.8]: detail at every frequency, so any blur is measurable. (1, 3, S, S)."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(0.2 + 0.6 * rng.random((1, 3, size, size)))


def _hard_disc_blur(image: torch.Tensor, radius: float) -> torch.Tensor:
    """Blur by a hard-edged disc (pixel centres within `radius`), direct conv2d on reflect-padded
    borders: built independently of the benchmark's anti-aliased FFT blur. (1, C, H, W) -> same."""
    half = math.ceil(radius)
    steps = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(steps, steps, indexing="ij")
    kernel = (xx**2 + yy**2 <= radius**2).double()
    kernel = (kernel / kernel.sum())[None, None].expand(image.shape[1], 1, -1, -1)  # (C, 1, W, W)
    padded = F.pad(image, (half, half, half, half), mode="reflect")
    return F.conv2d(padded, kernel, groups=image.shape[1])


@pytest.mark.parametrize("radius", [3.0, 6.0])
def test_fit_recovers_a_known_disc_radius(radius):
    sharp = _texture()
    blurred = _hard_disc_blur(sharp, radius)
    fit = fit_block_radius(blurred.float(), sharp.float(), radii=RADII[:25], block=32)  # candidates 0..12 px
    assert fit.radius.shape == (4, 4)
    interior = fit.radius[1:3, 1:3]
    np.testing.assert_array_less(np.abs(interior - radius), 0.5 + 1e-9)
    # A clear fit: the disc explains nearly all of the difference that r = 0 leaves.
    assert np.all(fit.mse_best[1:3, 1:3] < 0.05 * fit.mse_zero[1:3, 1:3])


def test_unblurred_pair_fits_radius_zero_and_flat_blocks_are_not_textured():
    sharp = _texture(64, seed=1)
    sharp[..., :32, :32] = 0.5  # one flat block: no detail, its radius cannot be measured
    fit = fit_block_radius(sharp.float(), sharp.float(), radii=RADII[:9], block=32)
    np.testing.assert_array_equal(fit.radius[0, 1:], 0.0)
    texture = texture_rms(sharp[0].permute(1, 2, 0).numpy().astype(np.float32), block=32)
    mask = textured_mask(fit, texture)
    assert not mask[0, 0] and mask[1, 1]


def test_spearman_matches_hand_computed_values():
    # No ties: d = (-1, 1, -1, 1, 0), rho = 1 - 6 * 4 / (5 * (25 - 1)) = 0.8.
    assert spearman(np.array([1, 2, 3, 4, 5]), np.array([2, 1, 4, 3, 5])) == pytest.approx(0.8)
    # Ties share their mean rank: b's ranks (1.5, 1.5, 3, 4); Pearson of the ranks is
    # 4.5 / sqrt(5 * 4.5) = sqrt(0.9).
    assert spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 1.0, 2.0, 3.0])) == pytest.approx(math.sqrt(0.9))
    assert spearman(np.array([3.0, 2.0, 1.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(-1.0)
    assert math.isnan(spearman(np.array([1.0, 2.0]), np.array([5.0, 5.0])))


def test_bands_and_pooled_psnr():
    radius = np.array([0.0, 2.0, 2.5, 4.0, 7.0, 7.5, 12.0, 12.5, 25.0])
    np.testing.assert_array_equal(band_index(radius), [0, 0, 1, 1, 2, 3, 3, 4, 4])
    # Pooling squared errors, not averaging PSNRs: blocks of MSE 1e-2 and 1e-4 pool to 5.05e-3.
    assert pooled_psnr(np.array([1e-2, 1e-4])) == pytest.approx(-10.0 * math.log10(5.05e-3))
    assert math.isnan(pooled_psnr(np.array([])))


def test_stage_view_area_averages_like_the_model_and_keeps_ceil_size():
    # 6 x 5 image, factor 2: the model reflect-pads to 8 x 8 (multiple 8) and averages 2x2 cells.
    rng = np.random.default_rng(3)
    image = rng.random((6, 5, 3)).astype(np.float32)
    view = stage_view(image, 2, 8)
    assert view.shape == (3, 3, 3)
    # Cells fully inside the image: plain means of 2x2 pixels, computed by hand.
    assert np.allclose(view[1, 1], image[2:4, 2:4].mean(axis=(0, 1)), atol=1e-6)
    # The last column's cell holds column 4 and its reflection (column 3 of the padded image is
    # mirrored at the edge: padded column 5 = image column 3).
    assert np.allclose(view[0, 2], np.concatenate([image[0:2, 4], image[0:2, 3]]).mean(axis=0), atol=1e-6)
    assert stage_view(image, 1, 8) is image


def test_stage_gains_are_output_minus_input_psnr_at_each_scale():
    rng = np.random.default_rng(4)
    sharp = rng.random((16, 16, 3))
    blurred = np.clip(sharp + 0.1, 0, 1)
    # Stage outputs: the coarse one returns its input unchanged (gain 0), the fine one the target.
    coarse = stage_view(blurred, 2, 8)
    rows = stage_gains([coarse, np.clip(sharp + 0.05, 0, 1)], blurred, sharp, 8)
    assert [r["scale"] for r in rows] == ["1/2", "1/1"]
    assert rows[0]["gain"] == pytest.approx(0.0, abs=1e-9)
    mse_in = np.mean((blurred - sharp) ** 2)
    mse_out = np.mean((np.clip(sharp + 0.05, 0, 1) - sharp) ** 2)
    assert rows[1]["gain"] == pytest.approx(10 * math.log10(mse_in / mse_out), abs=1e-6)
