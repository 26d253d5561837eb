"""The run's schedule: which stage each optimizer step belongs to, its lr milestones, its SWA cadence.

Steps are numbered over the whole run; stage s covers steps [first_step, first_step + steps).
The plans are pure data computed once from the configuration, so a resumed run finds the same
stage, milestones and SWA cadence for a step as the run that saved it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fdikp_cli.training.config import StageConfig


@dataclass(frozen=True)
class StagePlan:
    index: int
    config: StageConfig
    first_step: int
    steps: int
    swa_every: int  # steps between SWA updates (the stage's last step always updates)

    @property
    def end_step(self) -> int:
        return self.first_step + self.steps

    def lr_factor(self, local_step: int) -> float:
        """Cosine schedule: the lr of the stage's optimizer step `local_step` (0-based) over its base lr."""
        stage = self.config
        if local_step < stage.warmup_steps:
            return (local_step + 1) / (stage.warmup_steps + 1)
        span = max(1, self.steps - stage.warmup_steps - 1)
        progress = min(1.0, (local_step - stage.warmup_steps) / span)
        floor = stage.min_lr / stage.lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def lr_milestones(self) -> list[int]:
        """Steps into the stage where the lr is multiplied by gamma (at least step 1, no repeats)."""
        return sorted({max(1, round(f * self.steps)) for f in self.config.milestones})


def build_stage_plans(stages: list[StageConfig], step_counts: list[int], epoch_size: int,
                      world_size: int) -> list[StagePlan]:
    """One plan per stage, back to back. Without `swa_every` a stage averages once per epoch
    (every ceil(epoch_size / global batch) steps), or once at its end if it is shorter."""
    plans, first = [], 0
    for index, (stage, count) in enumerate(zip(stages, step_counts)):
        per_epoch = max(1, math.ceil(epoch_size / (stage.batch_size * world_size)))
        plans.append(StagePlan(index, stage, first, count, stage.swa_every or min(per_epoch, count)))
        first += count
    return plans


def plan_at(plans: list[StagePlan], step: int) -> StagePlan:
    """The stage that runs optimizer step `step` + 1 (the last one once the schedule is done)."""
    for plan in plans:
        if step < plan.end_step:
            return plan
    return plans[-1]


def describe_plan(plan: StagePlan) -> str:
    """One line of the run's start-up description: length, crop, batch, lr schedule."""
    stage = plan.config
    batch = f"{stage.batch_size}" + (f" x {stage.accumulate} accumulated" if stage.accumulate > 1 else "")
    if stage.schedule == "cosine":
        lr = f"lr {stage.lr:g}, warm-up {stage.warmup_steps}, cosine to {stage.min_lr:g}"
    else:
        lr = f"lr {stage.lr:g}" + (f" x{stage.gamma:g} at {', '.join(f'{m:g}' for m in stage.milestones)}"
                                  if stage.milestones else "")
    return f"{plan.steps} steps at {stage.crop}px x {batch} ({lr})"
