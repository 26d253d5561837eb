"""What `train` returns: where the run is, how far it got, and the file to use from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    finished: bool
    best_psnr: float | None
    final_weights: Path | None  # swa.safetensors of a finished SWA schedule, else best.safetensors (if any)
