"""The run's CSV logs and the hardware line of its provenance.

train_log.csv: one row every `log_every` steps (and at the end of each stage); loss, its terms,
lr and grad_norm are means over the steps since the previous row. The progress bar shows the
last step's loss instead, labelled "step loss"; plain log lines show the row's mean.
"""

from __future__ import annotations

import csv
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fdikp_cli.training.distributed import DistInfo

TRAIN_COLUMNS = ["step", "stage", "epoch", "lr", "loss", "mse", "lpips", "fft", "charbonnier", "grad_norm",
                 "it_per_s", "img_per_s", "wall_s"]
VAL_COLUMNS = ["step", "stage", "model", "psnr", "ssim", "lpips", "detail_psnr", "input_psnr", "input_ssim",
               "input_lpips", "images", "seconds"]


class CsvLog:
    """Append-only CSV; on resume, rows after the checkpoint's step are dropped (they will be
    written again)."""

    def __init__(self, path: Path, columns: list[str], keep_until_step: int | None) -> None:
        self.path = path
        self.columns = columns
        if keep_until_step is not None and path.is_file():
            with open(path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if r.get("step") and int(r["step"]) <= keep_until_step]
            self._rewrite(rows)
        elif not path.is_file() or keep_until_step is None:
            self._rewrite([])

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore").writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
            )


class StepWindow:
    """The steps since the last train_log row: means of their statistics and the training speed
    over them. Time spent validating or checkpointing is taken out with `exclude`, so it/s counts
    training steps only."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.steps = 0
        self.started = self.clock()

    def add(self, stats: dict[str, float]) -> None:
        self.steps += 1
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0.0) + value

    def exclude(self, seconds: float) -> None:
        self.started += seconds

    def flush(self, images_per_step: int) -> dict[str, float]:
        """Means, `it_per_s`, `img_per_s` and `steps` of the window; then starts a new one."""
        elapsed = max(self.clock() - self.started, 1e-9)
        row = {key: total / self.steps for key, total in self.sums.items()}
        row.update({"it_per_s": self.steps / elapsed, "img_per_s": self.steps * images_per_step / elapsed,
                    "steps": float(self.steps)})
        self.reset()
        return row


def hardware_description(info: DistInfo) -> str:
    if info.device.type == "cuda":
        name = torch.cuda.get_device_name(info.device)
    else:
        name = f"CPU {platform.processor() or platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return f"{info.world_size} x {name}" if info.world_size > 1 else name
