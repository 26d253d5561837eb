"""`fdikp train`: options -> a resolved TrainConfig -> fdikp_cli.training.train()."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer
from rich.markup import escape

from fdikp_cli.cli.aliases import renamed
from fdikp_cli.cli.errors import cli_errors, err_console

if TYPE_CHECKING:
    from fdikp_cli.training.config import TrainConfig

# Defaults repeated here so that `--help` needs no torch import (fdikp_cli.training imports it);
# tests/test_cli_help.py checks they equal RunConfig's and the presets'.
_OUT = "runs/fdikp"
_RUN = {"val_every": 1000, "checkpoint_every": 500, "log_every": 50, "workers": 2, "seed": 0}
_LR = "1e-4"
_CROP = "384,512 (paper-dpdd), 256,512 (paper-lfdof)"
_BATCH = "4,2"
# --precision -> the config's run.amp, whose values (and so every saved config.toml) stay as they were.
_PRECISIONS = {"auto": "auto", "bf16": "bf16", "fp16": "fp16", "fp32": "off", "off": "off"}

_DATASET_HELP = (
    "Training data: KIND or a weighted mix KIND:WEIGHT,KIND:WEIGHT with KIND dpdd | lfdof | pairs | synthetic | sharp; "
    "e.g. 'dpdd' or 'pairs:0.5,synthetic:0.5' (real pairs from --data-root, synthetic pairs from --sharp-dir; "
    "sharp: sharp photos as their own targets, which teaches the model to leave in-focus content alone). "
    "KIND@ROOT:WEIGHT gives a component its own folder."
)
_RESUME_HELP = (
    "'auto' (continue --output if it has a checkpoint, else start it) or a run folder / checkpoint. A resumed run "
    "keeps its settings: options that differ from its config.toml are refused (except --max-steps, --device, "
    "--workers, --log-every and --checkpoint-every), see --allow-config-change."
)


def _default(text: str, default: object) -> str:
    """Help text with its default in Click's own form, for options whose value is None until
    given (then the preset's or the config file's value applies), which Click would not show."""
    return f"{text}  [default: {default}]"


def _nested(pairs: dict[str, Any]) -> dict[str, Any]:
    """{'data.workers': 2} -> {'data': {'workers': 2}}, skipping options not given (None)."""
    nested: dict[str, Any] = {}
    for dotted, value in pairs.items():
        if value is None:
            continue
        section, key = dotted.split(".")
        nested.setdefault(section, {})[key] = str(value) if isinstance(value, Path) else value
    return nested


def _amp_mode(precision: str | None) -> str | None:
    """--precision as the config's run.amp: fp32 is stored as "off" ("off" is accepted as fp32)."""
    from fdikp_cli.errors import ConfigError

    if precision is None:
        return None
    if precision not in _PRECISIONS:
        raise ConfigError(f"--precision must be auto, bf16, fp16 or fp32, got {precision!r}")
    return _PRECISIONS[precision]


def _check_dataset_spec(spec: str) -> None:
    """A --dataset that cannot be parsed is a usage error (exit 2), found before anything is built."""
    from fdikp_cli.data import parse_dataset_spec
    from fdikp_cli.errors import ConfigError, DatasetError

    try:
        parse_dataset_spec(spec)
    except DatasetError as exc:
        raise ConfigError(f"--dataset: {exc}") from None


def _has_validation(config: "TrainConfig") -> bool:
    """Whether the run will validate: --val-root, or a dpdd / lfdof data root with its own
    validation split (the trainer's rule, asked without loading an image)."""
    from fdikp_cli.data import build_validation, parse_dataset_spec
    from fdikp_cli.data.datasets import SHARP_PHOTO_KINDS

    data = config.data
    if data.val_root:
        return True
    kind = next((s.kind for s in parse_dataset_spec(data.dataset) if s.kind not in SHARP_PHOTO_KINDS), "pairs")
    root = Path(data.data_root).expanduser() if data.data_root else None
    return build_validation(kind, None, root, None) is not None


def _note_unused_validation_options(config: "TrainConfig", given: dict[str, Any]) -> None:
    """A note when validation options were given to a run that has nothing to validate on: the
    run would otherwise accept them and say only "validation: none". Not refused: a huge
    --val-every is how scripts ask for no validation."""
    named = [name for name, value in given.items() if value is not None]
    if named and not _has_validation(config):
        err_console.print(escape(f"note: {', '.join(named)} ignored: this run has no validation set (the "
                                 f"{config.data.dataset} data has no validation split of its own; give --val-root DIR)"),
                          highlight=False, soft_wrap=True)


