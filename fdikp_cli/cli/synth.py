"""`fdikp synth`: make synthetic defocus training pairs from a folder of sharp photos."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


# Repeated here so that `--help` needs no import of the engine; tests/test_cli_help.py checks it
# equals SynthConfig().max_radius.
_MAX_RADIUS = 30.0


def synth_command(
    sharp_dir: Path = typer.Argument(
        ..., metavar="SHARP_DIR", help="Folder of sharp photos (searched recursively).", show_default=False
    ),
    out_dir: Path = typer.Argument(
        ..., metavar="OUT_DIR", help="Output folder; gets source/, target/ and radius/.", show_default=False
    ),
    count: int = typer.Option(..., "-n", "--count", min=1, metavar="N", help="Number of pairs to write.",
                              show_default=False),
    seed: int = typer.Option(0, "--seed", metavar="N", help="Random seed; the same seed gives the same pairs."),
    max_radius: float = typer.Option(
        _MAX_RADIUS, "--max-radius", min=0.0, metavar="PX",
        help="Largest circle-of-confusion radius in px (matches real DPDD blur at 1024x683).",
    ),
    crop: Optional[int] = typer.Option(
        None, "--crop", min=8, metavar="PX", help="Random square crop of this side before blurring (default: none)."
    ),
) -> None:
    """Write COUNT synthetic (defocused, sharp) pairs, with the CoC radius map of each.

    Radius maps are 16-bit PNGs: radius in px = value / 1000.
    Unreadable images (or over the pixel limit, as in deblur) are reported and skipped; the
    pairs are made from the others, and the exit status is 1.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.markup import escape

    from fdikp_cli.cli.errors import cli_errors, err_console
    from fdikp_cli.file_mode import check_writable_folder
    from fdikp_cli.synth import SynthConfig
    from fdikp_cli.synth.writer import write_synth_folder

    with cli_errors():
        check_writable_folder(out_dir)  # before any photo is read or any folder made
        config = SynthConfig(max_radius=max_radius)
        columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err_console, transient=False) as progress:
            task = progress.add_task("synth", total=count)
            report = write_synth_folder(
                sharp_dir,
                out_dir,
                count,
                seed=seed,
                crop=crop,
                config=config,
                on_skip=lambda path, reason: progress.console.print(
                    f"[yellow]skipped[/] {escape(f'{path}: {reason}')}", highlight=False, soft_wrap=True
                ),
                on_pair=lambda done, total: progress.update(task, completed=done),
            )
        skipped = f", skipped {len(report.skipped)} unreadable image(s)" if report.skipped else ""
        typer.echo(f"wrote {report.written} pairs to {report.out_dir}{skipped}")
    if report.skipped:
        raise typer.Exit(1)  # a photo that was asked for and not used is a failure (README: exit status)
