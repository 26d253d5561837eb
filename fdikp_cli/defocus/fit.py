"""Fitting blur radii to real (blurred, sharp) pairs with the reblur operator.

- `fit_radius_map`: a per-pixel radius map (and optionally the kernel bank) that makes
  reblur(sharp, map) reproduce the blurred capture. The objective is the spec's map-stage loss
  (§2.4): L1 of the reblur + an anisotropic total variation of the map; with learnable kernels
  the map and the kernels are updated alternately, never together (spec §2.4: E for 10
  epochs, then K / E / K / E in blocks of 5).
- `best_single_radius`: the baseline, one radius per image (exhaustive over the integer radii,
  then the exact best point between the neighbouring ones).

No network here: this is the per-image optimum the estimator of issue 12 can be measured
against, and the tool that shows whether learned kernels help.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from fdikp_cli.defocus.fft_conv import SharedSpectrum
from fdikp_cli.defocus.kernel_bank import KernelBank
from fdikp_cli.defocus.reblur import blend, blur_stack, needed_radii
from fdikp_cli.errors import ConfigError
from fdikp_cli.lowpass import gaussian_lowpass

# progress(phase, step, steps, loss): phase is "map" or "kernels", step counts from 1.
Progress = Callable[[str, int, int, float], None]


@dataclass(frozen=True)
class FitConfig:
    """Objective and schedule of `fit_radius_map`."""

    # Weight of the map's total variation (mean over pixels of |dr/dx| + |dr/dy|, in px)
    # against the mean absolute reblur error (intensities in [0, 1]). Ours: the spec's
    # 1000 * mean L1 + 1e-5 * summed TV is ~0.03 for its batch of four 512^2 patches but grows
    # with batch and patch size (a sum against a mean); per image, with no network to smooth
    # the map, this value was chosen on a DPDD *train* pair (docs/architecture.md).
    tv_weight: float = 0.002
    # Adam step sizes: map in px per step, kernels in log-tap units per step.
    map_lr: float = 0.1
    kernel_lr: float = 0.02
    # Steps of the alternating phases, starting with the map: map, kernels, map, kernels, map.
    # The spec's 10 / 5 / 5 / 5 / 5+ epochs. Without learnable kernels the kernel phases are
    # skipped and the map gets the same number of steps.
    phases: tuple[int, ...] = (200, 50, 100, 50, 100)
    # Ours (spec gap: the spec trains a network, it never fits one map): the map starts from
    # the best integer radius of a Gaussian window (sigma px) around each pixel, refined by a
    # parabola. The per-pixel error is not convex in r (a disc's spectrum has zeros), so
    # gradient descent from a constant map stops in the wrong valley.
    init_window: float = 4.0

    def __post_init__(self) -> None:
        if self.tv_weight < 0 or self.map_lr <= 0 or self.kernel_lr <= 0 or self.init_window <= 0:
            raise ConfigError("fit: tv_weight must be >= 0; map_lr, kernel_lr and init_window > 0")
        if not self.phases or any(s < 0 for s in self.phases):
            raise ConfigError(f"fit: phases must be step counts >= 0, got {self.phases}")


@dataclass
class FitResult:
    """A fitted map, the bank it was fitted with (a learned copy, or the caller's own bank),
    and the mean loss of each phase's last step."""

    radius: torch.Tensor  # (B, 1, H, W) px, detached
    bank: KernelBank
    history: list[tuple[str, float]] = field(default_factory=list)


def total_variation(radius_map: torch.Tensor) -> torch.Tensor:
    """Anisotropic TV: mean over pixels of |horizontal| + |vertical| difference (px).

    Shape: (B, 1, H, W) -> scalar.
    """
    b, _, h, w = radius_map.shape
    dx = (radius_map[..., :, 1:] - radius_map[..., :, :-1]).abs().sum()
    dy = (radius_map[..., 1:, :] - radius_map[..., :-1, :]).abs().sum()
    return (dx + dy) / (b * h * w)


def _check_pair(blurred: torch.Tensor, sharp: torch.Tensor, bank: KernelBank) -> None:
    if blurred.dim() != 4 or blurred.shape != sharp.shape:
        raise ValueError(f"expected blurred and sharp of one shape (B, C, H, W), got {tuple(blurred.shape)} and {tuple(sharp.shape)}")
    if blurred.dtype != sharp.dtype or blurred.device != sharp.device:
        raise ValueError("blurred and sharp must share dtype and device")
    bank_param = bank.logits[0]
    if bank_param.dtype != sharp.dtype or bank_param.device != sharp.device:
        raise ValueError(f"the kernel bank is {bank_param.dtype} on {bank_param.device}, the images {sharp.dtype} on {sharp.device}")


def local_radius_search(stack: torch.Tensor, radii: list[int], blurred: torch.Tensor, window: float) -> torch.Tensor:
    """Per pixel, the radius whose reblur fits best in a Gaussian window around it.

    Shape: stack (N, B, C, H, W) blurred at consecutive integer `radii`, blurred (B, C, H, W)
    -> (B, 1, H, W) px. The integer winner is refined by the vertex of the parabola through its
    neighbours' errors (at most half a step either way).
    """
    errors = torch.stack([gaussian_lowpass((layer - blurred).abs().sum(1, keepdim=True), window) for layer in stack])
    best = errors.argmin(0, keepdim=True)  # (1, B, 1, H, W)
    inner = best.clamp(1, len(radii) - 2) if len(radii) >= 3 else best
    e_minus, e_0, e_plus = (torch.gather(errors, 0, inner + k)[0] for k in (-1, 0, 1))
    curvature = e_minus - 2 * e_0 + e_plus
    offset = torch.where(curvature > 0, 0.5 * (e_minus - e_plus) / curvature.clamp(min=1e-12), torch.zeros_like(e_0))
    offset = torch.where(best[0] == inner[0], offset.clamp(-0.5, 0.5), torch.zeros_like(offset))
    base = torch.as_tensor(radii, dtype=blurred.dtype, device=blurred.device)[best[0]]
    return base + offset


def fit_radius_map(blurred: torch.Tensor, sharp: torch.Tensor, bank: KernelBank, config: FitConfig = FitConfig(),
                   learn_kernels: bool = False, init: torch.Tensor | None = None,
                   progress: Progress | None = None) -> FitResult:
    """Fit the radius map r minimising mean |reblur(sharp, r; K) - blurred| + tv_weight * TV(r).

    Shape: blurred, sharp (B, C, H, W) on the bank's device and dtype; init (B, 1, H, W) px or
    None (local search) -> FitResult with radius (B, 1, H, W). With `learn_kernels` a copy of
    `bank` is trained in the kernel phases, shared by the B images; the caller's bank is never
    modified.
    """
    _check_pair(blurred, sharp, bank)
    b, _, h, w = sharp.shape
    if init is not None and init.shape != (b, 1, h, w):
        raise ValueError(f"init map shape {tuple(init.shape)} is not (B, 1, H, W) = {(b, 1, h, w)}")
    max_radius = bank.max_radius
    all_radii = list(range(max_radius + 1))
    if learn_kernels:
        bank = copy.deepcopy(bank)
    with torch.no_grad():
        stack = blur_stack(sharp, bank, all_radii)  # (R + 1, B, C, H, W)
        start = local_radius_search(stack, all_radii, blurred, config.init_window) if init is None else init.to(sharp)
    with torch.enable_grad():  # callers may hold no_grad for their own evaluation
        return _alternate(blurred, sharp, bank, config, start, stack, learn_kernels, progress)


def _alternate(blurred: torch.Tensor, sharp: torch.Tensor, bank: KernelBank, config: FitConfig, start: torch.Tensor,
               stack: torch.Tensor | None, learn_kernels: bool, progress: Progress | None) -> FitResult:
    """The map and kernel phases of `fit_radius_map`, from the map `start` (B, 1, H, W) and the
    no-grad `stack` of every radius blurred with the bank as it is now."""
    max_radius = bank.max_radius
    all_radii = list(range(max_radius + 1))
    radius = start.detach().clone().clamp(0, max_radius).requires_grad_(True)
    map_optimizer = torch.optim.Adam([radius], lr=config.map_lr)
    kernel_optimizer = torch.optim.Adam(bank.parameters(), lr=config.kernel_lr) if learn_kernels else None
    history: list[tuple[str, float]] = []
    for index, steps in enumerate(config.phases):
        phase = "map" if index % 2 == 0 else "kernels"
        if phase == "kernels" and kernel_optimizer is None:
            continue
        loss_value = float("nan")
        if phase == "map":
            if stack is None:  # first map phase, or the kernels have changed since
                with torch.no_grad():
                    stack = blur_stack(sharp, bank, all_radii)  # (R + 1, B, C, H, W)
            for step in range(steps):
                map_optimizer.zero_grad(set_to_none=True)
                error = (blend(stack, all_radii, radius, max_radius) - blurred).abs().mean()
                loss = error + config.tv_weight * total_variation(radius)
                loss.backward()
                map_optimizer.step()
                with torch.no_grad():
                    radius.clamp_(0, max_radius)
                loss_value = float(loss.detach())
                if progress is not None:
                    progress(phase, step + 1, steps, loss_value)
        else:
            fixed = radius.detach()
            radii = needed_radii(fixed, max_radius)  # only the kernels this map reads get gradients
            for step in range(steps):
                kernel_optimizer.zero_grad(set_to_none=True)
                loss = (blend(blur_stack(sharp, bank, radii), radii, fixed, max_radius) - blurred).abs().mean()
                loss.backward()
                kernel_optimizer.step()
                loss_value = float(loss.detach())
                if progress is not None:
                    progress(phase, step + 1, steps, loss_value)
            stack = None
        history.append((phase, loss_value))
    return FitResult(radius=radius.detach(), bank=bank, history=history)


def best_single_radius(blurred: torch.Tensor, sharp: torch.Tensor, bank: KernelBank) -> torch.Tensor:
    """Per image, the one radius r in [0, R] whose reblur has the smallest mean squared error
    (the highest PSNR, which is how the baseline is scored).

    Exhaustive over the integer radii (one blur alive at a time), then exact between the
    neighbours: on [i, i + 1] the reblur is (1 - f) b_i + f b_{i+1}, so its MSE is a quadratic
    in f with a closed-form minimum. Shape: (B, C, H, W) x 2 -> (B,) px.
    """
    _check_pair(blurred, sharp, bank)
    max_radius = bank.max_radius
    with torch.no_grad():
        spectrum = SharedSpectrum(sharp, bank.half_width(max_radius))

        def blurred_at(r: int) -> torch.Tensor:  # (B, C, H, W)
            return sharp if r == 0 else spectrum.blur(bank.kernel(r))

        mse = torch.stack([((blurred_at(r) - blurred) ** 2).mean((1, 2, 3)) for r in range(max_radius + 1)])  # (R + 1, B)
        best_integer = mse.argmin(0)  # (B,)
        result = best_integer.to(sharp.dtype)
        for i in range(sharp.shape[0]):
            k = int(best_integer[i])
            best_error = float(mse[k, i])
            target = blurred[i : i + 1]
            for low in (k - 1, k):
                if low < 0 or low + 1 > max_radius:
                    continue
                below = blurred_at(low)[i : i + 1] - target
                step = blurred_at(low + 1)[i : i + 1] - blurred_at(low)[i : i + 1]
                # mean((below + f step)^2) = a + 2 f c + f^2 d
                c, d = float((below * step).mean()), float((step * step).mean())
                f = min(max(-c / d, 0.0), 1.0) if d > 0 else 0.0
                error = float((below**2).mean()) + 2 * f * c + f * f * d
                if error < best_error:
                    best_error, result[i] = error, low + f
    return result
