"""The defocus adversarial loss (DefocusGAN, spec §3 and §7.3) as pure functions.

WGAN-GP with the critic's loss weighted by a defocus map m (pixels of blur, >= 0):

    critic:     mean(Δ) + α·mean(Δ ⊙ m↓) + λ_gp·GP,    Δ = D(fake) - D(real)   (per patch)
    generator:  -mean D(fake)                          (not map-weighted, as the reference)

m↓ is m resized to the score map by nearest neighbour (as the reference), so a patch whose
centre is blurred counts up to 1 + α·max(m) times as much as a sharp one: the critic is pushed
to tell restored from real texture hardest where the photo was most blurred. Where m = 0 the
weighted term adds nothing. GP (Gulrajani et al. 2017): one mixing weight per sample (the
reference draws one per batch; per sample covers more of the segment between the pairs), the
gradient norm taken over the channels at each pixel, (norm - 1)² averaged.

Critic "accuracy" (for the collapse check, fdikp_cli.training.adversarial): the fraction of
score positions where D(real) > D(fake). A WGAN critic has no threshold of its own; this is a
comparison of the two score maps at the same positions.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def resize_weight_map(weight_map: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of a defocus map to the critic's score map.
    Shape: (B, 1, H, W) -> (B, 1, *size)."""
    if weight_map.dim() != 4 or weight_map.shape[1] != 1:
        raise ValueError(f"the weight map must be (B, 1, H, W), got {tuple(weight_map.shape)}")
    return F.interpolate(weight_map, size=size, mode="nearest")


def defocus_critic_loss(score_fake: torch.Tensor, score_real: torch.Tensor, weight_map: torch.Tensor | None,
                        alpha: float) -> torch.Tensor:
    """mean(Δ) + α·mean(Δ ⊙ m↓) without the gradient penalty.

    Shape: score_fake, score_real (B, 1, h, w); weight_map (B, 1, H, W) at image resolution, or
    None (unweighted WGAN) -> scalar. The map is detached: it weighs, it is not trained here.
    """
    if score_fake.shape != score_real.shape:
        raise ValueError(f"score maps differ: {tuple(score_fake.shape)} vs {tuple(score_real.shape)}")
    delta = score_fake - score_real  # (B, 1, h, w): positive where the critic prefers the fake
    loss = delta.mean()
    if weight_map is not None and alpha != 0:
        m = resize_weight_map(weight_map.detach().to(delta.dtype), tuple(delta.shape[-2:]))  # (B, 1, h, w)
        loss = loss + alpha * (delta * m).mean()
    return loss


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     mix: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: mean over samples and pixels of (|∇_x D(x)|_channels - 1)², x = mix·real + (1-mix)·fake.

    Shape: real, fake (B, 3, H, W); mix (B,) in [0, 1] (drawn by the caller, so its RNG is the
    caller's) -> scalar, differentiable w.r.t. the critic's parameters (create_graph).
    """
    mix = mix.view(-1, 1, 1, 1).to(real.dtype)
    points = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)  # (B, 3, H, W)
    scores = critic(points)
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)  # (B, 3, H, W)
    norm = grad.square().sum(dim=1).add(1e-12).sqrt()  # (B, H, W); eps keeps the sqrt differentiable at 0
    return (norm - 1).square().mean()


def generator_adversarial_loss(score_fake: torch.Tensor) -> torch.Tensor:
    """-mean D(fake). Shape: (B, 1, h, w) -> scalar."""
    return -score_fake.mean()


def critic_accuracy(score_fake: torch.Tensor, score_real: torch.Tensor) -> float:
    """Fraction of score positions where the real patch scores higher than the restored one."""
    return float((score_real > score_fake).float().mean())
