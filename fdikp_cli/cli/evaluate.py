"""`fdikp evaluate`: PSNR / SSIM / MAE / LPIPS of outputs against targets, under a named protocol.

Two modes:
    fdikp evaluate PRED_DIR --target TARGET_DIR [--source BLURRY_DIR]
    fdikp evaluate --dataset dpdd|lfdof|realdof|rtf|pairs --data-root DIR [--weights W]
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fdikp_cli.cli.deblur import _TONE_LOCK
from fdikp_cli.cli.errors import cli_errors, err_console


def evaluate_command(
    pred_dir: Optional[Path] = typer.Argument(None, help="Folder of restored images to score (folder mode)."),
    target: Optional[Path] = typer.Option(None, "--target", help="Folder of sharp targets (folder mode)."),
    source: Optional[Path] = typer.Option(
        None, "--source", help="Folder mode: the blurry inputs, to report their own scores (the baseline)."
    ),
    pair_by: str = typer.Option("name", "--pair-by", help="Folder mode: pair by file 'name' or sorted 'order'."),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", help="Run the model over a test split: dpdd, lfdof, realdof, rtf or pairs."
    ),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="The dataset's folder (with --dataset)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Model weights (default: the shipped weights)."),
    tile: Optional[int] = typer.Option(None, "--tile", min=0, help="Run the model in tiles of N pixels (default: whole image)."),
    overlap: int = typer.Option(64, "--overlap", min=0, help="Tile overlap in pixels (with --tile)."),
    save_outputs: Optional[Path] = typer.Option(None, "--save-outputs", help="Also write the model's outputs here."),
    protocol: str = typer.Option("dpdd", "--protocol", help="dpdd (scikit-image SSIM, float outputs) or wang (MATLAB SSIM, 8-bit outputs)."),
    bit_depth: int = typer.Option(8, "--bit-depth", help="Read images as 8-bit (16-bit files reduced to their high byte) or 16."),
    lpips_weights: Optional[Path] = typer.Option(None, "--lpips-weights", help="Folder holding the LPIPS weights."),
    no_lpips: bool = typer.Option(False, "--no-lpips", help="Skip LPIPS."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download the LPIPS weights."),
    labels_indoor: Optional[Path] = typer.Option(None, "--labels-indoor", help="Text file of indoor image names."),
    labels_outdoor: Optional[Path] = typer.Option(None, "--labels-outdoor", help="Text file of outdoor image names."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write the per-image scores and means as CSV."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    precision: str = typer.Option(
        "auto",
        "--precision",
        help="With --dataset: the model's precision. auto (CPU: bf16 where the CPU has native bf16, else fp32; "
        "CUDA: bf16, else fp16), fp32, fp16 or bf16. Metrics are always computed in float64 / float32.",
    ),
    tone_lock: float = typer.Option(
        _TONE_LOCK, "--tone-lock", min=0.0,
        help="With --dataset: the outputs keep the input's tones above this Gaussian sigma (px), as deblur "
        "writes them; 0: score the raw model output.",
    ),
) -> None:
    """Score restored images (PSNR, SSIM, MAE, LPIPS) under a named protocol, with the blurry input's
    scores beside them when the inputs are known."""
    with cli_errors():
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from fdikp_cli.errors import ConfigError
        from fdikp_cli.evaluation import EvaluationOptions, evaluate_dataset, evaluate_folders
        from fdikp_cli.evaluation.report import image_table, summary_table

        folder_mode = pred_dir is not None
        if folder_mode == (dataset is not None):
            raise ConfigError("give either PRED_DIR with --target, or --dataset with --data-root")
        if folder_mode and target is None:
            raise ConfigError("PRED_DIR needs --target TARGET_DIR")
        if not folder_mode and data_root is None:
            raise ConfigError("--dataset needs --data-root DIR")
        labels = {name: path for name, path in (("indoor", labels_indoor), ("outdoor", labels_outdoor)) if path}
        options = EvaluationOptions(
            protocol=protocol,
            bit_depth=bit_depth,
            use_lpips=not no_lpips,
            lpips_weights=lpips_weights,
            lpips_download=not no_download,
            device=device,
            precision=precision,
            labels=labels,
            tone_lock=tone_lock or None,
        )
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=err_console, transient=True,
        ) as bar:
            task = bar.add_task("evaluating", total=None)

            def progress(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=name)

            if folder_mode:
                report = evaluate_folders(
                    pred_dir, target, source_dir=source, pair_by=pair_by, options=options, progress=progress  # type: ignore[arg-type]
                )
            else:
                report = evaluate_dataset(
                    dataset,  # type: ignore[arg-type]
                    data_root,  # type: ignore[arg-type]
                    weights,
                    tile=tile,
                    overlap=overlap,
                    save_outputs=save_outputs,
                    options=options,
                    progress=progress,
                )

        console = Console()
        console.print(image_table(report))
        console.print(summary_table(report))
        console.print(f"[bold]protocol {report.protocol}[/], {report.bit_depth}-bit: {report.protocol_description}", highlight=False)
        if report.tiling is not None:
            mode = "whole images" if report.tiling["whole_image"] else f"tiles of {report.tiling['tile']} px"
            run = f", {report.model_run['device']}, {report.model_run['precision']}" if report.model_run else ""
            console.print(
                escape(f"model: {report.weights['path'] if report.weights else '?'} ({mode}{run})"),
                highlight=False,
                soft_wrap=True,
            )
        if report.lpips_missing and not no_lpips:
            err_console.print(f"[yellow]LPIPS not computed:[/] {escape(report.lpips_missing)}", highlight=False)
        for warning in report.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        if json_path is not None:
            report.write_json(json_path)
        if csv_path is not None:
            report.write_csv(csv_path)
