"""Registering real pairs: shift estimate, Fourier shift, tone matching, registered crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fdikp_cli.data import PairCropSource, find_pairs
from fdikp_cli.data.augment import random_scaled_window
from fdikp_cli.data.registration import correlation_shift, estimate_shift, fourier_shift, match_tone, register_pair, register_window


def textured_scene(size: tuple[int, int] = (160, 192), seed: int = 0) -> np.ndarray:
    """Edges and texture at several scales, values well inside (0, 1)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((*size, 3)).astype(np.float32)
    image = 0.5 * cv2.GaussianBlur(noise, (0, 0), 1.5) + 0.5 * cv2.GaussianBlur(noise, (0, 0), 6.0)
    image = (image - image.min()) / (image.max() - image.min())
    return (0.15 + 0.7 * image).astype(np.float32)


def disc_blur(image: np.ndarray, radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = (yy**2 + xx**2 <= radius**2).astype(np.float32)
    return cv2.filter2D(image, -1, disc / disc.sum(), borderType=cv2.BORDER_REFLECT)


def test_fourier_shift_by_whole_pixels_is_a_translation():
    image = textured_scene()
    moved = fourier_shift(image, 3.0, -2.0)
    # Away from the border (reflect padding), moved(y, x) = image(y - 3, x + 2).
    np.testing.assert_allclose(moved[20:-20, 20:-20], image[17:-23, 22:-18], atol=2e-4)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.4, -0.7), (-2.3, 1.6)])
def test_estimate_shift_finds_a_known_shift_of_a_blurred_capture(shift):
    sharp = textured_scene()
    # The blurred capture sits at -shift: moving it by +shift puts it on the sharp one.
    blurred = fourier_shift(disc_blur(sharp, 3), -shift[0], -shift[1])
    dy, dx = estimate_shift(blurred, sharp)
    assert abs(dy - shift[0]) <= 0.15 and abs(dx - shift[1]) <= 0.15, (dy, dx)


def test_match_tone_undoes_a_known_exposure_and_colour_change():
    reference = textured_scene()
    gain, offset = np.array([1.08, 0.95, 1.02], np.float32), np.array([-0.03, 0.02, 0.0], np.float32)
    changed = reference * gain + offset
    adjusted, fitted_gain, fitted_offset = match_tone(changed, disc_blur(reference, 4))
    np.testing.assert_allclose(fitted_gain * gain, 1.0, atol=0.01)
    assert np.abs(adjusted - reference).mean() < 2e-3


def test_register_pair_aligns_and_tones_but_never_resamples_the_target():
    sharp = textured_scene(seed=1)
    blurred = fourier_shift(disc_blur(sharp, 3), 0.8, -1.2) * 0.9  # shifted and darker
    moved, toned, record = register_pair(blurred, sharp)
    assert record.shift_yx == pytest.approx((-0.8, 1.2), abs=0.15)
    # The target keeps its detail: only a per-channel affine map was applied to it.
    for c in range(3):
        slope, _ = np.polyfit(sharp[..., c].ravel(), toned[..., c].ravel(), 1)
        assert slope == pytest.approx(record.gain[c], rel=1e-3)
    assert abs(float(toned.mean() - moved.mean())) < 3e-3
    inner = (slice(16, -16), slice(16, -16))
    before = np.abs(disc_blur(sharp, 3) * 0.9 - blurred)[inner].mean()
    after = np.abs(disc_blur(sharp, 3) * 0.9 - moved)[inner].mean()
    assert after < 0.2 * before


def test_scaled_window_keeps_stacked_pairs_together():
    rng = np.random.default_rng(3)
    left, right = textured_scene(seed=2), textured_scene(seed=5)
    window = random_scaled_window(np.concatenate([left, right], axis=2), 64, (0.5, 0.5), rng)
    rng = np.random.default_rng(3)
    alone = random_scaled_window(left, 64, (0.5, 0.5), rng)
    assert window.shape == (64, 64, 6)
    np.testing.assert_allclose(window[..., :3], alone, atol=1e-6)


def write_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    as_uint8 = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    assert cv2.imwrite(str(path), np.ascontiguousarray(as_uint8[:, :, ::-1]))


