"""`fdikp deblur`: options -> `fdikp_cli.inference.batch.run_deblur`, with progress and a summary.

torch is imported inside the command (through the library), so `fdikp --help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.console import Console
from rich.markup import escape

from fdikp_cli.cli.errors import cli_errors, err_console

if TYPE_CHECKING:
    from rich.table import Table

    from fdikp_cli.inference.batch import BatchSummary, FileResult

# Defaults repeated here so the module needs no torch import; tests/test_deblur_cli.py checks
# they equal the library's (DEFAULT_SUFFIX, DEFAULT_QUALITY, DEFAULT_OVERLAP, DEFAULT_TONE_LOCK_SIGMA).
_SUFFIX, _QUALITY, _OVERLAP, _TONE_LOCK = "_deblurred", 95, 64, 32.0
_FULL_TABLE_ROWS = 50  # longer batches list only what went wrong


class _ConsoleReporter:
    """Progress bars with the time remaining, for the batch (files) and the current image
    (tiles), on a terminal only; one line per file; messages (stderr). Counts what finished, for
    Ctrl-C's hint."""

    def __init__(self, console: Console, quiet: bool, prefix: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from fdikp_cli.cli.eta import RemainingColumn

        self.console, self.quiet, self.prefix = console, quiet, escape(prefix)
        self.position = (0, 0)  # (files finished, files to run) of the batch's work
        self.batch_started = False
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            RemainingColumn(),  # a time from the first finished file (or tile) on
            console=console,
            transient=True,
            disable=quiet or not console.is_terminal,  # a pipe or log gets the lines, not bars (nor a blank line)
            speed_estimate_period=3600.0,  # photos take minutes each on a CPU: keep every sample
        )
        self.batch = self.progress.add_task(self.prefix + "batch", total=None, visible=False, detail="")
        self.task = self.progress.add_task("", total=None, visible=False, detail="")

    def __enter__(self) -> "_ConsoleReporter":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def _line(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        self._line(f"{self.prefix}[yellow]{escape(text)}[/]")

    def file_started(self, index: int, total: int, source: Path) -> None:
        self.position = (index, total)
        if total > 1:
            if not self.batch_started:  # the batch's clock starts at its first file, not at the model's loading
                self.progress.reset(self.batch)
                self.batch_started = True
            self.progress.update(self.batch, total=total, completed=index, visible=True, detail=f"{index}/{total} files")
        description = self.prefix + escape(f"[{index + 1}/{total}] {source.name}")  # prefix: escaped once
        self.progress.reset(self.task, description=description, total=None, completed=0, visible=True,
                            detail="reading")

    def tile_progress(self, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total, detail=f"tile {done}/{total}")

    def file_finished(self, result: "FileResult") -> None:
        self.progress.update(self.task, visible=False)
        if result.status == "failed":
            self._line(f"{self.prefix}[red]failed[/] {escape(f'{result.source}: {result.reason}')}")
        elif not self.quiet:
            where = f" -> {result.output}" if result.output else ""
            took = f" ({result.seconds:.1f} s)" if result.status == "done" else f" ({result.reason})"
            self._line(self.prefix + escape(f"{result.status} {result.source}{where}{took}"))
            for note in result.notes:
                self._line(f"{self.prefix}  [yellow]note:[/] {escape(note)}")


def _summary_table(rows: "list[FileResult]", prefix: str, width: int) -> "Table":
    """The batch as a table for a terminal `width` characters wide: paths and reasons on as many
    lines as they need, broken only after a separator ("/tmp/shoot/" over "IMG_0001.jpg"), never
    inside a file name (fdikp_cli.table_layout)."""
    from rich.table import Table

    from fdikp_cli.table_layout import (WORD_LIMIT, break_at_separators, fit_widths, longest_part, longest_word,
                                        table_space)

    headers = ("input", "result", "output / reason", "MP", "tiles", "s")
    cells = []
    for r in rows:
        done = r.status == "done"
        numbers = (f"{r.megapixels:.1f}", str(r.tiles), f"{r.seconds:.1f}") if done else ("", "", "")
        cells.append((str(r.source), r.status, str(r.output) if done else r.reason, *numbers))
    columns = list(zip(headers, *cells))
    natural = [max(map(len, column)) for column in columns]
    minimal = [max(map(longest_word, column)) for column in columns]  # numbers and words: never cut
    for text_column in (0, 2):  # paths and reasons: broken after a separator
        minimal[text_column] = min(max(map(longest_part, columns[text_column])), WORD_LIMIT)
    widths = fit_widths(natural, minimal, table_space(width, len(headers)), [[0, 2]])
    table = Table(title=escape(f"{prefix}fdikp deblur"), title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, width=widths[index], no_wrap=True, justify="right" if index > 2 else "left")
    style = {"done": "green", "skipped": "yellow", "failed": "red"}
    for source, status, detail, *numbers in cells:
        table.add_row(escape(break_at_separators(source, widths[0])), f"[{style[status]}]{status}[/]",
                      escape(break_at_separators(detail, widths[2])), *numbers)
    return table


def _print_summary(summary: "BatchSummary", prefix: str) -> None:
    """On a terminal, the table of the batch (its bars are gone by then), then the counts. Piped
    or redirected, only the counts (stdout): each file's line on stderr already said what became
    of it, and a result must not appear twice in a log."""
    rows = summary.results
    if len(rows) > _FULL_TABLE_ROWS:
        rows = [r for r in rows if r.status != "done"]
    console = Console()
    if rows and console.is_terminal:
        console.print(_summary_table(rows, prefix, console.width))
    counts = f"{prefix}{len(summary.done)} done, {len(summary.skipped)} skipped, {len(summary.failed)} failed"
    if summary.device and summary.done:
        counts += f" (on {summary.device}, {summary.precision})"
    console.print(escape(counts), highlight=False, soft_wrap=True)


def _continue_hint(reporter: "_ConsoleReporter", overwrite: bool) -> str:
    finished, total = reporter.position
    done = f"{finished} of {total} files finished; " if total else ""
    instead = " instead of --overwrite" if overwrite else ""
    return f"{done}to continue, run the same command with --skip-existing{instead}"


def deblur_command(
    inputs: List[str] = typer.Argument(
        ..., metavar="INPUT...", help="Image files, folders or glob patterns (quote globs: '**/*.jpg').",
        show_default=False,
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", metavar="PATH",
        help="Output file (one input) or folder (subfolders kept). Default: beside each input.",
    ),
    suffix: str = typer.Option(_SUFFIX, "--suffix", metavar="TEXT", help="Added to each output name: NAME{suffix}.EXT."),
    image_format: Optional[str] = typer.Option(
        None, "--format", metavar="FORMAT", help="Output format: jpg, png, tif, webp or bmp. Default: the input's."
    ),
    quality: int = typer.Option(
        _QUALITY, "--quality", min=1, max=100, metavar="1-100", help="JPEG/WebP quality (WebP 100: lossless)."
    ),
    recursive: bool = typer.Option(False, "-r", "--recursive", help="Also take images in subfolders of folder inputs."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs (inputs are never replaced)."),
    skip_existing: bool = typer.Option(
        False, "--skip-existing", help="Skip inputs whose output exists (to continue an interrupted batch)."
    ),
    strip_metadata: bool = typer.Option(False, "--strip-metadata", help="Write no ICC profile and no EXIF."),
    tile: str = typer.Option(
        "auto", "--tile", metavar="auto|0|N",
        help="Tile side in pixels (rounded down to the model's size multiple, 32 px, and at least two of them; "
        "a note says when); 0: whole image; auto: the whole image when it fits in free memory (RAM on CPU, "
        "GPU memory on CUDA), else the largest tile that does.",
    ),
    tile_overlap: int = typer.Option(
        _OVERLAP, "--tile-overlap", min=0, metavar="PX", help="Pixels shared by neighbouring tiles."
    ),
    device: str = typer.Option("auto", "--device", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps."),
    precision: str = typer.Option(
        "auto",
        "--precision",
        metavar="PRECISION",
        help="auto (CPU: bf16 where the CPU has native bf16, else fp32; CUDA: bf16, else fp16), fp32, fp16 or bf16.",
    ),
    weights: Optional[Path] = typer.Option(
        None, "-w", "--weights", metavar="FILE", help="Weights file (default: the shipped weights)."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", metavar="default|perceptual",
        help="A shipped model instead of --weights: default (tuned for PSNR) or perceptual (fine-tuned with a "
        "defocus-weighted critic: more texture, a little less PSNR; weights/PERCEPTUAL.md).  [default: default]",
    ),
    tone_lock: float = typer.Option(
        _TONE_LOCK, "--tone-lock", min=0.0, metavar="SIGMA",
        help="Keep the input's tones and colour at scales above this many pixels (Gaussian sigma); 0: off.",
    ),
    compare: bool = typer.Option(False, "--compare", help="Also write NAME{suffix}_compare.EXT: input | output."),
    save_maps: bool = typer.Option(
        False, "--save-maps", help="Also write NAME{suffix}_dilation.png: where the model saw the most blur."
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress and no summary; failures still reported."),
) -> None:
    """Deblur photographs: NAME_deblurred.EXT is written beside each input.

    Bit depth, alpha, orientation, ICC profile and EXIF are kept. Large photos run in blended
    tiles. Every output is checked (folder writable, name free) before the first image runs.
    Exit status 1 if any file failed, 2 for a usage error.
    """
    reporter: _ConsoleReporter | None = None

    def hint() -> str | None:
        return _continue_hint(reporter, overwrite) if reporter is not None else None

    with cli_errors(on_interrupt=hint):
        from fdikp_cli.inference.batch import DeblurOptions, parse_tile, run_deblur
        from fdikp_cli.inference.device import rank_from_environment, wait_for_all_ranks
        from fdikp_cli.weights import resolve_model_weights

        weights = resolve_model_weights(model, weights)  # before any output check: a missing file fails first

        options = DeblurOptions(
            output=output, suffix=suffix, format=image_format, quality=quality, overwrite=overwrite,
            skip_existing=skip_existing, strip_metadata=strip_metadata, recursive=recursive,
            tile=parse_tile(tile), overlap=tile_overlap, compare=compare, save_maps=save_maps,
            tone_lock=tone_lock or None,
        )  # fmt: skip
        rank = rank_from_environment()
        prefix = f"[rank {rank.rank}/{rank.world_size}] " if rank.world_size > 1 else ""
        reporter = _ConsoleReporter(err_console, quiet, prefix)
        with reporter:
            summary = run_deblur(
                inputs, options, weights=weights, device=device, precision=precision, reporter=reporter
            )
        if not quiet:
            _print_summary(summary, prefix)
        wait_for_all_ranks(rank)  # before exiting 1: torchrun would stop the other processes
    if not summary.ok:
        raise typer.Exit(1)
