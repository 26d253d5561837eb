"""Where a training batch is out of focus: defocus-map sources for the training parts that
weight their loss by it (the adversarial critic, the in-focus fidelity term).

A source maps the blurred input batch to a non-negative map, larger where the input is more
blurred, without gradients: it is a fixed judge of the input, not something the generator
may learn to fool.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from fdikp_cli.errors import ConfigError

WeightMapSource = Callable[[torch.Tensor], torch.Tensor]
"""Blurred images (B, 3, H, W) -> defocus map (B, 1, H, W), >= 0, larger = more blur, no grad."""


def dilation_weight_map(model: nn.Module) -> WeightMapSource:
    """FDIKP's own blur estimate: the PAC dilation map of the full-resolution stage, minus 1.

    The dilation D(x) = 1 + (d_max - 1)·σ(·) spaces the taps of the inverse kernels, so D - 1
    is 0 where the model deconvolves at its finest reach (sharp areas) and grows with the blur
    it sees; it is in units of tap spacing, not calibrated pixels of blur radius (that needs
    the defocus-map estimator of fdikp_cli.defocus; pass its map as another source). The map is
    read from the model being trained (its current estimate) and detached.
    """
    fikp = getattr(model, "fikp", None)
    dilation = getattr(fikp, "dilation", None)
    if dilation is None:
        raise ConfigError("adversarial.weight_map = 'dilation' needs a model with PAC (model.pac = true); "
                          "use adversarial.weight_map = 'none'")

    @torch.no_grad()
    def source(blurred: torch.Tensor) -> torch.Tensor:
        return dilation(blurred.float()) - 1.0  # (B, 1, H, W)

    return source


def estimator_weight_map(path: str | None, device: torch.device) -> WeightMapSource:
    """The calibrated single-image defocus-map estimator of fdikp_cli.defocus (blur radius in px
    of a uniform disc, 0..max_radius), frozen: `path`, or the shipped weights/defocus_map.safetensors.

    The training crops are at the scale the estimator was trained at (DPDD's 1024 x 683), so it
    runs on them as they are; WeightsError when the file is absent. The map of the last batch is
    kept: several training parts sharing this source (the critic and the in-focus term) ask for
    the same batch's map in one step, and it is computed once.
    """
    from fdikp_cli.defocus.weights import load_defocus_weights

    estimator = load_defocus_weights(path, device=device).model.eval().requires_grad_(False)
    last: list[torch.Tensor] = []  # [batch, its map] of the latest call

    @torch.no_grad()
    def source(blurred: torch.Tensor) -> torch.Tensor:
        if not (last and last[0] is blurred):
            last[:] = [blurred, estimator(blurred.float().clamp(0, 1)).float()]  # (B, 1, H, W) px
        return last[1]

    return source


EstimatorMaps = Callable[[str | None], WeightMapSource]
"""Estimator weights file (None: the shipped one) -> its map source."""


def shared_estimator_maps(device: torch.device) -> EstimatorMaps:
    """estimator_weight_map with one source per weights file: the training parts of one run that
    read the same estimator share its weights and its per-batch map."""
    sources: dict[str | None, WeightMapSource] = {}

    def get(path: str | None) -> WeightMapSource:
        if path not in sources:
            sources[path] = estimator_weight_map(path, device)
        return sources[path]

    return get
