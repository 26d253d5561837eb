"""In-focus fidelity: an extra MSE where the input is already sharp (issue 13's "in-focus areas
left alone").

A perceptual fine-tune (LPIPS + the critic) rewards texture everywhere; in areas the photo
already had in focus there is nothing to restore, and any texture it adds there is invented.
The critic's defocus weighting only asks for *more* realism where the blur was large; it does
not ask for less change where there was none. This term does: the trainer composes
`InFocusFidelityHook` (a fdikp_cli.training.hook_protocol.StepHook) when `infocus.weight > 0`, and at
every step it adds

    weight * mean( in_focus * (y - y_hat)^2 ),   in_focus = [r(x) <= radius]   (B, 1, H, W)

with r the calibrated defocus-map estimator's blur radius (px) of the blurred input x, y the
full-resolution output and y_hat the sharp target. The mean runs over all pixels (not only the
in-focus ones), so the term's pull on a batch grows with its in-focus share and a batch with no
in-focus pixel adds nothing. The estimator is frozen (fdikp_cli.training.defocus_weight_maps).
The hook keeps no state of its own: resuming needs nothing from it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from fdikp_cli.training.config import InFocusConfig
from fdikp_cli.training.defocus_weight_maps import EstimatorMaps, WeightMapSource, shared_estimator_maps
from fdikp_cli.training.hook_protocol import StepContext


def in_focus_mask(radius_map: torch.Tensor, radius: float) -> torch.Tensor:
    """1 where the blur radius is at most `radius` px, else 0. Shape: (B, 1, H, W) -> same."""
    return (radius_map <= radius).float()


def infocus_fidelity_loss(restored: torch.Tensor, sharp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean over every pixel and channel of mask * (restored - sharp)^2.

    Shape: restored, sharp (B, 3, H, W); mask (B, 1, H, W) in [0, 1] -> scalar."""
    return (mask * (restored - sharp).square()).mean()


class InFocusFidelityHook:
    """The in-focus MSE term; a StepHook (see the module docstring)."""

    name = "infocus"
    # infocus: the masked squared error per in-focus pixel (0 when none); infocus_share: their share.
    log_columns = ("infocus", "infocus_share")

    def __init__(self, config: InFocusConfig, radius_source: WeightMapSource) -> None:
        self.config = config
        self.radius_source = radius_source

    @classmethod
    def from_config(cls, config: InFocusConfig, device: torch.device,
                    estimator: EstimatorMaps | None = None) -> "InFocusFidelityHook":
        """`estimator`: the run's shared estimator sources by weights file (one of its own if None)."""
        return cls(config, (estimator or shared_estimator_maps(device))(config.estimator_weights))

    def describe(self) -> str:
        return (f"in-focus fidelity: weight {self.config.weight:g} on the MSE where the defocus-map estimator "
                f"reads r <= {self.config.radius:g} px")

    def settings(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def extra_loss(self, context: StepContext) -> tuple[torch.Tensor | None, dict[str, float]]:
        restored = context.outputs[-1].float()  # (B, 3, H, W), with the generator's graph
        mask = in_focus_mask(self.radius_source(context.blurred), self.config.radius)  # (B, 1, H, W)
        loss = infocus_fidelity_loss(restored, context.sharp.float(), mask)
        share = float(mask.mean())
        per_pixel = float(loss.detach()) / share if share > 0 else 0.0
        return self.config.weight * loss, {"infocus": per_pixel, "infocus_share": share}

    def check_log_row(self, row: dict[str, float], step: int) -> None:
        return None  # nothing to watch: the term cannot collapse

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
