"""SynthConfig: every option of the synthetic defocus engine, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from fdikp_cli.errors import ConfigError


@dataclass(frozen=True)
class SynthConfig:
    """Options of `synthesize_pair`. Radii are in pixels at the resolution of the image given.

    Blur strength
      max_radius: the largest circle-of-confusion radius (px) any pair can have. The default,
        30 px, is for images at the scale of our DPDD pairs (1024x683, 0.61x the original
        1680x1120): there, in the 38 real train pairs, 97 % of textured 32x32 patches have a
        best-fitting disc radius <= 24 px and 90 % <= 12 px (benchmarks/synth_realism.py);
        half of our PSFs carry a bright core (core_prob) that makes a CoC of radius r blur
        less than a uniform disc of radius r, and 30 px brings the fitted radii and the PSNR
        of synthetic pairs back to the real ones (median / p90 6 / 16 px both). Training
        crops are cut from photos at that scale, so the blur seen per crop in training is the
        blur of real photos at inference resolution. Photos at another scale s (relative to
        1024 px wide) should use about 30 * s, or be resized first.
      radius_power: the largest radius of one image is max_radius * u ** radius_power with u
        uniform in [min_radius_fraction, 1]; > 1 favours mild blur, < 1 strong blur.
      focus_on_surface_prob: probability that the focus lies on a visible surface (else
        anywhere in the scene's depth range).
    Layout
      max_occluders, occluder_prob: up to this many occluding shapes, present with this probability.
      background_tilt, background_wobble: strength of the background's depth ramp and waviness.
      segment_occluder_prob: probability that an occluder is a region of the photo itself
        (colour segment, so depth edges follow object edges) rather than a random shape.
    PSF (probabilities of the kernel shapes; the rest is a plain soft disc)
      polygon_prob, gaussian_prob, cat_eye_prob, rim_prob, softness_range.
      core_prob: probability of a concentrated core (share of energy in core_range, core radius
        core_size_range times the PSF's) inside the wider halo.
    Highlights
      highlight_prob, highlight_gain_range, highlight_threshold: saturated pixels (brightest
      sRGB channel above the threshold) get up to gain x more linear light before the blur.
    Noise and compression
      noise_prob: probability of adding sensor noise; its std at mid grey is the sharp target's
        own estimated noise times a factor in noise_match_range, at least noise_floor_range.
      sharpen_prob, sharpen_amount_range, sharpen_sigma_range: an unsharp mask on the blurred
        photo only, after the noise. Off by default: sharpening is nearly linear and commutes
        with the blur, so real pairs carry it on both sides; on one side it makes in-focus
        areas differ from their targets, and a model trained so softened sharp real photos.
      jpeg_prob, jpeg_quality_range.
    Speed
      min_scaled_radius: large radii are blurred at 1/2 or 1/4 resolution keeping the scaled
        radius >= this (0 disables; results then use full resolution for every level).
    """

    max_radius: float = 30.0
    min_radius_fraction: float = 0.1
    radius_power: float = 1.0
    focus_on_surface_prob: float = 0.8
    max_occluders: int = 3
    occluder_prob: float = 0.7
    background_tilt: float = 0.8
    background_wobble: float = 0.15
    segment_occluder_prob: float = 0.5
    polygon_prob: float = 0.15
    gaussian_prob: float = 0.05
    cat_eye_prob: float = 0.2
    rim_prob: float = 0.2
    softness_range: tuple[float, float] = (0.3, 1.0)
    core_prob: float = 0.5
    core_range: tuple[float, float] = (0.1, 0.35)
    core_size_range: tuple[float, float] = (0.1, 0.3)
    highlight_prob: float = 0.7
    highlight_gain_range: tuple[float, float] = (1.5, 6.0)
    highlight_threshold: float = 0.97
    noise_prob: float = 0.9
    noise_match_range: tuple[float, float] = (0.8, 1.2)
    noise_floor_range: tuple[float, float] = (0.001, 0.003)
    sharpen_prob: float = 0.0
    sharpen_amount_range: tuple[float, float] = (0.2, 0.8)
    sharpen_sigma_range: tuple[float, float] = (0.7, 1.5)
    jpeg_prob: float = 0.2
    jpeg_quality_range: tuple[int, int] = (85, 98)
    min_scaled_radius: float = 4.0
    # Blur in linear light raised to 1/p, p uniform in this range (1: physical linear light;
    # 2.4: about the sRGB-encoded values). Real photos are not encoded with the exact sRGB
    # curve (camera tone curves differ), so how much defocus brightens high-contrast areas in
    # the encoded photo is uncertain: linear light alone brightens blurred crops by ~4/255 on
    # average, far more than real defocus pairs show.
    tone_power_range: tuple[float, float] = (1.0, 2.4)
    # Scale the blurred light by one global gain so its sRGB mean equals the target's. Off by
    # default: the gain also changes in-focus areas, which then differ from the target by a
    # brightness a model cannot see locally; a model trained so shifted the colour of real
    # validation crops by up to 1.9/255. tone_power_range handles the brightening instead.
    match_exposure: bool = False
    # A defocus-map weights file (`fdikp train-defocus-map`) whose learnt kernel bank replaces
    # the random parametric PSFs (synth/learned_psf.py: blur shaped like the real camera's).
    # "": the engine's own PSFs.
    kernel_bank: str = ""

    def __post_init__(self) -> None:
        if not self.max_radius >= 0.0:
            raise ConfigError(f"max_radius must be >= 0, got {self.max_radius}")
        if not 0.0 <= self.min_radius_fraction <= 1.0:
            raise ConfigError(f"min_radius_fraction must be in [0, 1], got {self.min_radius_fraction}")
        if not self.radius_power > 0.0:
            raise ConfigError(f"radius_power must be > 0, got {self.radius_power}")
        if self.max_occluders < 0:
            raise ConfigError(f"max_occluders must be >= 0, got {self.max_occluders}")
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.endswith("_prob") and not 0.0 <= value <= 1.0:
                raise ConfigError(f"{field.name} must be a probability in [0, 1], got {value}")
            if field.name.endswith("_range") and not (len(value) == 2 and value[0] <= value[1]):
                raise ConfigError(f"{field.name} must be (low, high) with low <= high, got {value}")
        if not self.tone_power_range[0] > 0.0:
            raise ConfigError(f"tone_power_range must be positive, got {self.tone_power_range}")
        if self.polygon_prob + self.gaussian_prob > 1.0:
            raise ConfigError("polygon_prob + gaussian_prob must be <= 1")
        if not 0.0 < self.highlight_threshold <= 1.0:
            raise ConfigError(f"highlight_threshold must be in (0, 1], got {self.highlight_threshold}")
        q_low, q_high = self.jpeg_quality_range
        if not 1 <= q_low <= q_high <= 100:
            raise ConfigError(f"jpeg_quality_range must lie in [1, 100], got {self.jpeg_quality_range}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SynthConfig":
        """Build from {field: value} (lists accepted for ranges); unknown keys are an error."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown synthetic-defocus configuration keys: {', '.join(unknown)}")
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)
