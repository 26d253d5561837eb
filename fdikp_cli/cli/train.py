"""`fdikp train`: options -> a resolved TrainConfig -> fdikp_cli.training.train()."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.markup import escape

from fdikp_cli.cli.errors import cli_errors, err_console

_DATASET_HELP = (
    "Training data: KIND or a weighted mix KIND:WEIGHT,KIND:WEIGHT with KIND dpdd | lfdof | pairs | synthetic; "
    "e.g. 'dpdd' or 'pairs:0.5,synthetic:0.5' (real pairs from --data-root, synthetic pairs from --sharp-dir). "
    "KIND@ROOT:WEIGHT gives a component its own folder."
)


def _nested(pairs: dict[str, Any]) -> dict[str, Any]:
    """{'data.workers': 2} -> {'data': {'workers': 2}}, skipping options not given (None)."""
    nested: dict[str, Any] = {}
    for dotted, value in pairs.items():
        if value is None:
            continue
        section, key = dotted.split(".")
        nested.setdefault(section, {})[key] = str(value) if isinstance(value, Path) else value
    return nested


def train_command(
    dataset: Optional[str] = typer.Option(None, "--dataset", help=_DATASET_HELP),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder of the real pairs (layout per KIND)."),
    sharp_dir: Optional[Path] = typer.Option(None, "--sharp-dir", help="Sharp photos for the synthetic dataset."),
    val_root: Optional[Path] = typer.Option(
        None, "--val-root", help="Validation pairs (source/ + target/); default: the dataset's own validation split."
    ),
    val_crop: Optional[int] = typer.Option(None, "--val-crop", help="Validate on centre crops of this size (faster)."),
    val_max_images: Optional[int] = typer.Option(None, "--val-max-images", help="Validate on the first N images."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (checkpoints, logs, best model)."),
    preset: Optional[str] = typer.Option(
        None, "--preset", help="paper-dpdd (default) or paper-lfdof (default for --dataset lfdof)."
    ),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML configuration file (e.g. a run's config.toml)."),
    model_config: Optional[str] = typer.Option(
        None, "--model-config", help="Model configuration overrides: inline JSON or a .json/.toml file."
    ),
    init_weights: Optional[Path] = typer.Option(None, "--init-weights", help="Start from this weights file."),
    resume: Optional[str] = typer.Option(None, "--resume", help="'auto' (continue --out if it has a checkpoint) or a PATH."),
    steps: Optional[int] = typer.Option(
        None, "--steps", help="Squeeze the whole schedule (all stages, in proportion) into N optimizer steps."
    ),
    stage_steps: Optional[str] = typer.Option(None, "--stage-steps", help="Exact steps per stage, e.g. 5000,500."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after N optimizer steps (resumable)."),
    crop: Optional[str] = typer.Option(None, "--crop", help="Crop size: one value, or one per stage (384,512)."),
    batch_size: Optional[str] = typer.Option(None, "--batch-size", help="Batch size: one value, or one per stage (4,2)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate of stage one (later stages keep their ratio)."),
    val_every: Optional[int] = typer.Option(None, "--val-every", help="Validate every N steps."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="Checkpoint every N steps."),
    log_every: Optional[int] = typer.Option(None, "--log-every", help="Log (CSV, plain lines) every N steps."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Data loading worker processes (0: in-process)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (model init and data order)."),
    deterministic: Optional[bool] = typer.Option(
        None, "--deterministic/--no-deterministic", help="Deterministic algorithms only (slower on GPU)."
    ),
    amp: Optional[str] = typer.Option(None, "--amp", help="Mixed precision: auto (bf16 on CUDA and on CPUs with native bf16) | bf16 | fp16 | off."),
    no_lpips: bool = typer.Option(False, "--no-lpips", help="Train without the LPIPS loss term (weight 0)."),
    lpips_dir: Optional[Path] = typer.Option(None, "--lpips-dir", help="LPIPS weights folder (default $FDIKP_LPIPS_DIR)."),
    assignments: List[str] = typer.Option(
        [], "--set", help="Any configuration value: --set loss.fft=0 --set stages.1.swa=false (repeatable)."
    ),
) -> None:
    """Train FDIKP with the paper's recipe (resumable; torchrun for several GPUs)."""
    with cli_errors():
        from fdikp_cli.training.config import StageOptions, load_model_overrides, resolve
        from fdikp_cli.training.trainer import resumed_config_file, train

        overrides = _nested({
            "data.dataset": dataset, "data.data_root": data_root, "data.sharp_dir": sharp_dir,
            "data.val_root": val_root, "data.val_crop": val_crop, "data.val_max_images": val_max_images,
            "data.workers": workers, "run.out": out, "run.total_steps": steps, "run.max_steps": max_steps,
            "run.val_every": val_every, "run.checkpoint_every": checkpoint_every, "run.log_every": log_every,
            "run.device": device, "run.seed": seed, "run.deterministic": deterministic, "run.amp": amp,
            "run.init_weights": init_weights, "loss.lpips_dir": lpips_dir, "loss.lpips": 0.0 if no_lpips else None,
        })
        if model_config is not None:
            overrides["model"] = load_model_overrides(model_config)
        base = config_file
        if base is None and resume is not None:
            base = resumed_config_file(Path(out or "runs/fdikp").expanduser(), resume)
            if base is not None:
                err_console.print(escape(f"continuing with the configuration of {base}"), highlight=False)
        config = resolve(preset, base, overrides, list(assignments),
                         StageOptions(crop=crop, batch_size=batch_size, lr=lr, steps=stage_steps))
        train(config, resume=resume, console=err_console)
