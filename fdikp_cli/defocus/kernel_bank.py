"""The learnable blur-kernel bank: one single-channel kernel per integer blur radius 0..R px.

Spec §2.2: kernel i starts as a Butterworth-profiled disc (a "doughnut": dim centre, bright rim,
soft edge), the symmetric combined dual-pixel PSF of Abuolaim et al. 2021, sized so that it blurs
like a uniform disc of radius i (`KernelBankConfig.calibration`). The
released code leaves the kernels free; we keep every kernel non-negative and summing to one
after any optimizer step (spec gap 4), so a learned PSF cannot drift into negative lobes or
change the image's exposure.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.errors import ConfigError


Calibration = Literal["moment", "support"]


@dataclass(frozen=True)
class KernelBankConfig:
    """Radii and the Butterworth initialisation. Defaults are the spec's (§2.2) unless noted."""

    # Largest radius (px). The spec's bank stops at 24; issue 12 asks for >= 30 because the
    # synthetic engine goes to 30 px (architecture.md, "Synthetic defocus").
    max_radius: int = 30
    # Butterworth high-pass rho^(2n) / (1 + rho^(2n)), rho = r / D0, D0 = 2 s / cutoff.
    order: int = 3
    cutoff: float = 2.5
    # The profile is rescaled so that its centre is `centre_floor` and its rim 1.
    centre_floor: float = 0.1
    # Edge softening: Gaussian of size round((2 s + 1) / smoothing) + 1 (made odd).
    smoothing: float = 7.0
    # What "radius i" means (spec gap 3 says only "roughly the disc radius before smoothing").
    # "support" (the spec's code): kernel i is the doughnut whose disc has radius s = i, hard
    # edged; its rim weighting and edge softening make it blur like a uniform disc of ~1.17 i,
    # so a map in these units under-reads a uniform disc of radius 20 as ~17.
    # "moment" (ours, default): kernel i is the same doughnut with its disc radius s chosen so
    # that its second moment equals that of a uniform disc of radius i (anti-aliased edge, so s
    # can be fractional). Its unit is then the circle-of-confusion radius of the uniform disc
    # that `fdikp synth` renders and records in `radius/`, which the estimator of issue 12 is
    # supervised with; equal second moments mean equal loss of contrast at low frequencies.
    calibration: Calibration = "moment"
    # Ours (spec gap): each kernel is averaged with its 180-degree rotation. One unsigned bank
    # serves both sides of the focal plane (spec §7.1), whose PSFs are 180-degree rotations of
    # each other; the symmetry also stops the bank from absorbing a capture misalignment as a
    # shift, which radius 0 (a fixed delta) could not follow.
    point_symmetric: bool = True
    # Ours (spec gap): taps start at no less than this fraction of the kernel's peak, so that
    # log-parameterised taps outside the disc start finite and can grow if the data ask for it.
    # The floor adds 0.3 % of the light at radius 2, under 0.12 % from radius 5 (0.9 % at radius 1,
    # whose 5 x 5 square is mostly outside the disc).
    init_floor: float = 1e-3

    def __post_init__(self) -> None:
        if self.max_radius < 1:
            raise ConfigError(f"kernel bank max_radius must be >= 1, got {self.max_radius}")
        if self.order < 1 or self.cutoff <= 0 or self.smoothing <= 0:
            raise ConfigError("kernel bank order, cutoff and smoothing must be positive")
        if not 0.0 <= self.centre_floor <= 1.0:
            raise ConfigError(f"kernel bank centre_floor must be in [0, 1], got {self.centre_floor}")
        if self.calibration not in ("moment", "support"):
            raise ConfigError(f"kernel bank calibration must be 'moment' or 'support', got {self.calibration!r}")
        if not 0.0 < self.init_floor < 1.0:
            raise ConfigError(f"kernel bank init_floor must be in (0, 1), got {self.init_floor}")


# Sub-samples per pixel and axis of the anti-aliased disc edge ("moment" calibration).
_SUPERSAMPLE = 5


