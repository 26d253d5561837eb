"""synthesize_pair: a sharp photo in, a realistic defocused photo of the same scene out.

Steps (each in its own module): sRGB -> linear light with highlight recovery (srgb), a random
depth layout and thin-lens circle of confusion (depth), a random lens PSF (psf), layered
spatially varying blur with occlusion (render), sensor noise and JPEG (noise), linear -> sRGB.
Everything random comes from one numpy Generator, so a seed fixes the pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fdikp_cli.synth.config import SynthConfig
from fdikp_cli.synth.depth import LayoutOptions, choose_focus, coc_layers, random_layout, visible_radius
from fdikp_cli.synth.learned_psf import learned_psf
from fdikp_cli.synth.noise import add_sensor_noise, estimate_noise_sigma, jpeg_roundtrip, unsharp_mask
from fdikp_cli.synth.psf import PsfShape
from fdikp_cli.synth.render import BlurLayer, PsfSource, render_layers
from fdikp_cli.synth.srgb import linear_to_srgb, recover_highlights, srgb_to_linear


@dataclass(frozen=True)
class SynthPair:
    """A synthetic training pair.

    blurred: (H, W, 3) float32 in [0, 1], the defocused, noisy input.
    sharp: (H, W, 3) float32 in [0, 1], the target (the input photo; it differs from it only
        where highlight recovery brightened near-saturated pixels, which then clip to white).
    radius: (H, W) float32, circle-of-confusion radius in px of the front-most surface.
    """

    blurred: np.ndarray
    sharp: np.ndarray
    radius: np.ndarray


def _generator(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_image(sharp: np.ndarray) -> np.ndarray:
    if not isinstance(sharp, np.ndarray) or sharp.ndim != 3 or sharp.shape[2] != 3:
        raise ValueError(f"sharp must be an (H, W, 3) array, got {getattr(sharp, 'shape', type(sharp))}")
    if sharp.shape[0] < 2 or sharp.shape[1] < 2:
        raise ValueError(f"sharp must be at least 2x2 pixels, got {sharp.shape}")
    return np.clip(sharp.astype(np.float32, copy=False), 0.0, 1.0)


def random_psf_shape(rng: np.random.Generator, config: SynthConfig) -> PsfShape:
    """A lens: disc by default, sometimes polygonal or Gaussian-like, sometimes cat-eye or rimmed."""
    draw = rng.random()
    if draw < config.polygon_prob:
        kind = "polygon"
    elif draw < config.polygon_prob + config.gaussian_prob:
        kind = "gaussian"
    else:
        kind = "disc"
    return PsfShape(
        kind=kind,
        softness=float(rng.uniform(*config.softness_range)),
        blades=int(rng.integers(5, 10)),
        rotation=float(rng.uniform(0, 2 * math.pi)),
        cat_eye=float(rng.uniform(0.1, 0.4)) if rng.random() < config.cat_eye_prob else 0.0,
        cat_eye_angle=float(rng.uniform(0, 2 * math.pi)),
        rim=float(rng.uniform(-0.6, 0.8)) if rng.random() < config.rim_prob else 0.0,
        core=float(rng.uniform(*config.core_range)) if rng.random() < config.core_prob else 0.0,
        core_size=float(rng.uniform(*config.core_size_range)),
    )


def synthesize_pair(
    sharp: np.ndarray, seed: int | np.random.Generator, config: SynthConfig = SynthConfig()
) -> SynthPair:
    """Defocus a sharp sRGB photo with a random depth layout, lens, noise and compression.

    Shape: sharp (H, W, 3) float32 in [0, 1] -> SynthPair of (H, W, 3), (H, W, 3), (H, W).
    The same seed (int) and config give the same pair.
    """
    image = _check_image(sharp)
    rng = _generator(seed)
    height, width = image.shape[:2]

    layout = random_layout(
        height,
        width,
        rng,
        LayoutOptions(
            config.max_occluders,
            config.occluder_prob,
            config.background_tilt,
            config.background_wobble,
            config.segment_occluder_prob,
        ),
        image=image,
    )
    focus = choose_focus(layout, rng, config.focus_on_surface_prob)
    fraction = rng.uniform(config.min_radius_fraction, 1.0) ** config.radius_power
    layers = coc_layers(layout, focus, config.max_radius * fraction)
    layers = [BlurLayer(layer.mask, np.minimum(layer.radius, config.max_radius)) for layer in layers]
    return synthesize_pair_with_layers(image, layers, rng, config)


def match_srgb_mean(linear: np.ndarray, target_mean: float, iterations: int = 4) -> np.ndarray:
    """Scale linear light by one global gain so that its sRGB encoding has `target_mean`
    (an exposure change, as a camera would make). Shape: (H, W, 3) -> (H, W, 3)."""
    gain = 1.0
    for _ in range(iterations):
        mean = float(linear_to_srgb(linear * gain).mean())
        if mean <= 1e-6:
            break
        # sRGB ~ linear^(1/2.4): a gain g changes the encoded mean by about g^(1/2.4).
        gain *= (target_mean / mean) ** 2.4
    return (linear * gain).astype(np.float32)


def synthesize_pair_with_layers(
    sharp: np.ndarray,
    layers: Sequence[BlurLayer],
    seed: int | np.random.Generator,
    config: SynthConfig = SynthConfig(),
    psf: PsfShape | None = None,
) -> SynthPair:
    """Like synthesize_pair, with a given far-to-near depth layering instead of a random one
    (and optionally a given PSF). Used by tests and by anyone with a real depth map."""
    image = _check_image(sharp)
    rng = _generator(seed)
    shape: PsfShape | PsfSource
    if psf is not None:
        shape = psf
    elif config.kernel_bank:
        shape = learned_psf(config.kernel_bank)
    else:
        shape = random_psf_shape(rng, config)

    linear = srgb_to_linear(image)
    if rng.random() < config.highlight_prob:
        gain = float(rng.uniform(*config.highlight_gain_range))
        linear = recover_highlights(linear, image, config.highlight_threshold, gain)
    target = linear_to_srgb(linear)  # the sharp photo of the same (brightened) light, clipped alike

    max_radius = max(config.max_radius, max(float(layer.radius.max()) for layer in layers))
    power = float(rng.uniform(*config.tone_power_range))
    if power == 1.0:
        blurred_linear = render_layers(linear, layers, shape, max_radius, config.min_scaled_radius)
    else:  # blur in linear light ** (1 / power): an uncertain camera tone curve
        working = np.power(linear, 1.0 / power)
        blurred = render_layers(working, layers, shape, max_radius, config.min_scaled_radius)
        blurred_linear = np.power(np.maximum(blurred, 0.0), power).astype(np.float32)
    if config.match_exposure:
        blurred_linear = match_srgb_mean(blurred_linear, float(target.mean()))

    if rng.random() < config.noise_prob:
        own_noise = estimate_noise_sigma(image) * float(rng.uniform(*config.noise_match_range))
        sigma = max(own_noise, float(rng.uniform(*config.noise_floor_range)))
        blurred_linear = add_sensor_noise(blurred_linear, sigma, float(rng.uniform(0.5, 0.95)), rng)
    blurred = linear_to_srgb(blurred_linear)
    if rng.random() < config.sharpen_prob:
        amount = float(rng.uniform(*config.sharpen_amount_range))
        blurred = unsharp_mask(blurred, amount, float(rng.uniform(*config.sharpen_sigma_range)))
    if rng.random() < config.jpeg_prob:
        low, high = config.jpeg_quality_range
        blurred = jpeg_roundtrip(blurred, int(rng.integers(low, high + 1)))
    return SynthPair(blurred=blurred, sharp=target, radius=visible_radius(list(layers)))
