"""What the trainer lets other training parts add to a step, without knowing what they are.

A StepHook sees each step's batch and the generator's outputs, may return an extra loss term
(added to the multi-scale loss before the one backward pass), may train something of its own
(a critic and its optimizer), checks the logged rows (and may stop the run), and keeps its
state in the checkpoint so that a resumed run continues exactly. The trainer composes the
hooks `build_step_hooks` returns for the configuration; it has no branch per kind of hook.
The protocol itself is in `hook_protocol.py`, below both this composer and the hooks it builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

# The protocol lives one room down (hook_protocol), where the hooks import it from; re-exported
# here for the trainer, which needs both it and the composer.
from fdikp_cli.training.hook_protocol import StepContext, StepHook

if TYPE_CHECKING:
    from fdikp_cli.training.config import TrainConfig

__all__ = ["StepContext", "StepHook", "build_step_hooks"]


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