def _gaussian_size(support: float, smoothing: float) -> int:
    """Size of the edge-softening Gaussian (odd). Python's round, as in the released code."""
    size = round((2 * support + 1) / smoothing) + 1
    return size + 1 if size % 2 == 0 else size


def _doughnut_parts(support: float, config: KernelBankConfig, antialias: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The rim-weighted disc (side, side) and the 1-D softening Gaussian (g,), both float64."""
    half = math.ceil(support + 0.5) if antialias else math.ceil(support - 1e-9)
    sub = _SUPERSAMPLE if antialias else 1
    offsets = (torch.arange(sub, dtype=torch.float64) + 0.5) / sub - 0.5
    axis = (torch.arange(-half, half + 1, dtype=torch.float64)[:, None] + offsets[None, :]).reshape(-1)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    r2 = xx**2 + yy**2
    # High-pass Butterworth in rho^2 = r^2 / D0^2: dark centre, bright rim; rescaled over the
    # square as in the released code.
    d0 = 2.0 * support / config.cutoff
    e = (r2 / d0**2) ** config.order
    profile = e / (1.0 + e)
    profile = config.centre_floor + (1.0 - config.centre_floor) * (profile - profile.min()) / (profile.max() - profile.min())
    disc = (r2 <= support * support).to(torch.float64) * profile
    side = 2 * half + 1
    disc = disc.reshape(side, sub, side, sub).mean((1, 3))  # back to pixels
    # OpenCV's default-sigma rule for the Gaussian's size.
    g = _gaussian_size(support, config.smoothing)
    sigma = 0.3 * ((g - 1) / 2 - 1) + 0.8
    taps = torch.arange(g, dtype=torch.float64) - g // 2
    g1 = torch.exp(-(taps**2) / (2 * sigma**2))
    return disc, g1 / g1.sum()


def butterworth_doughnut(support: float, config: KernelBankConfig = KernelBankConfig(),
                         antialias: bool = False) -> torch.Tensor:
    """The spec's Butterworth-profiled disc of disc radius `support` px, summing to one (float64).

    Spec §2.2: high-pass Butterworth profile rescaled to [centre_floor, 1] (dim centre, bright
    rim), cut by the disc, its edge softened by a small Gaussian spreading into a zero pad.
    `antialias`: the disc edge by pixel coverage (for fractional radii) instead of the hard
    x^2 + y^2 <= s^2 test. Shape: -> (W, W), W odd; a support under 0.5 px is the 1 x 1 delta.
    """
    if support < 0.5:
        return torch.ones(1, 1, dtype=torch.float64)
    disc, g1 = _doughnut_parts(support, config, antialias)
    pad = g1.shape[0] // 2
    kernel = F.pad(disc, (pad, pad, pad, pad))[None, None]
    kernel = F.conv2d(kernel, g1.view(1, 1, 1, -1), padding=(0, pad))
    kernel = F.conv2d(kernel, g1.view(1, 1, -1, 1), padding=(pad, 0))[0, 0]  # (W, W)
    return kernel / kernel.sum()


def _second_moment(kernel: torch.Tensor) -> float:
    """E[x^2 + y^2] of a non-negative (W, W) kernel about its centre (px^2)."""
    half = kernel.shape[-1] // 2
    steps = torch.arange(-half, half + 1, dtype=torch.float64, device=kernel.device)
    yy, xx = torch.meshgrid(steps, steps, indexing="ij")
    weights = kernel.detach().double()
    return float((weights * (xx**2 + yy**2)).sum() / weights.sum())


@functools.lru_cache(maxsize=None)
def moment_support(radius: int, config: KernelBankConfig) -> float:
    """The disc radius s whose anti-aliased doughnut has the second moment of a uniform disc
    of radius `radius` (E[x^2 + y^2] = radius^2 / 2), by bisection. Convolving adds second
    moments, so the Gaussian's share (2 var per axis) is added without convolving."""
    target = radius * radius / 2.0

    def moment(support: float) -> float:
        disc, g1 = _doughnut_parts(support, config, antialias=True)
        taps = torch.arange(g1.shape[0], dtype=torch.float64) - g1.shape[0] // 2
        return _second_moment(disc) + 2.0 * float((g1 * taps**2).sum())

    low, high = 0.5, 1.5 * radius + 1.0
    for _ in range(30):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if moment(mid) < target else (low, mid)
    # The Gaussian's size jumps with s (radius 2 sits on such a jump): take the closer side.
    return min((low, high), key=lambda s: abs(moment(s) - target))


def butterworth_disc(radius: int, config: KernelBankConfig = KernelBankConfig(),
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The bank's initial kernel for integer radius `radius`, summing to one.

    Shape: -> (W, W). Radius 0 is the 1 x 1 delta. With calibration "support" this is the spec's
    kernel exactly, widths 1, 3, 7, 9, 11, ..., 55, 57 for i = 0..24 (spec §2.2).
    """
    if radius == 0:
        return torch.ones(1, 1, dtype=dtype)
    if config.calibration == "support":
        return butterworth_doughnut(float(radius), config).to(dtype)
    return butterworth_doughnut(moment_support(radius, config), config, antialias=True).to(dtype)


class KernelBank(nn.Module):
    """Kernels for radii 0..R, each non-negative and summing to one whatever its parameters.

    Parameterisation: kernel = softmax over its taps of free logits (then, by default, averaged
    with its 180-degree rotation). Softmax rather than the spec's softplus(theta) / sum (gap 4):
    both are positive and normalised by construction, but softmax is scale-free: an Adam step
    changes every tap by about the same *factor*, whether the tap is the rim's peak or 1e-3 of
    it, whereas softplus steps are additive in units that depend on how the initial kernel was
    scaled. A projection after each step (clamp + renormalise) would need the optimizer's
    cooperation; a reparameterisation cannot be broken by any optimizer.

    Radius 0 is the delta kernel, a fixed buffer: in focus means identity (spec §2.2, §7.4).
    """

    def __init__(self, config: KernelBankConfig = KernelBankConfig(), device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.config = config
        logits = []
        for radius in range(1, config.max_radius + 1):
            init = butterworth_disc(radius, config)
            init = init.clamp(min=config.init_floor * float(init.max()))
            logits.append(nn.Parameter(torch.log(init).to(device=device, dtype=dtype)))
        self.logits = nn.ParameterList(logits)  # logits[i - 1]: (W_i, W_i) for radius i
        self.register_buffer("delta", torch.ones(1, 1, device=device, dtype=dtype))

    @property
    def max_radius(self) -> int:
        return self.config.max_radius

    def kernel(self, radius: int) -> torch.Tensor:
        """The kernel of one integer radius. Shape: -> (W, W), non-negative, sum 1."""
        if not 0 <= radius <= self.config.max_radius:
            raise ValueError(f"radius {radius} outside the bank's 0..{self.config.max_radius}")
        if radius == 0:
            return self.delta
        logits = self.logits[radius - 1]
        kernel = torch.softmax(logits.reshape(-1), dim=0).reshape(logits.shape)
        if self.config.point_symmetric:
            kernel = 0.5 * (kernel + kernel.flip(-2, -1))
        return kernel

    def half_width(self, radius: int) -> int:
        """How far kernel `radius` reaches from its centre (px)."""
        return 0 if radius == 0 else self.logits[radius - 1].shape[-1] // 2

    def extra_repr(self) -> str:
        taps = sum(p.numel() for p in self.logits)
        return f"radii 0..{self.config.max_radius}, {taps} taps, point_symmetric={self.config.point_symmetric}"


def effective_radius(kernel: torch.Tensor) -> float:
    """Radius (px) of the uniform disc with the same second moment as `kernel`: sqrt(2 E[r^2]).

    A summary for logs and docs: how wide a learned kernel has become. Shape: (W, W) -> float.
    """
    return math.sqrt(2.0 * _second_moment(kernel))
