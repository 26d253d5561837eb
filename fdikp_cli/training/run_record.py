"""What a run records about itself: run.json, and the provenance inside each weights file it writes.

run.json is read back and updated, never started over: `created`, the `config_changes` of
earlier resumes (--allow-config-change) and the `swa` entry survive every later write. A weights
file's provenance is a subset of run.json plus what the file is (`model`: last, best, ema or
swa), its step, the run folder and the date: from any file one finds the run and the moment.
"""

from __future__ import annotations

import datetime
from typing import Any

import torch

from fdikp_cli.training.checkpoint import RunPaths, read_json
from fdikp_cli.training.config import TrainConfig
from fdikp_cli.training.distributed import DistInfo
from fdikp_cli.training.hook_protocol import StepHook
from fdikp_cli.training.precision import dtype_name
from fdikp_cli.training.resume_check import Change, change_record
from fdikp_cli.training.run_data import RunData
from fdikp_cli.training.runlog import hardware_description

# The run.json entries that a weights file's provenance repeats.
PROVENANCE_KEYS = ("fdikp_version", "hardware", "world_size", "amp", "data", "preset", "loss", "stages",
                   "total_steps", "seed", "wall_time_s", "init_weights", "init_sha256", "created", "config_changes",
                   "hooks")


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_facts(config: TrainConfig, data: RunData, amp: torch.dtype | None, hooks: list[StepHook],
              init_info: dict[str, Any]) -> dict[str, Any]:
    """The entries of run.json that hold for a whole session: what the run trains, on what, how."""
    from fdikp_cli import __version__

    return {
        "fdikp_version": __version__,
        "torch_version": torch.__version__,
        "amp": dtype_name(amp),
        "data": {
            "dataset": config.data.dataset,
            "data_root": config.data.data_root,
            "sharp_dir": config.data.sharp_dir,
            "val_root": config.data.val_root,
            "sources": [s.describe() for s in data.stage_sources[0]],
            "epoch_size": data.epoch_size,
            "validation_images": len(data.val_set) if data.val_set else 0,
            "val_crop": config.data.val_crop,
        },
        "preset": config.preset,
        "loss": {"mse": config.loss.mse, "lpips": config.loss.lpips, "fft": config.loss.fft,
                 "charbonnier": config.loss.charbonnier, "scale_weights": list(config.loss.scale_weights)},
        "stages": [{"crop": p.config.crop, "batch_size": p.config.batch_size, "steps": p.steps,
                    "lr": p.config.lr, "swa": p.config.swa} for p in data.plans],
        "total_steps": data.total_steps,
        **({"hooks": {hook.name: hook.settings() for hook in hooks}} if hooks else {}),
        "seed": config.run.seed,
        **init_info,
    }


class RunRecord:
    """run.json and provenance from the session's facts (`run_facts`) and the run's counters."""

    def __init__(self, paths: RunPaths, dist: DistInfo, facts: dict[str, Any]) -> None:
        self.paths = paths
        self.dist = dist
        self.facts = facts

    def info(self, step: int, wall_s: float, best: dict[str, float]) -> dict[str, Any]:
        """run.json as it stands now: the file's entries, updated."""
        info = read_json(self.paths.info)
        info.setdefault("created", utc_now())
        info.update({**self.facts, "hardware": hardware_description(self.dist), "world_size": self.dist.world_size,
                     "step": step, "wall_time_s": round(wall_s, 1), "best": best})
        return info

    def provenance(self, kind: str, step: int, wall_s: float, best: dict[str, float],
                   metrics: dict[str, float] | None = None) -> dict[str, Any]:
        """What a weights file written now says about where it came from; `kind`: last, best, ema, swa."""
        info = self.info(step, wall_s, best)
        prov = {k: info[k] for k in PROVENANCE_KEYS if k in info}
        prov.update({"model": kind, "step": step, "run_dir": str(self.paths.root.resolve()), "date": utc_now()})
        if metrics:
            prov["validation"] = metrics
        return prov


def with_config_changes(info: dict[str, Any], step: int, changes: list[Change]) -> dict[str, Any]:
    """`info` with this resume's allowed changes appended to `config_changes` (kept across sessions)."""
    info.setdefault("config_changes", []).append(change_record(step, changes))
    return info
