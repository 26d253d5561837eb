"""Adversarial fine-tuning of FDIKP with the defocus-weighted critic (the perceptual variant).

The trainer composes `AdversarialHook` (a fdikp_cli.training.hook_protocol.StepHook) when
`adversarial.weight > 0`. At every generator step it

  1. reads a defocus map m (B, 1, H, W) of the blurred input from its weight-map source;
  2. trains the critic `critic_steps` times on (restored, sharp) of this batch with the
     defocus-weighted WGAN-GP loss (fdikp_cli.training.adversarial_loss), the restored image
     detached, with its own Adam;
  3. from its `warmup_steps`-th step on (critic-only before: the spec's warm-up, so the critic
     has learnt something before the generator listens to it), returns
     weight · (-mean D(restored)) to be added to the generator's MSE + LPIPS + FFT loss.

Its state (critic, critic optimizer, its own step counter, the collapse streak) is saved in
every checkpoint: a resumed run continues exactly, also across the end of the warm-up. The
counter is the hook's own, not the run's step, so a run that turns the adversarial term on at
a resume (--allow-config-change) starts its warm-up there.

Collapse check: each train_log row carries the critic's accuracy (fraction of score positions
where the real patch outscores the restored one) and its Wasserstein estimate mean D(real) -
D(fake). After the warm-up, `collapse_patience` consecutive rows with the accuracy pinned
(>= 1 - collapse_eps: the restored images are told apart everywhere, the generator's term only
grows; <= collapse_eps: the critic prefers the restored images everywhere) or with a dead
critic (|estimate| < 1e-6: it no longer separates anything) stop the run with CriticCollapsed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn

from fdikp_cli.errors import ConfigError, TrainingDiverged
from fdikp_cli.model.critic import CriticConfig, PatchCritic
from fdikp_cli.training.adversarial_loss import (
    critic_accuracy,
    defocus_critic_loss,
    generator_adversarial_loss,
    gradient_penalty,
)
from fdikp_cli.training.config import AdversarialConfig
from fdikp_cli.training.defocus_weight_maps import (
    EstimatorMaps,
    WeightMapSource,
    dilation_weight_map,
    shared_estimator_maps,
)
from fdikp_cli.training.hook_protocol import StepContext

DEAD_CRITIC = 1e-6  # |mean D(real) - D(fake)| below this: the critic separates nothing


class CriticCollapsed(TrainingDiverged):
    """The critic's accuracy stayed pinned (or it stopped separating) for too many log rows."""


def weight_map_source(config: AdversarialConfig, model: nn.Module, device: torch.device,
                      estimator: EstimatorMaps | None = None) -> WeightMapSource | None:
    """The critic's map source; `estimator` gives the run's shared estimator sources by weights file."""
    if config.weight_map == "dilation":
        return dilation_weight_map(model)
    if config.weight_map == "estimator":
        return (estimator or shared_estimator_maps(device))(config.estimator_weights)
    if config.weight_map == "none":
        return None
    raise ConfigError(f"adversarial.weight_map must be dilation, estimator or none, got {config.weight_map!r}")