def test_registered_crops_are_aligned_and_tone_matched(tmp_path):
    sharp = textured_scene((128, 128), seed=4)
    blurred = fourier_shift(disc_blur(sharp, 2), 1.5, 0.0) * 0.92
    write_rgb(tmp_path / "source" / "a.png", blurred)
    write_rgb(tmp_path / "target" / "a.png", sharp)
    pairs = find_pairs("pairs", tmp_path, "train")
    plain = PairCropSource("pairs", pairs, 128, 1 << 24)
    registered = PairCropSource("pairs", pairs, 128, 1 << 24, align=True, tone=True)
    assert "aligned and tone-matched" in registered.describe()
    b0, s0 = plain.crop_pair(0, 128, np.random.default_rng(0))
    b1, s1 = registered.crop_pair(0, 128, np.random.default_rng(0))
    assert abs(estimate_shift(b0, s0)[0]) > 1.2 and abs(estimate_shift(b1, s1)[0]) < 0.2
    assert abs(float(s0.mean() - b0.mean())) > 0.02 and abs(float(s1.mean() - b1.mean())) < 0.005


def test_pair_scale_range_is_checked(tmp_path):
    write_rgb(tmp_path / "source" / "a.png", textured_scene((64, 64)))
    write_rgb(tmp_path / "target" / "a.png", textured_scene((64, 64)))
    with pytest.raises(Exception, match="scale range"):
        PairCropSource("pairs", find_pairs("pairs", tmp_path, "train"), 32, 1 << 20, scale_range=(0.0, 1.0))


def test_register_window_removes_a_local_shift_and_cuts_the_margin():
    sharp = textured_scene((192, 192), seed=6)
    blurred = fourier_shift(disc_blur(sharp, 2), -0.6, 0.4)  # moving it by (+0.6, -0.4) undoes this
    moved, target, shift = register_window(blurred, sharp, margin=16)
    assert moved.shape == target.shape == (160, 160, 3)
    assert shift == pytest.approx((0.6, -0.4), abs=0.1)
    np.testing.assert_array_equal(target, sharp[16:-16, 16:-16])  # the target is never resampled
    reference = disc_blur(sharp, 2)[16:-16, 16:-16]
    assert np.abs(moved - reference).mean() < 0.25 * np.abs(blurred[16:-16, 16:-16] - reference).mean()


def test_register_window_leaves_a_window_without_a_consistent_shift_alone():
    rng = np.random.default_rng(0)
    blurred, sharp = rng.random((96, 96, 3)).astype(np.float32), rng.random((96, 96, 3)).astype(np.float32)
    moved, target, shift = register_window(blurred, sharp, margin=8)
    assert shift is None
    np.testing.assert_array_equal(moved, blurred[8:-8, 8:-8])


def test_crops_re_registered_one_by_one_follow_a_shift_that_varies_across_the_image(tmp_path):
    # The left half of the blurred capture is shifted one way, the right half the other: no
    # global shift fits both, a per-crop one does.
    sharp = textured_scene((128, 384), seed=7)
    base = disc_blur(sharp, 2)
    blurred = np.concatenate([fourier_shift(base, 0.0, 1.0)[:, :192], fourier_shift(base, 0.0, -1.0)[:, 192:]], axis=1)
    write_rgb(tmp_path / "source" / "a.png", blurred)
    write_rgb(tmp_path / "target" / "a.png", sharp)
    pairs = find_pairs("pairs", tmp_path, "train")
    global_only = PairCropSource("pairs", pairs, 96, 1 << 24, align=True)
    per_crop = PairCropSource("pairs", pairs, 96, 1 << 24, align=True, align_crops=True)
    assert "re-registered per crop" in per_crop.describe()
    residual_global, residual_local = [], []
    for seed in range(12):
        b0, s0 = global_only.crop_pair(0, 96, np.random.default_rng(seed))
        b1, s1 = per_crop.crop_pair(0, 96, np.random.default_rng(seed))
        assert b1.shape == s1.shape == (96, 96, 3)
        residual_global.append(abs(correlation_shift(b0, s0)[1]))
        residual_local.append(abs(correlation_shift(b1, s1)[1]))
    # Crops across the seam keep part of the error either way; the typical crop loses it.
    assert np.median(residual_global) > 0.6 and np.median(residual_local) < 0.25, (residual_global, residual_local)
