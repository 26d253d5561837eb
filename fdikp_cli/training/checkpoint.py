"""The run folder and its checkpoints.

    RUN_DIR/config.toml                  the resolved configuration
    RUN_DIR/run.json                     hardware, data, wall time, best validation metrics
    RUN_DIR/train_log.csv, val_log.csv   training and validation logs
    RUN_DIR/best.safetensors             the model with the best validation PSNR so far
    RUN_DIR/swa.safetensors              the stochastic-weight-averaged model (end of training)
    RUN_DIR/checkpoints/step_NNNNNNNN.safetensors   model weights (fdikp_cli.weights format)
    RUN_DIR/checkpoints/step_NNNNNNNN.pt            optimizer, scheduler, SWA, RNG, counters
    RUN_DIR/checkpoints/latest.json                 which step is the latest complete checkpoint

A checkpoint's two files are written first and latest.json is replaced atomically after, so
a crash at any moment leaves the previous checkpoint usable. The .pt holds only tensors and
plain containers and is read with torch.load(weights_only=True).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fdikp_cli.errors import ConfigError, WeightsError
from fdikp_cli.file_mode import replaced_atomically

KEEP_CHECKPOINTS = 2


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def info(self) -> Path:
        return self.root / "run.json"

    @property
    def train_log(self) -> Path:
        return self.root / "train_log.csv"

    @property
    def val_log(self) -> Path:
        return self.root / "val_log.csv"

    @property
    def best(self) -> Path:
        return self.root / "best.safetensors"

    @property
    def swa(self) -> Path:
        return self.root / "swa.safetensors"

    @property
    def ema(self) -> Path:
        return self.root / "ema.safetensors"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def latest_pointer(self) -> Path:
        return self.checkpoints / "latest.json"

    def step_files(self, step: int) -> tuple[Path, Path]:
        stem = self.checkpoints / f"step_{step:08d}"
        return stem.with_suffix(".safetensors"), stem.with_suffix(".pt")


def write_json_atomic(path: Path, values: dict[str, Any]) -> None:
    with replaced_atomically(path) as tmp:
        tmp.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from None


def latest_checkpoint(paths: RunPaths) -> tuple[Path, Path] | None:
    """(weights, state) of the latest complete checkpoint, or None when the run has none."""
    pointer = read_json(paths.latest_pointer)
    if "step" not in pointer:
        return None
    weights, state = paths.step_files(int(pointer["step"]))
    if not (weights.is_file() and state.is_file()):
        raise WeightsError(f"{paths.latest_pointer} names step {pointer['step']} but its files are missing")
    return weights, state


def find_resume_checkpoint(resume: str, out: Path) -> tuple[Path, Path] | None:
    """--resume auto: the latest checkpoint of --out (None: start fresh); --resume PATH: a run
    folder, or a checkpoint's .pt / .safetensors file."""
    if resume == "auto":
        return latest_checkpoint(RunPaths(out))
    path = Path(resume).expanduser()
    if path.is_dir():
        found = latest_checkpoint(RunPaths(path))
        if found is None:
            raise WeightsError(f"--resume {path}: the run folder has no checkpoint")
        return found
    weights, state = path.with_suffix(".safetensors"), path.with_suffix(".pt")
    if not (weights.is_file() and state.is_file()):
        raise WeightsError(f"--resume {path}: needs both {weights.name} and {state.name}")
    return weights, state


def resumed_config_file(out: Path, resume: str | None) -> Path | None:
    """The saved config.toml of the run being resumed, if any (it becomes the base config)."""
    if resume is None:
        return None
    root = out if resume == "auto" else Path(resume).expanduser()
    if root.is_file():
        root = root.parent.parent  # RUN/checkpoints/step_N.pt -> RUN
    path = RunPaths(root).config
    if path.is_file() and (resume != "auto" or latest_checkpoint(RunPaths(root)) is not None):
        return path
    return None


def save_checkpoint(paths: RunPaths, step: int, model: nn.Module, state: dict[str, Any],
                    provenance: dict[str, Any]) -> Path:
    """Write the weights and the training state of `step`, then point latest.json at them."""
    from fdikp_cli.weights import save_weights

    paths.checkpoints.mkdir(parents=True, exist_ok=True)
    weights_path, state_path = paths.step_files(step)
    save_weights(model, weights_path, provenance=provenance)
    with replaced_atomically(state_path) as tmp:
        torch.save(state, tmp)
    write_json_atomic(paths.latest_pointer, {"step": step})
    _prune(paths, keep=KEEP_CHECKPOINTS)
    return state_path


def _prune(paths: RunPaths, keep: int) -> None:
    states = sorted(paths.checkpoints.glob("step_*.pt"))
    for old in states[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".safetensors").unlink(missing_ok=True)


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise WeightsError(f"{path}: unreadable training state ({exc})") from None
