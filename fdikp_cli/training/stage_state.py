"""What each stage starts afresh: its learning-rate scheduler and its SWA average.

At a stage's first step every parameter group's lr becomes the stage's (times the group's
lr_scale), a new scheduler follows the stage's plan (step milestones or cosine), and a stage
with `swa` starts a new torch.optim.swa_utils.AveragedModel, updated every `swa_every` steps
and at the stage's last step (stage two of the paper's recipe). A checkpoint saved inside a
stage carries both; one saved at a stage's end leaves the next stage to start afresh, exactly
as an uninterrupted run does.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, MultiStepLR
from torch.optim.swa_utils import AveragedModel

from fdikp_cli.training.schedule import StagePlan


class StageState:
    """The scheduler and SWA average of stage `index` (-1 before the first stage is entered)."""

    def __init__(self, optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
        self.optimizer = optimizer
        self.model = model  # the bare model (not its DDP wrapper): the average copies its weights
        self.index = -1
        self.scheduler: LRScheduler | None = None
        self.swa: AveragedModel | None = None

    def enter(self, plan: StagePlan) -> None:
        """Fresh learning-rate schedule (and SWA model) at the start of a stage."""
        for group in self.optimizer.param_groups:
            group["lr"] = plan.config.lr * group["lr_scale"]
            group["initial_lr"] = group["lr"]
        self.scheduler = self._new_scheduler(plan)
        self.index = plan.index
        self.swa = AveragedModel(self.model) if plan.config.swa else None

    def after_step(self, step: int, plan: StagePlan) -> None:
        """Optimizer step `step` (counted from 1 over the whole run) is done: the lr moves on, and
        the average takes the weights on its cadence and at the stage's last step."""
        self.scheduler.step()  # type: ignore[union-attr]
        if self.swa is not None and ((step - plan.first_step) % plan.swa_every == 0 or step == plan.end_step):
            self.swa.update_parameters(self.model)

    def load(self, saved_index: int, scheduler_state: dict[str, Any], swa_state: dict[str, Any],
             plan: StagePlan) -> None:
        """A checkpoint's scheduler and average, when it was saved inside `plan`'s stage (else the
        checkpoint ends a stage: the next one is entered afresh). The optimizer's state is loaded
        first: a new scheduler sets the groups' lr from it."""
        if saved_index != plan.index:
            return
        self.scheduler = self._new_scheduler(plan)
        if scheduler_state:
            self.scheduler.load_state_dict(scheduler_state)
            # The state dict carries the milestones of the run that saved it; the plan's win,
            # so a resume that changed the stage length (--allow-config-change) moves them.
            if isinstance(self.scheduler, MultiStepLR):
                self.scheduler.milestones = Counter(plan.lr_milestones())
        self.index = saved_index
        if plan.config.swa and swa_state:
            self.swa = AveragedModel(self.model)
            self.swa.load_state_dict(swa_state)

    def _new_scheduler(self, plan: StagePlan) -> LRScheduler:
        if plan.config.schedule == "cosine":
            return LambdaLR(self.optimizer, plan.lr_factor)
        return MultiStepLR(self.optimizer, plan.lr_milestones(), gamma=plan.config.gamma)
