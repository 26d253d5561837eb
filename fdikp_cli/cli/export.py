"""`fdikp export`: a run folder -> an inference weights file with provenance."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from fdikp_cli.cli.errors import cli_errors, err_console


def export_command(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="A training run folder (the --output of fdikp train)."),
    output: Path = typer.Option(
        ..., "-o", "--output", metavar="FILE", help="Weights file to write (.safetensors).", show_default=False
    ),
    which: str = typer.Option(
        "auto", "--which", metavar="WHICH", help="auto (swa, else ema, else best, else last) | swa | ema | best | last."
    ),
    fp16: bool = typer.Option(False, "--fp16", help="Store the tensors in float16 (half the file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace FILE if it exists."),
) -> None:
    """Export a run's model (SWA if present, else best, else last) as inference weights."""
    with cli_errors():
        import torch

        from fdikp_cli.training.export import export_run

        result = export_run(run_dir, output, which, overwrite=overwrite, storage_dtype=torch.float16 if fp16 else None)
        val = result.provenance.get("validation") or {}
        metrics = f", validation PSNR {val['psnr']:.3f} dB SSIM {val['ssim']:.4f}" if "psnr" in val else ""
        err_console.print(escape(f"exported the {result.which} model of {run_dir} (step {result.provenance.get('step')})"
                          f"{metrics} to {result.path}"), highlight=False, soft_wrap=True)


def interpolate_command(
    first: Path = typer.Argument(..., metavar="A", help="Weights file at alpha 0 (e.g. the PSNR weights)."),
    second: Path = typer.Argument(..., metavar="B", help="Weights file at alpha 1 (e.g. a perceptual fine-tune of A)."),
    alpha: float = typer.Option(..., "--alpha", min=0.0, max=1.0, metavar="X", help="Share of B: (1 - X) * A + X * B.",
                                show_default=False),
    output: Path = typer.Option(
        ..., "-o", "--output", metavar="FILE", help="Weights file to write (.safetensors).", show_default=False
    ),
    fp16: bool = typer.Option(False, "--fp16", help="Store the tensors in float16 (half the file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace FILE if it exists."),
) -> None:
    """Blend two fine-tunes of one model, tensor by tensor, for a trade-off between them
    (network interpolation: PSNR weights towards perceptual ones)."""
    with cli_errors():
        import torch

        from fdikp_cli.weights_interpolation import write_interpolated

        path = write_interpolated(first, second, alpha, output, overwrite=overwrite,
                                  storage_dtype=torch.float16 if fp16 else None)
        err_console.print(escape(f"wrote {path}: {1 - alpha:g} x {first} + {alpha:g} x {second}"),
                          highlight=False, soft_wrap=True)
