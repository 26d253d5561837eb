"""The oracle-ceiling benchmark's filters: what each oracle can and cannot undo."""

import cv2
import numpy as np

from benchmarks.gain_bands import psnr
from benchmarks.oracle_ceiling import oracle_filter, oracle_scores, zero_phase_basis


def _texture(size: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.random((size, size, 3))
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.0) * 1.6 - 0.3, 0.0, 1.0)  # (H, W, 3) in [0, 1]


def test_zero_phase_basis_gives_point_symmetric_filters():
    basis = zero_phase_basis(5)
    assert basis.shape == (25, 13)
    kernel = (basis @ np.random.default_rng(1).normal(size=13)).reshape(5, 5)
    np.testing.assert_array_equal(kernel, kernel[::-1, ::-1])


def test_identity_pair_is_reproduced():
    image = _texture()
    out = oracle_filter(image, image, patch=16, taps=3, zero_phase=True)
    assert psnr(out, image) > 60.0


def test_free_filter_undoes_a_shift_the_zero_phase_one_cannot():
    scene = _texture(49, seed=2)
    blurred, sharp = scene[:48, :48], scene[:48, 1:]  # the "sharp capture" is the scene moved by 1 px
    interior = (slice(16, 32), slice(16, 32))  # a block whose neighbourhoods never reach the border
    free = oracle_filter(blurred, sharp, patch=16, taps=3, zero_phase=False)
    zero_phase = oracle_filter(blurred, sharp, patch=16, taps=3, zero_phase=True)
    assert psnr(free[interior], sharp[interior]) > 50.0
    assert psnr(zero_phase[interior], sharp[interior]) < psnr(free[interior], sharp[interior]) - 20.0


def test_zero_phase_oracle_undoes_part_of_a_symmetric_blur():
    sharp = _texture(64, seed=3)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    scores = oracle_scores(blurred, sharp, patch=32, taps=7)
    input_psnr, tone, _, zero_phase, _, free, _ = scores
    assert zero_phase > input_psnr + 3.0  # a linear inverse restores much of a mild Gaussian blur
    assert tone < zero_phase  # gain and offset alone cannot
    assert free >= zero_phase - 1e-6  # the free filter's set contains the zero-phase one's
