"""What a training hook sees of a step and what it must provide (`StepContext`, `StepHook`).

Kept apart from `hooks.build_step_hooks`, which imports every kind of hook: the hooks import
this module, the composer imports them, and no import runs in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass
class StepContext:
    step: int  # optimizer steps completed before this one (0-based index of this step)
    blurred: torch.Tensor  # (B, 3, H, W) the model's input
    sharp: torch.Tensor  # (B, 3, H, W) the target
    outputs: list[torch.Tensor]  # float32 [y_1/4, y_1/2, y], with the generator's graph


class StepHook(Protocol):
    name: str  # key of its state in the checkpoint
    log_columns: tuple[str, ...]  # keys of the stats it returns (columns of train_log.csv)

    def extra_loss(self, context: StepContext) -> tuple[torch.Tensor | None, dict[str, float]]:
        """(term to add to the generator's loss or None, stats with every key of log_columns)."""

    def check_log_row(self, row: dict[str, float], step: int) -> None:
        """Called with each train_log row (means since the previous row); raises to stop the run."""

    def describe(self) -> str:
        """One line for the start of a run."""

    def settings(self) -> dict[str, Any]:
        """Its configuration, for run.json and the provenance of weights files."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
