"""`fdikp evaluate`: PSNR / SSIM / MAE / LPIPS of outputs against targets, under a named protocol.

Two modes:
    fdikp evaluate PRED_DIR --target TARGET_DIR [--source BLURRY_DIR]
    fdikp evaluate --dataset dpdd|lfdof|realdof|rtf|pairs --data-root DIR [--weights W]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from fdikp_cli.cli.aliases import renamed
from fdikp_cli.cli.deblur import _OVERLAP, _TONE_LOCK
from fdikp_cli.cli.errors import cli_errors, err_console
from fdikp_cli.errors import ConfigError

if TYPE_CHECKING:
    from fdikp_cli.evaluation import EvaluationReport


def _check_destinations(json_path: Path | None, csv_path: Path | None, save_outputs: Path | None) -> None:
    """Refuse a report file or output folder that cannot be written before anything is loaded
    or scored (an OutputWriteError: exit 1, as for any file that cannot be written)."""
    from fdikp_cli.evaluation.report import check_file_writable, check_folder_writable

    for option, path in (("--json-file", json_path), ("--csv-file", csv_path)):
        if path is not None:
            check_file_writable(path, option)
    if save_outputs is not None:
        check_folder_writable(save_outputs, "--save-outputs")


def _show_report(report: "EvaluationReport", no_lpips: bool) -> None:
    """The tables on stdout (one line instead when no image was scored); notes, warnings and the
    pairs not scored on stderr, each message on one line. On a terminal the tables fit its width
    without breaking a name; in a pipe or file, which has no width, they take their natural one."""
    from rich.console import Console
    from rich.markup import escape

    from fdikp_cli.evaluation.report import image_table, summary_table

    console = Console()
    if not report.images:
        console.print("no images scored", highlight=False)
    else:
        tables = [image_table(report, console.width if console.is_terminal else None), summary_table(report)]
        if not console.is_terminal:
            wide = console.options.update_width(10_000)
            console = Console(width=max(console.width, *(console.measure(t, options=wide).maximum for t in tables)))
        for table in tables:
            console.print(table)
        console.print(f"[bold]protocol {report.protocol}[/], {report.bit_depth}-bit: {report.protocol_description}",
                      highlight=False, soft_wrap=True)
    if report.tiling is not None and report.images:
        mode = "whole images" if report.tiling["whole_image"] else f"tiles of {report.tiling['tile']} px"
        run = f", {report.model_run['device']}, {report.model_run['precision']}" if report.model_run else ""
        console.print(
            escape(f"model: {report.weights['path'] if report.weights else '?'} ({mode}{run})"),
            highlight=False,
            soft_wrap=True,
        )
    if report.lpips_missing and not no_lpips:
        err_console.print(f"[yellow]LPIPS not computed:[/] {escape(report.lpips_missing)}", highlight=False,
                          soft_wrap=True)
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if report.unscored:
        total = len(report.images) + len(report.unscored)
        err_console.print(f"[red]not scored:[/] {len(report.unscored)} of {total} pairs", highlight=False)
        for item in report.unscored:
            err_console.print(escape(f"  {item.name}: {item.reason}"), highlight=False, soft_wrap=True)


def _partial_note(report: "EvaluationReport", written: list[Path]) -> str:
    """What Ctrl-C kept: said after "interrupted: "."""
    finished = len(report.images) + len(report.unscored)
    where = f"; partial report in {', '.join(map(str, written))}" if written else ""
    return f"{finished} of {report.pairs_total} pairs finished, {len(report.images)} scored{where}"


def evaluate_command(
    pred_dir: Optional[Path] = typer.Argument(
        None, metavar="PRED_DIR", help="Folder of restored images to score (folder mode).", show_default=False
    ),
    target: Optional[Path] = typer.Option(None, "--target", metavar="DIR", help="Folder of sharp targets (folder mode)."),
    source: Optional[Path] = typer.Option(
        None, "--source", metavar="DIR",
        help="Folder mode: the blurry inputs, to report their own scores (the baseline) and the gain.",
    ),
    pair_by: str = typer.Option(
        "name", "--pair-by", metavar="name|order", help="Folder mode: pair by file 'name' or sorted 'order'."
    ),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", metavar="NAME", help="Run the model over a test split: dpdd, lfdof, realdof, rtf or pairs."
    ),
    data_root: Optional[Path] = typer.Option(
        None, "--data-root", metavar="DIR", help="The dataset's folder (with --dataset)."
    ),
    weights: Optional[Path] = typer.Option(
        None, "-w", "--weights", metavar="FILE", help="Model weights (default: the shipped weights)."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", metavar="default|perceptual",
        help="A shipped model instead of --weights: default (tuned for PSNR) or perceptual (fine-tuned with a "
        "defocus-weighted critic: more texture, a little less PSNR; weights/PERCEPTUAL.md).  [default: default]",
    ),
    tile: Optional[int] = typer.Option(
        None, "--tile", min=0, metavar="PX", help="Run the model in tiles of PX pixels (default: whole image)."
    ),
    tile_overlap: int = typer.Option(
        _OVERLAP, "--tile-overlap", min=0, metavar="PX", help="Pixels shared by neighbouring tiles (with --tile)."
    ),
    old_overlap: Optional[int] = typer.Option(None, "--overlap", min=0, hidden=True),  # the name before 0.2
    save_outputs: Optional[Path] = typer.Option(
        None, "--save-outputs", metavar="DIR", help="Also write the model's outputs here."
    ),
    protocol: str = typer.Option(
        "dpdd", "--protocol", metavar="NAME",
        help="dpdd (scikit-image SSIM, float outputs) or wang (MATLAB SSIM, 8-bit outputs).",
    ),
    bit_depth: int = typer.Option(
        8, "--bit-depth", metavar="8|16", help="Read images as 8-bit (16-bit files reduced to their high byte) or 16."
    ),
    lpips_dir: Optional[Path] = typer.Option(
        None, "--lpips-dir", metavar="DIR",
        help="Folder holding the LPIPS weights (then $FDIKP_LPIPS_DIR, ~/.cache/fdikp/lpips, in a checkout "
        "../shared/weights/lpips, a download).",
    ),
    old_lpips_weights: Optional[Path] = typer.Option(None, "--lpips-weights", hidden=True),  # the name before 0.2
    no_lpips: bool = typer.Option(False, "--no-lpips", help="Skip LPIPS."),
    lpips_net: str = typer.Option(
        "alex", "--lpips-net", metavar="alex|squeeze|both",
        help="LPIPS backbone: alex (column LPIPS), squeeze (column LPIPS_SQUEEZE; its weights "
        "squeezenet1_1-b8a52dc0.pth and squeeze.pth must be in the LPIPS folder) or both.",
    ),
    no_download: bool = typer.Option(False, "--no-download", help="Never download the LPIPS weights."),
    labels_indoor: Optional[Path] = typer.Option(
        None, "--labels-indoor", metavar="FILE", help="Text file of indoor image names."
    ),
    labels_outdoor: Optional[Path] = typer.Option(
        None, "--labels-outdoor", metavar="FILE", help="Text file of outdoor image names."
    ),
    json_path: Optional[Path] = typer.Option(None, "--json-file", metavar="FILE", help="Write the report as JSON."),
    old_json_path: Optional[Path] = typer.Option(None, "--json", hidden=True),  # the name before 0.2
    csv_path: Optional[Path] = typer.Option(
        None, "--csv-file", metavar="FILE", help="Write the per-image scores, means and gain as CSV."
    ),
    old_csv_path: Optional[Path] = typer.Option(None, "--csv", hidden=True),  # the name before 0.2
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps."),
    precision: str = typer.Option(
        "auto",
        "--precision",
        metavar="PRECISION",
        help="With --dataset: the model's precision. auto (CPU: bf16 where the CPU has native bf16, else fp32; "
        "CUDA: bf16, else fp16), fp32, fp16 or bf16. Metrics are always computed in float64 / float32.",
    ),
    tone_lock: float = typer.Option(
        _TONE_LOCK, "--tone-lock", min=0.0, metavar="SIGMA",
        help="With --dataset: the outputs keep the input's tones above this Gaussian sigma (px), as deblur "
        "writes them; 0: score the raw model output.",
    ),
) -> None:
    """Score restored images (PSNR, SSIM, MAE, LPIPS) under a named protocol, with the blurry input's
    scores beside them when the inputs are known.

    Pairs that cannot be scored (sizes differ, unreadable files) are listed with the reason; the
    others are scored and reported, and the exit status is 1. Where the report and outputs go is
    checked before anything is scored. Ctrl-C prints and writes the report of the pairs finished
    so far (marked partial) and exits 130.
    """
    note: list[str] = []  # what Ctrl-C kept, once the partial report is written

    with cli_errors(on_interrupt=lambda: note[0] if note else None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from fdikp_cli.cli.eta import RemainingColumn
        from fdikp_cli.evaluation import EvaluationInterrupted, EvaluationOptions, evaluate_dataset, evaluate_folders

        tile_overlap = renamed("--overlap", old_overlap, "--tile-overlap", tile_overlap, _OVERLAP)
        lpips_dir = renamed("--lpips-weights", old_lpips_weights, "--lpips-dir", lpips_dir)
        json_path = renamed("--json", old_json_path, "--json-file", json_path)
        csv_path = renamed("--csv", old_csv_path, "--csv-file", csv_path)
        folder_mode = pred_dir is not None
        if folder_mode == (dataset is not None):
            raise ConfigError("give either PRED_DIR with --target, or --dataset with --data-root")
        if folder_mode and target is None:
            raise ConfigError("PRED_DIR needs --target TARGET_DIR")
        if not folder_mode and data_root is None:
            raise ConfigError("--dataset needs --data-root DIR")
        if folder_mode and model is not None:
            raise ConfigError("--model runs a model: it needs --dataset (PRED_DIR holds finished outputs)")
        from fdikp_cli.weights import resolve_model_weights

        weights = resolve_model_weights(model, weights)
        if lpips_net not in ("alex", "squeeze", "both"):
            raise ConfigError(f"--lpips-net must be alex, squeeze or both, got {lpips_net!r}")
        _check_destinations(json_path, csv_path, save_outputs if not folder_mode else None)
        labels = {name: path for name, path in (("indoor", labels_indoor), ("outdoor", labels_outdoor)) if path}
        options = EvaluationOptions(
            protocol=protocol,
            bit_depth=bit_depth,
            use_lpips=not no_lpips,
            lpips_weights=lpips_dir,
            lpips_download=not no_download,
            lpips_net=lpips_net,
            device=device,
            precision=precision,
            labels=labels,
            tone_lock=tone_lock or None,
        )
        interrupted: EvaluationInterrupted | None = None
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("eta"),
            RemainingColumn(), console=err_console, transient=True,
            disable=not err_console.is_terminal,  # no bar, nor the blank line it leaves, in a pipe or log
            speed_estimate_period=3600.0,  # a CPU may take minutes per image: keep every sample
        ) as bar:
            task = bar.add_task("evaluating", total=None)

            def progress(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=name)

            try:
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
                        overlap=tile_overlap,
                        save_outputs=save_outputs,
                        options=options,
                        progress=progress,
                    )
            except EvaluationInterrupted as stop:  # keep what was scored, as a batch keeps its files
                interrupted, report = stop, stop.report

        _show_report(report, no_lpips)
        if tile and report.tiling is not None:  # restore() rounds --tile and caps --tile-overlap: say so
            from rich.markup import escape

            from fdikp_cli.inference.restore import tiling_notes

            for text in tiling_notes(tile, tile_overlap, report.tiling["tile"]):
                err_console.print(escape(f"note: {text}"), highlight=False, soft_wrap=True)
        written = [path for path in (json_path, csv_path) if path is not None]
        if json_path is not None:
            report.write_json(json_path)
        if csv_path is not None:
            report.write_csv(csv_path)
        if interrupted is not None:
            note.append(_partial_note(report, written))
            raise interrupted  # cli_errors: "interrupted: <note>", exit status 130
    if report.unscored:
        raise typer.Exit(1)
