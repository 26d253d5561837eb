"""`fdikp train-defocus-map`: options -> DefocusTrainConfig -> fdikp_cli.defocus.training.

A command of its own rather than `fdikp train --task`: it shares none of `train`'s options
(presets, crops, stages, SWA, LPIPS, validation) and has its own (held-out photos, kernel-bank
phases, reblur weight); one command for both would show every user options that mean nothing
for the task at hand and make `train`'s resume check compare settings of two different runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

# Repeated so that --help needs no torch import; tests/test_defocus_cli.py checks them against
# DefocusTrainConfig's defaults.
_STEPS = 1500
_SYNTHETIC_BATCH = 4
_REAL_BATCH = 2
_LR = 1e-3
_HOLDOUT = "kodak24"
_SEED = 0
_REBLUR_WEIGHT = 50.0
_SYNTHETIC_CROP = 128
_REAL_CROP = 96
_ESTIMATOR_WIDTHS = "12,24,32,48,64"
_OUT = "runs/defocus_map"


def train_defocus_map_command(
    sharp_dir: Optional[Path] = typer.Option(
        None, "--sharp-dir", metavar="DIR", help="Sharp photos for synthetic pairs with known blur radius."
    ),
    data_root: Optional[Path] = typer.Option(
        None, "--data-root", metavar="DIR", help="Real pairs (source/ blurred, target/ sharp) for the reblur loss."
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", metavar="DIR", help=f"Run folder.  [default: {_OUT}]"
    ),
    old_out: Optional[Path] = typer.Option(None, "--out", hidden=True),  # the name before 0.2
    steps: int = typer.Option(_STEPS, "--steps", min=1, metavar="N", help="Optimizer steps of the whole run."),
    max_steps: Optional[int] = typer.Option(
        None, "--max-steps", min=1, metavar="N", help="Stop this session after N steps (resume later).  [default: none]"
    ),
    synthetic_batch: int = typer.Option(
        _SYNTHETIC_BATCH, "--synthetic-batch", min=0, metavar="N", help="Synthetic crops per estimator step."
    ),
    synthetic_crop: int = typer.Option(
        _SYNTHETIC_CROP, "--synthetic-crop", min=16, metavar="PX",
        help="Side of the synthetic crops (more context per crop for large blur radii).",
    ),
    real_batch: int = typer.Option(
        _REAL_BATCH, "--real-batch", min=0, metavar="N", help="Real windows per step (reblur loss)."
    ),
    real_crop: int = typer.Option(
        _REAL_CROP, "--real-crop", min=16, metavar="PX",
        help="Side of the region of each real window the reblur loss scores (the window adds 32 px of context "
             "on every side).",
    ),
    lr: float = typer.Option(_LR, "--lr", metavar="LR", help="Estimator learning rate (halved at 60 % and 85 %)."),
    reblur_weight: float = typer.Option(
        _REBLUR_WEIGHT, "--reblur-weight", min=0.0, metavar="W",
        help="Weight of the real pairs' reblur L1 against the synthetic radius L1 (px).",
    ),
    estimator_widths: str = typer.Option(
        _ESTIMATOR_WIDTHS, "--estimator-widths", metavar="W0,W1,...",
        help="Channels of the estimator at full, 1/2, 1/4, ... resolution. With --init-weights of a narrower "
             "estimator (same number of levels) the wider one starts computing the same map.",
    ),
    holdout: str = typer.Option(
        _HOLDOUT, "--holdout", metavar="NAMES", help="Comma-separated subfolders of --sharp-dir never trained on."
    ),
    init_weights: Optional[Path] = typer.Option(
        None, "--init-weights", metavar="FILE",
        help="Start from this defocus-map weights file (e.g. weights/defocus_map.safetensors) instead of fresh weights.",
    ),
    seed: int = typer.Option(_SEED, "--seed", metavar="N", help="Seed of the weights and of every crop."),
    checkpoint_every: int = typer.Option(50, "--checkpoint-every", min=1, metavar="N", help="Save checkpoint.pt every N steps."),
    resume: Optional[str] = typer.Option(
        None, "--resume", metavar="auto",
        help="auto: continue --output if it has a checkpoint (same settings required), else start it; as "
        "train --resume auto, but here also the default.  [default: auto]",
    ),
    fresh: bool = typer.Option(False, "--fresh", help="Start over even if --output holds a checkpoint."),
) -> None:
    """Train the defocus-map estimator (radius in px per pixel) and its kernel bank.

    Resumes --output when it holds a checkpoint (same settings required): --resume auto is the
    default here, unlike in train. Writes checkpoint.pt, train_log.csv and, at the end,
    defocus_map.safetensors.
    """
    from fdikp_cli.cli.aliases import renamed
    from fdikp_cli.cli.errors import cli_errors, err_console
    from fdikp_cli.errors import ConfigError

    out = Path(_OUT)  # until the options are read: the Ctrl-C hint names the run folder

    again = "the same command without --fresh" if fresh else "the same command"
    with cli_errors(lambda: f"continue with {again} (it resumes {out})"):
        out = renamed("--out", old_out, "--output", output) or Path(_OUT)
        if resume not in (None, "auto"):
            raise ConfigError(f"--resume {resume}: train-defocus-map continues only its --output folder "
                              "(--resume auto, the default)")
        if fresh and resume is not None:
            raise ConfigError("--fresh starts over: give it or --resume auto, not both")
        import torch

        from fdikp_cli.defocus.training import DefocusTrainConfig, lr_at, train_defocus_map
        from fdikp_cli.training.progress import ProgressReporter

        from fdikp_cli.defocus.estimator import EstimatorConfig

        try:
            widths = tuple(int(w) for w in estimator_widths.split(",") if w.strip())
        except ValueError:
            raise typer.BadParameter(f"expected comma-separated integers, got {estimator_widths!r}",
                                     param_hint="--estimator-widths") from None
        config = DefocusTrainConfig(
            sharp_dir=str(sharp_dir) if sharp_dir is not None and synthetic_batch else "",
            real_root=str(data_root) if data_root is not None and real_batch else "",
            holdout=tuple(name for name in holdout.split(",") if name),
            steps=steps, synthetic_batch=synthetic_batch if sharp_dir is not None else 0,
            real_batch=real_batch if data_root is not None else 0, lr=lr, seed=seed,
            synthetic_crop=synthetic_crop, crop=real_crop, reblur_weight=reblur_weight,
            init_weights=str(init_weights) if init_weights is not None else "",
            estimator=EstimatorConfig(widths=widths),
        )
        err_console.print(f"train-defocus-map: {config.steps} steps into {out} ({torch.get_num_threads()} threads)",
                          highlight=False, soft_wrap=True)
        reporter: ProgressReporter | None = None
        sums: dict[str, float] = {}
        count = 0

        def progress(step: int, total: int, phase: str, losses: dict[str, float]) -> None:
            nonlocal reporter, count
            if reporter is None:
                reporter = ProgressReporter(total, step - 1, console=err_console)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            # The bar shows the step's main loss: the radius error, or the reblur error in kernel phases.
            key = "radius_l1" if "radius_l1" in losses else "reblur_l1"
            loss = losses.get(key, float("nan"))
            logged = None
            if step % 10 == 0 or step == total:
                logged = (sums.get(key, float("nan")) / count, count)
                parts = " ".join(f"{k} {v / count:.4f}" for k, v in sums.items())
                reporter.message(f"step {step}/{total} {phase}: mean {parts} over {count} steps")
                sums.clear()
                count = 0
            stage = 0 if phase == "estimator" else 1
            reporter.update(step, stage, 2, loss, lr_at(step - 1, config),
                            config.synthetic_batch + config.real_batch, logged)

        try:
            state = train_defocus_map(config, out, resume=not fresh, checkpoint_every=checkpoint_every,
                                      progress=progress, max_steps=max_steps)
        finally:
            if reporter is not None:
                reporter.close()
        if state.step >= config.steps:
            typer.echo(f"done: {out / 'defocus_map.safetensors'}")
        else:
            typer.echo(f"stopped at step {state.step}/{config.steps}: run again to continue")
