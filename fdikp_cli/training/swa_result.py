"""The averaged model a schedule with stochastic weight averaging ends with: RUN/swa.safetensors.

FDIKP has no BatchNorm (no running statistics at all), so swa_utils.update_bn is not needed:
the averaged weights are the model. How many models went into the average is recorded in the
file's provenance and in run.json's `swa` entry, beside its validation metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.optim.swa_utils import AveragedModel


def save_swa_weights(swa: AveragedModel, path: Path, model_config: Any, provenance: dict[str, Any]) -> None:
    from fdikp_cli.weights import save_weights

    provenance = {**provenance, "swa_models_averaged": int(swa.n_averaged)}
    save_weights(swa.module, path, config=model_config, provenance=provenance)


def swa_run_entry(swa: AveragedModel, metrics: dict[str, float] | None) -> dict[str, Any]:
    """run.json's `swa` entry."""
    return {"models_averaged": int(swa.n_averaged), **(metrics or {})}

