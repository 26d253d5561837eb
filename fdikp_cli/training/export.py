"""Export a run's model as an inference weights file with its provenance.

Which model: "auto" takes the stochastic-weight-averaged model when the run produced one (the
paper's final model), else the best model by validation PSNR, else the latest checkpoint.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fdikp_cli.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    import torch
from fdikp_cli.training.checkpoint import RunPaths, latest_checkpoint, read_json

Which = Literal["auto", "swa", "ema", "best", "last"]
WHICH: tuple[str, ...] = ("auto", "swa", "ema", "best", "last")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    which: str
    source: Path
    provenance: dict[str, Any]


def run_model_file(run_dir: Path, which: str = "auto") -> tuple[str, Path]:
    """(kind, weights file) of the run's model of that kind; WeightsError when absent,
    ConfigError for an unknown kind."""
    if which not in WHICH:
        raise ConfigError(f"--which must be one of {', '.join(WHICH)}, got {which!r}")
    paths = RunPaths(Path(run_dir).expanduser())
    if not paths.root.is_dir():
        raise WeightsError(f"run folder not found: {paths.root}")
    last = latest_checkpoint(paths)
    candidates = {"swa": paths.swa, "ema": paths.ema, "best": paths.best, "last": last[0] if last else None}
    order = ["swa", "ema", "best", "last"] if which == "auto" else [which]
    for kind in order:
        path = candidates[kind]
        if path is not None and path.is_file():
            return kind, path
    raise WeightsError(f"{paths.root} has no {'model' if which == 'auto' else which + ' model'} to export "
                       "(no swa.safetensors, ema.safetensors, best.safetensors or checkpoint)")


def export_run(run_dir: Path, output: Path, which: str = "auto", overwrite: bool = False,
               storage_dtype: "torch.dtype | None" = None) -> ExportResult:
    """Write RUN_DIR's chosen model to `output` (safetensors, fdikp_cli.weights format); an
    existing `output` only with overwrite (as `fdikp deblur` treats its outputs), checked
    before the model is read (check_weights_output).
    storage_dtype (e.g. torch.float16): the tensors' storage type (half the file); loading
    always computes in float32."""
    from fdikp_cli.model import FDIKP
    from fdikp_cli.weights import check_weights_output, load_state_checked, read_weights, save_weights

    output = check_weights_output(output, overwrite)
    kind, source = run_model_file(run_dir, which)
    weights = read_weights(source)
    model = FDIKP(weights.config)
    load_state_checked(model, weights.state_dict, source=str(source))  # refuse a file that does not fit
    info = read_json(RunPaths(Path(run_dir).expanduser()).info)
    provenance = dict(weights.provenance)
    provenance.update({
        "model": kind,
        "exported_from": str(source.resolve()),
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_wall_time_s": info.get("wall_time_s"),
        "run_steps": info.get("step"),
        "run_total_steps": info.get("total_steps"),
    })
    if "best" in info and kind != "best":
        provenance.setdefault("run_best_validation", info["best"])
    path = save_weights(model, output, config=weights.config, provenance=provenance, storage_dtype=storage_dtype)
    return ExportResult(path, kind, source, provenance)