class AdversarialHook:
    """The critic, its optimizer and counters; a StepHook (see module docstring)."""

    name = "adversarial"
    log_columns = ("adv", "critic", "gp", "critic_acc", "w_dist", "map_mean")

    def __init__(self, config: AdversarialConfig, critic: PatchCritic, weight_source: WeightMapSource | None,
                 device: torch.device, seed: int = 0) -> None:
        self.config = config
        self.device = device
        self.critic = critic.to(device).train()
        self.weight_source = weight_source
        self.optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr, betas=config.critic_betas)
        self.steps = 0  # generator steps seen by this hook (the warm-up counter)
        self.collapse_streak = 0  # consecutive log rows that looked collapsed
        # The penalty's mixing weights come from a generator of the hook's own, saved with it:
        # the global RNG is also drawn by each new data loader, i.e. at different moments in a
        # resumed run than in an uninterrupted one.
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_config(cls, config: AdversarialConfig, model: nn.Module, device: torch.device,
                    world_size: int = 1, seed: int = 0, estimator: EstimatorMaps | None = None) -> "AdversarialHook":
        if world_size > 1:
            # The critic's gradients would need their own all-reduce (and DDP does not support
            # the double backward of the gradient penalty): not built yet.
            raise ConfigError("adversarial training runs in one process only (not under torchrun yet)")
        critic = PatchCritic(CriticConfig(base_channels=config.critic_channels))
        return cls(config, critic, weight_map_source(config, model, device, estimator), device, seed)

    @property
    def warming_up(self) -> bool:
        return self.steps < self.config.warmup_steps

    def describe(self) -> str:
        c = self.config
        return (f"adversarial: weight {c.weight:g}, critic {sum(p.numel() for p in self.critic.parameters()):,} "
                f"parameters, {c.critic_steps} critic step(s) per step at lr {c.critic_lr:g}, map "
                f"{c.weight_map} (alpha {c.map_alpha:g}), warm-up {c.warmup_steps} critic-only steps"
                + (f" ({max(c.warmup_steps - self.steps, 0)} left)" if self.steps else ""))

    def settings(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def _critic_update(self, fake: torch.Tensor, real: torch.Tensor, weight_map: torch.Tensor | None
                       ) -> dict[str, float]:
        """One critic step. Shape: fake, real (B, 3, H, W) (fake detached); map (B, 1, H, W)."""
        score_fake, score_real = self.critic(fake), self.critic(real)  # (B, 1, h, w) each
        adversarial = defocus_critic_loss(score_fake, score_real, weight_map, self.config.map_alpha)
        mix = torch.rand(real.shape[0], generator=self.generator).to(real.device)  # (B,)
        penalty = gradient_penalty(self.critic, real, fake, mix)
        loss = adversarial + self.config.gp_weight * penalty
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"critic": float(adversarial.detach()), "gp": float(penalty.detach()),
                "critic_acc": critic_accuracy(score_fake.detach(), score_real.detach()),
                "w_dist": float((score_real - score_fake).mean().detach())}

    def extra_loss(self, context: StepContext) -> tuple[torch.Tensor | None, dict[str, float]]:
        # The critic sees what deblur writes: the full-resolution output clamped to [0, 1].
        fake = context.outputs[-1].float().clamp(0, 1)  # (B, 3, H, W), with the generator's graph
        real = context.sharp.float()
        weight_map = self.weight_source(context.blurred) if self.weight_source is not None else None
        stats: dict[str, float] = {}
        for _ in range(self.config.critic_steps):
            for key, value in self._critic_update(fake.detach(), real, weight_map).items():
                stats[key] = stats.get(key, 0.0) + value / self.config.critic_steps
        stats["map_mean"] = float(weight_map.mean()) if weight_map is not None else 0.0
        term = None
        if not self.warming_up:
            self.critic.requires_grad_(False)  # the generator's backward must not touch the critic
            try:
                term = self.config.weight * generator_adversarial_loss(self.critic(fake))
            finally:
                self.critic.requires_grad_(True)
        stats["adv"] = float(term.detach()) if term is not None else 0.0
        self.steps += 1
        return term, stats

    def check_log_row(self, row: dict[str, float], step: int) -> None:
        patience = self.config.collapse_patience
        if patience <= 0 or self.warming_up:
            return
        accuracy, distance = row.get("critic_acc", math.nan), row.get("w_dist", math.nan)
        eps = self.config.collapse_eps
        pinned = accuracy >= 1 - eps or accuracy <= eps
        dead = abs(distance) < DEAD_CRITIC
        self.collapse_streak = self.collapse_streak + 1 if (pinned or dead) else 0
        if self.collapse_streak >= patience:
            what = (f"its accuracy was pinned at {accuracy:.4f}" if pinned
                    else f"it stopped separating restored from real patches (mean D(real) - D(fake) = {distance:.2e})")
            raise CriticCollapsed(
                f"the critic collapsed at step {step}: {what} for {self.collapse_streak} consecutive log rows, "
                "so the adversarial term no longer carries useful gradients. Resume from the last checkpoint "
                "(--resume auto --allow-config-change) with a smaller --set adversarial.critic_lr, a larger "
                "adversarial.gp_weight or a smaller adversarial.weight, or raise adversarial.collapse_patience"
            )

    def state_dict(self) -> dict[str, Any]:
        return {"critic": self.critic.state_dict(), "optimizer": self.optimizer.state_dict(),
                "steps": self.steps, "collapse_streak": self.collapse_streak, "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state["steps"])
        self.collapse_streak = int(state.get("collapse_streak", 0))
        if "rng" in state:  # absent in checkpoints of the first version: the seeded generator goes on
            self.generator.set_state(state["rng"])