def train_command(
    dataset: Optional[str] = typer.Option(
        None, "--dataset", metavar="SPEC", help=_default(_DATASET_HELP, "dpdd, or lfdof with --preset paper-lfdof")
    ),
    data_root: Optional[Path] = typer.Option(
        None, "--data-root", metavar="DIR", help="Folder of the real pairs (layout per KIND)."
    ),
    sharp_dir: Optional[Path] = typer.Option(
        None, "--sharp-dir", metavar="DIR", help="Sharp photos for the synthetic and sharp datasets."
    ),
    val_root: Optional[Path] = typer.Option(
        None, "--val-root", metavar="DIR",
        help=_default("Validation pairs (source/ + target/).", "the dataset's own validation split"),
    ),
    val_crop: Optional[int] = typer.Option(
        None, "--val-crop", metavar="PX", help=_default("Validate on centre crops of this size (faster).", "whole images")
    ),
    val_max_images: Optional[int] = typer.Option(
        None, "--val-max-images", metavar="N", help=_default("Validate on the first N images.", "all")
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", metavar="DIR", help=_default("Run folder (checkpoints, logs, best model).", _OUT)
    ),
    old_out: Optional[Path] = typer.Option(None, "--out", hidden=True),  # the name before 0.2
    preset: Optional[str] = typer.Option(
        None, "--preset", metavar="NAME",
        help=_default("The paper's schedule: paper-dpdd or paper-lfdof.", "paper-lfdof for --dataset lfdof, else paper-dpdd"),
    ),
    config_file: Optional[Path] = typer.Option(
        None, "--config", metavar="FILE", help="TOML configuration file (e.g. a run's config.toml)."
    ),
    model_config: Optional[str] = typer.Option(
        None, "--model-config", metavar="JSON|FILE",
        help=_default("Model configuration overrides: inline JSON or a .json/.toml file.", "the paper's model"),
    ),
    init_weights: Optional[Path] = typer.Option(
        None, "--init-weights", metavar="FILE", help=_default("Start from this weights file.", "random weights")
    ),
    resume: Optional[str] = typer.Option(
        None, "--resume", metavar="auto|PATH", help=_default(_RESUME_HELP, "a new run")
    ),
    allow_config_change: bool = typer.Option(
        False, "--allow-config-change",
        help="With --resume: accept settings that differ from the run's config.toml (e.g. a new --stage-steps); "
        "each change is named, and recorded in run.json.",
    ),
    steps: Optional[int] = typer.Option(
        None, "--steps", metavar="N",
        help=_default("Squeeze the whole schedule (all stages, in proportion) into N optimizer steps.", "the preset's epochs"),
    ),
    stage_steps: Optional[str] = typer.Option(
        None, "--stage-steps", metavar="N,N", help=_default("Exact steps per stage, e.g. 5000,500.", "the preset's epochs")
    ),
    max_steps: Optional[int] = typer.Option(
        None, "--max-steps", metavar="N",
        help=_default("Stop after N optimizer steps (resumable; not saved in config.toml: give it on each resume).", "no limit"),
    ),
    crop: Optional[str] = typer.Option(
        None, "--crop", metavar="PX[,PX]", help=_default("Crop size: one value, or one per stage.", _CROP)
    ),
    batch_size: Optional[str] = typer.Option(
        None, "--batch-size", metavar="N[,N]", help=_default("Batch size: one value, or one per stage.", _BATCH)
    ),
    lr: Optional[float] = typer.Option(
        None, "--lr", metavar="LR", help=_default("Learning rate of stage one (later stages keep their ratio to it).", _LR)
    ),
    val_every: Optional[int] = typer.Option(
        None, "--val-every", metavar="N", help=_default("Validate every N steps.", _RUN["val_every"])
    ),
    checkpoint_every: Optional[int] = typer.Option(
        None, "--checkpoint-every", metavar="N", help=_default("Checkpoint every N steps.", _RUN["checkpoint_every"])
    ),
    log_every: Optional[int] = typer.Option(
        None, "--log-every", metavar="N",
        help=_default("Every N steps: a row of train_log.csv and TensorBoard (means over the N steps) and, "
                      "without a terminal, a plain line.", _RUN["log_every"]),
    ),
    device: Optional[str] = typer.Option(
        None, "--device", metavar="DEVICE", help=_default("auto | cpu | cuda | cuda:N.", "auto")
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", metavar="N", help=_default("Data loading worker processes (0: in-process).", _RUN["workers"])
    ),
    seed: Optional[int] = typer.Option(
        None, "--seed", metavar="N", help=_default("Random seed (model init and data order).", _RUN["seed"])
    ),
    deterministic: Optional[bool] = typer.Option(
        None, "--deterministic/--no-deterministic",
        help=_default("Deterministic algorithms only (slower on GPU).", "no-deterministic"),
    ),
    precision: Optional[str] = typer.Option(
        None, "--precision", metavar="PRECISION",
        help=_default("Mixed precision: auto (bf16 on CUDA and on CPUs with native bf16, else fp32) | bf16 | "
                      "fp16 (CUDA) | fp32.", "auto"),
    ),
    old_amp: Optional[str] = typer.Option(None, "--amp", hidden=True),  # the name before 0.2; off = fp32
    no_lpips: bool = typer.Option(False, "--no-lpips", help="Train without the LPIPS loss term (weight 0)."),
    lpips_dir: Optional[Path] = typer.Option(
        None, "--lpips-dir", metavar="DIR",
        help=_default("Folder holding the LPIPS weights.",
                      "$FDIKP_LPIPS_DIR, then ~/.cache/fdikp/lpips, in a checkout ../shared/weights/lpips"),
    ),
    adversarial: Optional[float] = typer.Option(
        None, "--adversarial", metavar="WEIGHT",
        help=_default("Perceptual variant: weight of the defocus-weighted critic's term in the loss (the "
                      "adversarial.* settings tune it: warmup_steps, critic_lr, map_alpha, ...).", "0 (off)"),
    ),
    assignments: List[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", show_default=False,
        help="Any configuration value: --set loss.fft=0 --set stages.1.swa=false (repeatable).",
    ),
) -> None:
    """Train FDIKP with the paper's recipe (resumable; torchrun for several GPUs).

    The run folder gets TensorBoard event files (tensorboard --logdir RUN) when the
    tensorboard package is installed.
    """
    with cli_errors():
        from fdikp_cli.file_mode import check_writable_folder
        from fdikp_cli.training.config import StageOptions, load_model_overrides, resolve
        from fdikp_cli.training.checkpoint import resumed_config_file
        from fdikp_cli.training.trainer import train

        output = renamed("--out", old_out, "--output", output)
        amp = _amp_mode(renamed("--amp", old_amp, "--precision", precision))
        overrides = _nested({
            "data.dataset": dataset, "data.data_root": data_root, "data.sharp_dir": sharp_dir,
            "data.val_root": val_root, "data.val_crop": val_crop, "data.val_max_images": val_max_images,
            "data.workers": workers, "run.out": output, "run.total_steps": steps, "run.max_steps": max_steps,
            "run.val_every": val_every, "run.checkpoint_every": checkpoint_every, "run.log_every": log_every,
            "run.device": device, "run.seed": seed, "run.deterministic": deterministic, "run.amp": amp,
            "run.init_weights": init_weights, "loss.lpips_dir": lpips_dir, "loss.lpips": 0.0 if no_lpips else None,
            "adversarial.weight": adversarial,
        })
        if model_config is not None:
            overrides["model"] = load_model_overrides(model_config)
        base = config_file
        if base is None and resume is not None:
            base = resumed_config_file(Path(output or _OUT).expanduser(), resume)
            if base is not None:
                err_console.print(escape(f"continuing with the configuration of {base}"), highlight=False)
        config = resolve(preset, base, overrides, list(assignments),
                         StageOptions(crop=crop, batch_size=batch_size, lr=lr, steps=stage_steps))
        _check_dataset_spec(config.data.dataset)
        check_writable_folder(Path(config.run.out).expanduser())  # before any data is read
        _note_unused_validation_options(config, {"--val-every": val_every, "--val-crop": val_crop,
                                                 "--val-max-images": val_max_images})
        train(config, resume=resume, console=err_console, allow_config_change=allow_config_change)
