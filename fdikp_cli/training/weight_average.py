"""The exponential moving average (EMA) of a run's weights.

One average over the whole run, updated after every optimizer step: unlike SWA (an equal-weight
mean over a stage's last part), it needs no separate phase at a raised learning rate, and it is
valid at any step, so every checkpoint can be validated and shipped from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightEma:
    """ema <- decay * ema + (1 - decay) * weights, after every optimizer step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))

    @property
    def module(self) -> nn.Module:
        return self.average.module

    def update(self, model: nn.Module) -> None:
        self.average.update_parameters(model)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "average": self.average.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average.load_state_dict(state["average"])

    def save(self, path: Path, config: Any, provenance: dict[str, Any]) -> None:
        from fdikp_cli.weights import save_weights

        provenance = {**provenance, "ema_decay": self.decay, "ema_updates": int(self.average.n_averaged)}
        save_weights(self.module, path, config=config, provenance=provenance)


def ema_or_none(model: nn.Module, decay: float) -> WeightEma | None:
    return WeightEma(model, decay) if decay > 0 else None
