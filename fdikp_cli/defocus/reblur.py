"""The reblur operator R(S, r; K): the sharp image blurred at every pixel by the kernel of that
pixel's blur radius, interpolating linearly between the two neighbouring integer radii.

Spec §2.3 (one unsigned bank, §7.1): for r in [i, i + 1],
    R(S, r)(x) = (1 - f) (K_i * S)(x) + f (K_{i+1} * S)(x),   f = r - i,
i.e. hat weights max(0, 1 - |r - i|) that sum to one. The result is differentiable in r (inside
a bin the derivative is (K_{i+1} - K_i) * S) and in every kernel tap.

Cost: every integer radius the map needs is blurred over the whole image once (one shared
forward FFT, then one kernel transform and one inverse FFT per radius; `fft_conv`), then each
pixel reads its two radii. For a 1024 x 683 RGB image every radius costs one 8.4 MB float32
image: all 31 radii 0..30 hold 260 MB, kept for the backward pass when gradients are needed.
Radii no pixel touches are never computed. Borders are reflected (spec gap 5: zero padding
darkens them). Radius 0 is the sharp image itself, so a zero map returns `sharp` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fdikp_cli.defocus.fft_conv import SharedSpectrum
from fdikp_cli.defocus.kernel_bank import KernelBank


def _bins(radius_map: torch.Tensor, max_radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower integer radius i and fraction f of every pixel, r clamped to [0, R].

    i stops at R - 1 so that r = R reads (f = 1) K_R, and the derivative at every integer r is
    the one-sided difference K_{i+1} - K_i rather than zero: a map fitted from integer
    starting values can move. Shape: (B, 1, H, W) -> (B, 1, H, W) int64, (B, 1, H, W).
    """
    r = radius_map.clamp(0.0, float(max_radius))
    low = r.detach().floor().clamp(max=max_radius - 1)
    return low.long(), r - low


def needed_radii(radius_map: torch.Tensor, max_radius: int) -> list[int]:
    """The integer radii that `blend` reads for this map, ascending."""
    low, _ = _bins(radius_map, max_radius)
    present = torch.unique(low)
    return sorted(set(present.tolist()) | set((present + 1).tolist()))


def blur_stack(sharp: torch.Tensor, bank: KernelBank, radii: Sequence[int]) -> torch.Tensor:
    """`sharp` blurred with each kernel of `radii`.

    Shape: sharp (B, C, H, W) -> (N, B, C, H, W), N = len(radii). Differentiable in the kernels.
    """
    radii = list(radii)
    if not radii:
        raise ValueError("blur_stack needs at least one radius")
    reach = max(bank.half_width(r) for r in radii)
    spectrum = SharedSpectrum(sharp, reach) if reach > 0 else None
    layers = [sharp if r == 0 else spectrum.blur(bank.kernel(r)) for r in radii]
    return torch.stack(layers)


def blend(stack: torch.Tensor, radii: Sequence[int], radius_map: torch.Tensor, max_radius: int) -> torch.Tensor:
    """Per pixel, the linear interpolation between the two stack layers that bracket its radius.

    Shape: stack (N, B, C, H, W) with layer n blurred at radius radii[n], radius_map (B, 1, H, W)
    in px -> (B, C, H, W). `max_radius` is the bank's R (the map is clamped to [0, R]); every
    radius in needed_radii(radius_map, max_radius) must be in `radii`.
    """
    n, b, c, h, w = stack.shape
    if radius_map.shape != (b, 1, h, w):
        raise ValueError(f"radius map shape {tuple(radius_map.shape)} does not fit the stack's (B, 1, H, W) = {(b, 1, h, w)}")
    if len(radii) != n:
        raise ValueError(f"{len(radii)} radii for a stack of {n} layers")
    # Lookup from integer radius to stack layer; -1 marks radii the stack lacks.
    lookup = torch.full((max_radius + 1,), -1, dtype=torch.long, device=stack.device)
    lookup[torch.as_tensor(list(radii), dtype=torch.long, device=stack.device)] = torch.arange(n, device=stack.device)
    low, frac = _bins(radius_map, max_radius)
    low_layer, high_layer = lookup[low], lookup[low + 1]  # (B, 1, H, W)
    if bool((low_layer < 0).any()) or bool((high_layer < 0).any()):
        raise ValueError("the radius map needs radii the stack was not blurred with (see needed_radii)")
    expand = (1, b, c, h, w)
    below = torch.gather(stack, 0, low_layer.unsqueeze(0).expand(expand))[0]  # (B, C, H, W)
    above = torch.gather(stack, 0, high_layer.unsqueeze(0).expand(expand))[0]
    return below + frac * (above - below)


def reblur(sharp: torch.Tensor, radius_map: torch.Tensor, bank: KernelBank) -> torch.Tensor:
    """R(S, r; K): `sharp` blurred per pixel by `radius_map` (px) with the bank's kernels.

    Shape: sharp (B, C, H, W), radius_map (B, 1, H, W) -> (B, C, H, W). Map values outside
    [0, R] are clamped. Differentiable in the map and in the bank.
    """
    if sharp.dim() != 4 or radius_map.dim() != 4 or radius_map.shape[1] != 1:
        raise ValueError(f"expected sharp (B, C, H, W) and radius map (B, 1, H, W), got {tuple(sharp.shape)} and {tuple(radius_map.shape)}")
    if radius_map.shape[0] != sharp.shape[0] or radius_map.shape[-2:] != sharp.shape[-2:]:
        raise ValueError(f"radius map {tuple(radius_map.shape)} does not match the image {tuple(sharp.shape)}")
    radii = needed_radii(radius_map, bank.max_radius)
    return blend(blur_stack(sharp, bank, radii), radii, radius_map, bank.max_radius)
