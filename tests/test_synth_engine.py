"""The synthetic defocus engine against closed-form optics: disc PSFs, energy, occlusion."""

from __future__ import annotations

import dataclasses

import math

import numpy as np
import pytest

from fdikp_cli.errors import ConfigError
from fdikp_cli.synth import BlurLayer, SynthConfig, synthesize_pair, synthesize_pair_with_layers
from fdikp_cli.synth.psf import PsfShape, psf_kernel
from fdikp_cli.synth.render import LEVEL_RATIO, radius_levels, render_layers
from fdikp_cli.synth.srgb import linear_to_srgb, srgb_to_linear

CLEAN = SynthConfig(noise_prob=0.0, jpeg_prob=0.0, sharpen_prob=0.0, highlight_prob=0.0, tone_power_range=(1.0, 1.0))
DISC = PsfShape(kind="disc", softness=0.5)


def _full(shape: tuple[int, int], value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def _segment_fraction(distance: float, radius: float) -> float:
    """Share of a uniform disc of `radius` lying beyond a straight edge `distance` from its centre."""
    if distance >= radius:
        return 0.0
    segment = radius**2 * math.acos(distance / radius) - distance * math.sqrt(radius**2 - distance**2)
    return segment / (math.pi * radius**2)


@pytest.mark.parametrize("radius", [3.0, 6.0, 10.0])
@pytest.mark.parametrize("min_scaled_radius", [0.0, 4.0])  # full resolution, and the reduced-resolution path
def test_point_source_becomes_disc_of_requested_radius(radius: float, min_scaled_radius: float) -> None:
    size = 65
    image = np.zeros((size, size, 3), dtype=np.float32)
    image[size // 2, size // 2] = 100.0
    layer = BlurLayer(_full((size, size), 1.0), _full((size, size), radius))
    out = render_layers(image, [layer], DISC, min_scaled_radius=min_scaled_radius)[..., 1]

    # The light is spread, not lost (bilinear upsampling on the reduced path costs ~0.2 %).
    assert out.sum() == pytest.approx(100.0, rel=1e-4 if min_scaled_radius == 0.0 else 4e-3)
    plateau = 100.0 / (math.pi * radius**2)  # a uniform disc's height
    equivalent_radius = math.sqrt((out > 0.5 * plateau).sum() / math.pi)
    assert equivalent_radius == pytest.approx(radius, abs=0.6)
    yy, xx = np.mgrid[0:size, 0:size] - size // 2
    core = np.hypot(yy, xx) <= radius - (1.5 if min_scaled_radius == 0.0 else 2.5)
    assert np.allclose(out[core], plateau, rtol=0.12)  # flat top, like a real bokeh disc
    # Nothing beyond the rim: a radius between two table levels mixes their two discs, so the
    # rim may reach the next level (<= LEVEL_RATIO x); the reduced path's edge is ~1 px softer.
    rim = radius * LEVEL_RATIO + (1.5 if min_scaled_radius == 0.0 else 2.5)
    assert out[np.hypot(yy, xx) >= rim].max() < 0.02 * plateau


def test_disc_kernel_is_uniform_and_normalised() -> None:
    kernel = psf_kernel(7.0, PsfShape(kind="disc", softness=0.01))
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    assert 1.0 / kernel.max() == pytest.approx(math.pi * 49, rel=0.01)  # flat top over the disc's area
    assert psf_kernel(0.0).shape == (1, 1)


@pytest.mark.parametrize("kind", ["polygon", "gaussian"])
def test_other_psf_shapes_have_comparable_size(kind: str) -> None:
    kernel = psf_kernel(6.0, PsfShape(kind=kind, blades=6))
    yy, xx = np.mgrid[0 : kernel.shape[0], 0 : kernel.shape[1]] - kernel.shape[0] // 2
    spread = math.sqrt((kernel * (yy**2 + xx**2)).sum())  # RMS radius; a uniform disc's is R / sqrt(2)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    assert spread == pytest.approx(6.0 / math.sqrt(2.0), rel=0.25)


def test_zero_radius_everywhere_returns_the_target() -> None:
    rng = np.random.default_rng(1)
    sharp = rng.uniform(0, 1, size=(40, 48, 3)).astype(np.float32)
    layers = [BlurLayer(_full((40, 48), 1.0), _full((40, 48), 0.0))]
    pair = synthesize_pair_with_layers(sharp, layers, seed=0, config=CLEAN)
    np.testing.assert_allclose(pair.blurred, pair.sharp, atol=2e-5)
    np.testing.assert_allclose(pair.sharp, sharp, atol=2e-5)


def _sharp_square_before_blurred_background(seed: int, radius: float) -> tuple[np.ndarray, list[BlurLayer]]:
    """A random 64x64 photo; its centre 32x32 square is an in-focus near layer, the rest blurred by radius."""
    sharp = np.random.default_rng(seed).uniform(0, 1, size=(64, 64, 3)).astype(np.float32)
    near = np.zeros((64, 64), dtype=np.float32)
    near[16:48, 16:48] = 1.0
    return sharp, [BlurLayer(_full((64, 64), 1.0), _full((64, 64), radius)), BlurLayer(near, _full((64, 64), 0.0))]


def test_in_focus_region_in_front_stays_identical_to_target() -> None:
    sharp, layers = _sharp_square_before_blurred_background(seed=2, radius=6.0)
    # Optics only: exposure matching (a global gain, like noise a camera-side effect) is off.
    optics_only = dataclasses.replace(CLEAN, match_exposure=False)
    pair = synthesize_pair_with_layers(sharp, layers, seed=0, config=optics_only, psf=DISC)
    np.testing.assert_allclose(pair.blurred[16:48, 16:48], pair.sharp[16:48, 16:48], atol=2e-5)
    # ...while the blurred background around it has lost its pixel-level texture.
    assert np.abs(pair.blurred[:10] - pair.sharp[:10]).mean() > 0.1
    assert pair.radius[20, 20] == 0.0 and pair.radius[2, 2] == pytest.approx(6.0)


@pytest.mark.parametrize("radius_map", ["constant", "ramp"])
def test_energy_is_conserved_in_linear_light(radius_map: str) -> None:
    rng = np.random.default_rng(3)
    image = np.zeros((96, 96, 3), dtype=np.float32)
    image[20:76, 20:76] = rng.uniform(0, 1, size=(56, 56, 3))  # dark margin wider than the blur
    ramp = np.tile(np.linspace(0, 10, 96, dtype=np.float32), (96, 1))
    radius = _full((96, 96), 8.0) if radius_map == "constant" else ramp
    out = render_layers(image, [BlurLayer(_full((96, 96), 1.0), radius)], DISC)
    # Level blending normalises the alpha where the radius changes: a small, bounded error.
    tolerance = 1e-3 if radius_map == "constant" else 0.02
    np.testing.assert_allclose(out.sum(axis=(0, 1)), image.sum(axis=(0, 1)), rtol=tolerance)


def test_mean_is_preserved_in_linear_light_by_synthesize_pair() -> None:
    rng = np.random.default_rng(4)
    sharp = np.zeros((80, 80, 3), dtype=np.float32)
    sharp[16:64, 16:64] = rng.uniform(0.1, 0.9, size=(48, 48, 3))
    layers = [BlurLayer(_full((80, 80), 1.0), _full((80, 80), 5.0))]
    physical = dataclasses.replace(CLEAN, match_exposure=False)
    pair = synthesize_pair_with_layers(sharp, layers, seed=0, config=physical, psf=DISC)
    assert srgb_to_linear(pair.blurred).mean() == pytest.approx(srgb_to_linear(sharp).mean(), rel=2e-3)
    assert pair.blurred.mean() != pytest.approx(sharp.mean(), rel=2e-3)  # the sRGB mean is not conserved


def test_exposure_matching_keeps_the_srgb_mean() -> None:
    # Default engine: the blurred photo is exposed like its target, so a model trained on the
    # pairs never learns a global brightness change.
    rng = np.random.default_rng(5)
    sharp = rng.uniform(0.0, 1.0, size=(64, 64, 3)).astype(np.float32)
    sharp[20:30, 20:30] = 1.0  # a clipped highlight, boosted by highlight recovery
    config = dataclasses.replace(CLEAN, highlight_prob=1.0, match_exposure=True)
    layers = [BlurLayer(_full((64, 64), 1.0), _full((64, 64), 6.0))]
    pair = synthesize_pair_with_layers(sharp, layers, seed=0, config=config, psf=DISC)
    assert pair.blurred.mean() == pytest.approx(pair.sharp.mean(), abs=2e-3)
    unmatched = synthesize_pair_with_layers(
        sharp, layers, seed=0, config=dataclasses.replace(config, match_exposure=False), psf=DISC
    )
    assert unmatched.blurred.mean() > pair.sharp.mean() + 0.01


def test_blurred_near_object_covers_sharp_far_one() -> None:
    height, width, edge, radius = 24, 64, 32, 8.0
    far = np.zeros((height, width, 3), dtype=np.float32)
    far[..., 2] = 0.6  # blue far surface, in focus
    near_mask = np.zeros((height, width), dtype=np.float32)
    near_mask[:, edge:] = 1.0  # red near surface on the right, defocused
    image = far.copy()
    image[:, edge:] = (0.8, 0.0, 0.0)
    far_layer = BlurLayer(_full((height, width), 1.0), _full((height, width), 0.0))
    layers = [far_layer, BlurLayer(near_mask, _full((height, width), radius))]
    out = render_layers(image, layers, DISC, min_scaled_radius=0.0)[height // 2]
    for column in range(edge - 10, edge):
        # Pixel centre `column` is (edge - 0.5 - column) from the edge: that share of its disc sees red.
        covered = _segment_fraction(edge - 0.5 - column, radius)
        assert out[column, 0] == pytest.approx(0.8 * covered, abs=0.03)
        assert out[column, 2] == pytest.approx(0.6 * (1.0 - covered), abs=0.03)
    assert out[edge - 1, 0] > 0.25  # the red object's blur clearly spills over the far one


def test_sharp_near_object_leaves_no_halo_on_blurred_far_one() -> None:
    height, width, edge = 24, 64, 32
    image = np.zeros((height, width, 3), dtype=np.float32)
    image[:, :edge, 2] = 0.6  # blue far surface on the left, defocused
    image[:, edge:, 0] = 0.8  # red near surface on the right, in focus
    near_mask = np.zeros((height, width), dtype=np.float32)
    near_mask[:, edge:] = 1.0
    far_layer = BlurLayer(_full((height, width), 1.0), _full((height, width), 8.0))
    layers = [far_layer, BlurLayer(near_mask, _full((height, width), 0.0))]
    out = render_layers(image, layers, DISC)
    np.testing.assert_allclose(out[:, edge:], image[:, edge:], atol=1e-5)  # the near edge stays sharp
    assert out[:, :edge, 0].max() < 1e-3  # no red bleeds into the far surface
    np.testing.assert_allclose(out[:, :edge, 2], 0.6, atol=0.01)  # and it does not darken there


def test_same_seed_same_pair_other_seed_other_pair() -> None:
    rng = np.random.default_rng(5)
    sharp = rng.uniform(0, 1, size=(48, 56, 3)).astype(np.float32)
    config = SynthConfig(max_radius=6.0)
    first, again = synthesize_pair(sharp, 7, config), synthesize_pair(sharp, 7, config)
    other = synthesize_pair(sharp, 8, config)
    np.testing.assert_array_equal(first.blurred, again.blurred)
    np.testing.assert_array_equal(first.radius, again.radius)
    assert not np.array_equal(first.blurred, other.blurred)
    from_generator = synthesize_pair(sharp, np.random.default_rng(7), config)
    np.testing.assert_array_equal(first.blurred, from_generator.blurred)


def test_pair_shapes_ranges_and_radius_limit() -> None:
    rng = np.random.default_rng(6)
    sharp = rng.uniform(0, 1, size=(40, 60, 3)).astype(np.float32)
    for seed in range(6):
        pair = synthesize_pair(sharp, seed, SynthConfig(max_radius=5.0))
        assert pair.blurred.shape == pair.sharp.shape == (40, 60, 3)
        assert pair.radius.shape == (40, 60)
        assert pair.blurred.dtype == pair.sharp.dtype == pair.radius.dtype == np.float32
        assert 0.0 <= pair.blurred.min() and pair.blurred.max() <= 1.0
        assert 0.0 <= pair.radius.min() and pair.radius.max() <= 5.0 + 1e-5


def test_highlights_spread_into_bright_discs() -> None:
    sharp = np.full((64, 64, 3), 0.05, dtype=np.float32)
    sharp[32, 32] = 1.0  # a saturated point light
    layers = [BlurLayer(_full((64, 64), 1.0), _full((64, 64), 5.0))]
    plain = synthesize_pair_with_layers(sharp, layers, 0, CLEAN, psf=DISC)
    bright = SynthConfig(noise_prob=0.0, jpeg_prob=0.0, sharpen_prob=0.0, highlight_prob=1.0, highlight_gain_range=(8.0, 8.0))
    boosted = synthesize_pair_with_layers(sharp, layers, 0, bright, psf=DISC)
    # Without recovered energy a blurred point light is a faint smudge; with it, a visible disc.
    assert boosted.blurred[32, 32, 0] > plain.blurred[32, 32, 0] + 0.1
    np.testing.assert_allclose(boosted.sharp, sharp, atol=2e-5)  # white stays white in the target


def test_srgb_curve_matches_the_standard() -> None:
    assert float(srgb_to_linear(np.float32(0.5))) == pytest.approx(0.214041, abs=1e-5)
    assert float(linear_to_srgb(np.float32(0.18))) == pytest.approx(0.461356, abs=1e-5)
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=2e-6)


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_radius": -1.0},
        {"noise_prob": 1.5},
        {"jpeg_quality_range": (90, 80)},
        {"polygon_prob": 0.7, "gaussian_prob": 0.5},
    ],
)
def test_invalid_config_is_refused(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        SynthConfig(**overrides)


def test_wrong_image_shape_is_refused() -> None:
    with pytest.raises(ValueError):
        synthesize_pair(np.zeros((16, 16), dtype=np.float32), 0)


def test_segment_occluder_follows_the_photos_edges() -> None:
    from fdikp_cli.synth.depth import _segment_mask

    rng = np.random.default_rng(9)
    image = np.zeros((64, 96, 3), dtype=np.float32)
    image[:, :40] = (0.8, 0.2, 0.1)  # a red object on the left
    image[:, 40:] = (0.1, 0.3, 0.9)  # blue sky on the right
    image += rng.normal(0, 0.01, size=image.shape).astype(np.float32)
    halves = [np.zeros((64, 96), dtype=bool), np.zeros((64, 96), dtype=bool)]
    halves[0][:, :40], halves[1][:, 40:] = True, True
    masks = [_segment_mask(np.clip(image, 0, 1), np.random.default_rng(seed)) > 0.5 for seed in range(4)]
    assert sum(mask.any() for mask in masks) >= 3
    for mask in masks:
        # Whatever piece is chosen lies on one side of the colour edge: it never straddles it
        # (a random shape would, with blur changing in the middle of a uniform surface).
        side = halves[0] if (mask & halves[0]).sum() > (mask & halves[1]).sum() else halves[1]
        assert (mask & ~side).sum() <= 64 * 2  # at most ~a pixel column of spill along the edge


def test_image_segment_layouts_are_deterministic() -> None:
    sharp = np.clip(np.random.default_rng(10).uniform(0, 1, size=(64, 64, 3)), 0, 1).astype(np.float32)
    config = SynthConfig(occluder_prob=1.0, segment_occluder_prob=1.0, max_radius=6.0)
    np.testing.assert_array_equal(synthesize_pair(sharp, 3, config).blurred, synthesize_pair(sharp, 3, config).blurred)


def test_core_psf_is_a_disc_with_a_concentrated_centre() -> None:
    """core=c puts share c of the light in a disc of core_size * radius, the rest in the full disc."""
    radius, share, size_ratio = 10.0, 0.3, 0.2
    kernel = psf_kernel(radius, PsfShape(softness=0.5, core=share, core_size=size_ratio))
    yy, xx = np.mgrid[0 : kernel.shape[0], 0 : kernel.shape[1]] - kernel.shape[0] // 2
    dist = np.hypot(yy, xx)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    halo_height = (1.0 - share) / (math.pi * radius**2)
    assert np.allclose(kernel[(dist > 4) & (dist < radius - 1.5)], halo_height, rtol=0.05)  # flat halo
    # Light within 3 px: the halo's share of that area plus the whole core (core radius 2 px).
    inner = kernel[dist <= 3.0].sum()
    assert inner == pytest.approx(share + halo_height * (dist <= 3.0).sum(), abs=0.01)


@pytest.mark.parametrize("min_scaled_radius", [0.0, 4.0])
def test_core_psf_renders_as_its_kernel(min_scaled_radius: float) -> None:
    """render_layers (halo and core at their own resolutions) images a point as psf_kernel does."""
    size = 81
    radius = float(radius_levels(12.0)[-2])  # exactly a table level: no blend of two kernels
    shape = PsfShape(softness=0.5, core=0.25, core_size=0.2)
    image = np.zeros((size, size, 3), dtype=np.float32)
    image[size // 2, size // 2] = 1.0
    layer = BlurLayer(_full((size, size), 1.0), _full((size, size), radius))
    out = render_layers(image, [layer], shape, max_radius=12.0, min_scaled_radius=min_scaled_radius)[..., 0]
    kernel = psf_kernel(radius, shape)
    half = kernel.shape[0] // 2
    expected = np.zeros((size, size), dtype=np.float32)
    expected[size // 2 - half : size // 2 + half + 1, size // 2 - half : size // 2 + half + 1] = kernel
    assert out.sum() == pytest.approx(1.0, rel=4e-3)
    tolerance = 1e-6 if min_scaled_radius == 0.0 else 0.35 * expected.max()  # the reduced path softens edges
    assert np.abs(out - expected).max() <= tolerance
    assert out[size // 2, size // 2] > 5 * out[size // 2, size // 2 + 8]  # the bright core survives


def test_camera_sharpening_boosts_edges_and_keeps_flat_areas() -> None:
    from fdikp_cli.synth.noise import unsharp_mask

    edge = np.full((32, 32, 3), 0.3, dtype=np.float32)
    edge[:, 16:] = 0.6
    sharpened = unsharp_mask(edge, amount=0.5, sigma=1.0)
    assert sharpened[:, 15].max() < 0.3 - 0.02 and sharpened[:, 16].min() > 0.6 + 0.02  # over- and undershoot
    np.testing.assert_allclose(sharpened[:, :8], 0.3, atol=1e-6)  # far from the edge: unchanged
    np.testing.assert_allclose(sharpened.mean(), edge.mean(), atol=1e-4)  # no brightness change
    np.testing.assert_array_equal(unsharp_mask(edge, 0.0, 1.0), edge)


def test_tone_power_blurs_in_linear_light_raised_to_one_over_p() -> None:
    """p = 1 conserves linear light; p = 2.4 conserves linear ** (1/2.4), so the sRGB mean barely moves."""
    rng = np.random.default_rng(5)
    sharp = np.zeros((80, 80, 3), dtype=np.float32)
    sharp[16:64, 16:64] = rng.choice([0.05, 0.95], size=(48, 48, 3))  # high contrast: where the curves differ
    layers = [BlurLayer(_full((80, 80), 1.0), _full((80, 80), 5.0))]

    def blurred_with(power: float) -> np.ndarray:
        config = dataclasses.replace(CLEAN, tone_power_range=(power, power))
        return synthesize_pair_with_layers(sharp, layers, seed=0, config=config, psf=DISC).blurred

    linear_sharp = srgb_to_linear(sharp)
    assert srgb_to_linear(blurred_with(1.0)).mean() == pytest.approx(linear_sharp.mean(), rel=2e-3)
    working = np.power(srgb_to_linear(blurred_with(2.4)), 1 / 2.4)
    assert working.mean() == pytest.approx(np.power(linear_sharp, 1 / 2.4).mean(), rel=2e-3)
    brightening = {p: blurred_with(p).mean() - sharp.mean() for p in (1.0, 2.4)}
    assert brightening[1.0] > 0.03 and abs(brightening[2.4]) < 0.3 * brightening[1.0]


def test_in_focus_areas_stay_identical_with_the_default_config() -> None:
    """No global gain by default: an in-focus near object equals its target whatever else is blurred."""
    sharp, layers = _sharp_square_before_blurred_background(seed=6, radius=8.0)
    config = SynthConfig(noise_prob=0.0, jpeg_prob=0.0, highlight_prob=0.0)
    for seed in range(4):  # several tone exponents and PSFs
        pair = synthesize_pair_with_layers(sharp, layers, seed=seed, config=config)
        np.testing.assert_allclose(pair.blurred[16:48, 16:48], pair.sharp[16:48, 16:48], atol=2e-5)
