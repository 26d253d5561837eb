"""`fdikp defocus-map`: options -> `fdikp_cli.defocus.files.run_defocus_map`, one line per photo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

# Repeated so --help needs no torch import; tests/test_defocus_cli.py checks it equals the library's.
_WORK_SIDE = 1024


def defocus_map_command(
    inputs: List[str] = typer.Argument(
        ..., metavar="INPUT...", help="Image files, folders or glob patterns (quote globs: '**/*.jpg').",
        show_default=False,
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", metavar="DIR", help="Output folder (subfolders kept). Default: beside each input."
    ),
    overlay: bool = typer.Option(False, "--overlay", help="Also write NAME_radius_overlay.png: the colours over the photo."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Leave photos whose map exists (resume a batch)."),
    recursive: bool = typer.Option(False, "-r", "--recursive", help="Look into subfolders of folder inputs."),
    weights: Optional[Path] = typer.Option(
        None, "-w", "--weights", metavar="FILE", help="Estimator weights (default: weights/defocus_map.safetensors)."
    ),
    work_side: int = typer.Option(
        _WORK_SIDE, "--work-side", min=16, metavar="PX",
        help="Larger photos are estimated at this long side (the training scale); radii stay in photo px.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (stdout) instead of lines."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only failures and the JSON."),
) -> None:
    """Where each photo is out of focus, and by how much: blur radius in px per pixel.

    Writes NAME_radius.png (16-bit, radius in px = value / 100; the unit is also in the PNG's
    text chunks) and NAME_radius_colour.png (colour from 0 to just above the largest radius, the
    range on its scale bar). Prints per photo the share in focus (r <= 1 px at the working
    scale), the median and 90th-percentile radius, and a note for a photo too small to judge.
    """
    from fdikp_cli.cli.deblur import _ConsoleReporter, _continue_hint
    from fdikp_cli.cli.errors import EXIT_FAILED, cli_errors, err_console

    reporter: _ConsoleReporter | None = None

    def hint() -> str | None:  # after Ctrl-C: how many photos are done, how to continue
        return _continue_hint(reporter, overwrite) if reporter is not None else None

    with cli_errors(on_interrupt=hint):
        from fdikp_cli.defocus.files import MapOptions, MapResult, run_defocus_map

        options = MapOptions(output=output, overlay=overlay, overwrite=overwrite, skip_existing=skip_existing,
                             recursive=recursive, work_side=work_side)

        class MapReporter(_ConsoleReporter):
            """deblur's progress bars (files, time remaining) and failure lines; a summary line per
            photo on stdout (none with --json, which prints everything at the end, or -q)."""

            def file_finished(self, result: object) -> None:
                if isinstance(result, MapResult) and result.summary is not None:
                    self.progress.update(self.task, visible=False)
                    if not (as_json or quiet):  # on a terminal rich shows it above the bars
                        typer.echo(f"{result.source}: {result.summary.line()} -> {result.output}")
                    return
                super().file_finished(result)  # type: ignore[arg-type]

        reporter = MapReporter(err_console, quiet or as_json, "")
        with reporter:
            batch = run_defocus_map(inputs, options, weights=weights, reporter=reporter)
        if as_json:
            document = {
                "unit": "radius in px of the photo; 16-bit PNG value = radius_px * 100",
                "photos": [
                    {"source": str(r.source), "status": r.status, "reason": r.reason or None,
                     "outputs": [str(p) for p in ([r.output] if r.output else []) + r.extra_outputs]
                     if r.status == "done" else [],
                     **({"width": r.width, "height": r.height, "seconds": round(r.seconds, 3),
                         **r.summary.to_dict()} if isinstance(r, MapResult) and r.summary is not None else {})}
                    for r in batch.results
                ],
            }
            typer.echo(json.dumps(document, indent=2))
        if not batch.ok:
            raise typer.Exit(EXIT_FAILED)
