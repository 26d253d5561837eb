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
