"""The model a run starts from, placed where and how it will train.

Three sources, in this order: the resumed checkpoint's weights; --init-weights (extended to the
run's model options when it sets some: fdikp_cli.training.model_extension); a new model whose
weights come from torch's RNG (seeded before this is called, so a seed gives one model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from fdikp_cli.inference.device import use_fast_memory_format
from fdikp_cli.training.config import TrainConfig


class InitialModel(NamedTuple):
    model: nn.Module  # on the device, in train mode
    config: Any  # its FDIKPConfig (stored with every weights file of the run)
    init_info: dict[str, Any]  # run.json's init_weights and init_sha256 for a run started from a file


def initial_model(config: TrainConfig, resumed_weights: Path | None, device: torch.device,
                  amp: torch.dtype | None) -> InitialModel:
    from fdikp_cli.model import FDIKP, FDIKPConfig
    from fdikp_cli.training.model_extension import extended_config, load_guidance_estimator
    from fdikp_cli.weights import load_state_extending, read_weights

    init_info: dict[str, Any] = {}
    resumed = resumed_weights is not None
    source = resumed_weights if resumed else config.run.init_weights
    if source:
        weights = read_weights(source)
        model_config = weights.config
        if config.model and not resumed:
            model_config = extended_config(model_config, config.model, str(source))
        model = FDIKP(model_config)
        kept = load_state_extending(model, weights.state_dict, source=str(source))
        if any(k.startswith("blur_guidance.estimator.") for k in kept):
            load_guidance_estimator(model)
        if not resumed:
            init_info = {"init_weights": str(Path(source).resolve()), "init_sha256": weights.sha256}
    else:
        model_config = FDIKPConfig.from_dict(config.model)
        model = FDIKP(model_config)  # initialised from torch's RNG, seeded above
    # bf16 on CPU: channels-last weights, as inference runs them (oneDNN's bf16 convolutions work on NHWC).
    return InitialModel(use_fast_memory_format(model.to(device), device, amp).train(), model_config, init_info)
