"""What the trainer lets other training parts add to a step, without knowing what they are.

A StepHook sees each step's batch and the generator's outputs, may return an extra loss term
(added to the multi-scale loss before the one backward pass), may train something of its own
(a critic and its optimizer), checks the logged rows (and may stop the run), and keeps its
state in the checkpoint so that a resumed run continues exactly. The trainer composes the
hooks `build_step_hooks` returns for the configuration; it has no branch per kind of hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

if TYPE_CHECKING:
    from fdikp_cli.training.config import TrainConfig


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


def build_step_hooks(config: "TrainConfig", model: nn.Module, device: torch.device,
                     world_size: int = 1) -> list[StepHook]:
    """The hooks the configuration asks for, built on `device` (after the model, before any
    checkpoint is loaded: the checkpoint then overwrites their state)."""
    from fdikp_cli.training.defocus_weight_maps import shared_estimator_maps

    hooks: list[StepHook] = []
    # One estimator per weights file for the whole run: the critic and the in-focus term read
    # the same batch's map, which is then computed once per step.
    estimator = shared_estimator_maps(device)
    if config.adversarial.weight > 0:
        from fdikp_cli.training.adversarial import AdversarialHook

        hooks.append(AdversarialHook.from_config(config.adversarial, model, device, world_size, config.run.seed,
                                                 estimator))
    if config.infocus.weight > 0:
        from fdikp_cli.training.infocus_fidelity import InFocusFidelityHook

        hooks.append(InFocusFidelityHook.from_config(config.infocus, device, estimator))
    return hooks
