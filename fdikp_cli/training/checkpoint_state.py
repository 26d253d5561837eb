"""What a checkpoint's .pt holds besides the weights, and how a resume puts it back.

Its keys are a contract with the run's later sessions, which may run newer code: runs in
progress resume from files already written, so keys are only ever added (and read with a
default). Only tensors and plain containers: checkpoint.load_state reads it weights_only.
    step, scheduler_stage, optimizer, scheduler, swa, ema, scaler, rng_cpu, best, wall_s,
    world_size, hooks (one entry per StepHook name), rng_cuda (where CUDA is available)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from fdikp_cli.errors import ConfigError
from fdikp_cli.training.hook_protocol import StepHook
from fdikp_cli.training.schedule import StagePlan
from fdikp_cli.training.stage_state import StageState
from fdikp_cli.training.weight_average import WeightEma


@dataclass
class CheckpointedParts:
    """The run's objects whose state a checkpoint carries. The counters (step, best metrics,
    wall time) belong to the trainer: it passes them in and reads them back itself."""

    optimizer: torch.optim.Optimizer
    stage: StageState
    ema: WeightEma | None
    scaler: torch.amp.GradScaler
    hooks: list[StepHook]

    def state_dict(self, step: int, best: dict[str, float], wall_s: float, world_size: int) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": step,
            "scheduler_stage": self.stage.index,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.stage.scheduler.state_dict() if self.stage.scheduler else {},
            "swa": self.stage.swa.state_dict() if self.stage.swa is not None else {},
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "rng_cpu": torch.get_rng_state(),
            "best": dict(best),
            "wall_s": wall_s,
            "world_size": world_size,
            "hooks": {hook.name: hook.state_dict() for hook in self.hooks},
        }
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any], plan: StagePlan, say: Callable[[str], None]) -> None:
        """Everything but the counters; `plan` is the stage of the checkpoint's next step."""
        self.optimizer.load_state_dict(state["optimizer"])  # before the scheduler that reads its lr
        self.stage.load(int(state["scheduler_stage"]), state["scheduler"], state["swa"], plan)
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        saved_hooks = state.get("hooks", {})
        for hook in self.hooks:
            if hook.name in saved_hooks:
                hook.load_state_dict(saved_hooks[hook.name])
            else:  # turned on at this resume (--allow-config-change): it starts fresh, warm-up included
                say(f"note: the checkpoint has no {hook.name} state: it starts now")
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and torch.cuda.is_available() and len(state["rng_cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["rng_cuda"])


def resumed_step(state: dict[str, Any], total_steps: int, world_size: int, say: Callable[[str], None]) -> int:
    """The checkpoint's step, refused past the end of the schedule; a note when the number of
    processes changed (each rank's share of the data changes with it)."""
    step = int(state["step"])
    if step > total_steps:
        raise ConfigError(f"checkpoint is at step {step} but the schedule has {total_steps} steps")
    if int(state.get("world_size", 1)) != world_size:
        say(f"note: resuming a {state.get('world_size')}-process run with {world_size} "
            "processes: data order changes from here on")
    return step
