"""`fdikp info`: configuration, parameter count and the weights in use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from fdikp_cli.cli.errors import cli_errors


def info_command(
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Weights file (default: the shipped weights)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show the model configuration, its parameter count and the weights in use."""
    with cli_errors():
        from fdikp_cli.info import describe

        report = describe(weights)
        if as_json:
            typer.echo(json.dumps(report, indent=2, sort_keys=True))
            return
        from rich.console import Console
        from rich.table import Table

        console = Console()
        table = Table(title="fdikp", show_header=False)
        table.add_row("version", report["version"])
        table.add_row("parameters", f"{report['parameters']:,}")
        w = report["weights"]
        table.add_row("weights", w["path"] if w["path"] else "[yellow]none: randomly initialised model[/]")
        if w["sha256"]:
            table.add_row("sha256", w["sha256"])
        for key, value in sorted(report["config"].items()):
            table.add_row(f"config.{key}", str(value))
        for key, value in sorted(w["provenance"].items()):
            table.add_row(f"provenance.{key}", json.dumps(value) if not isinstance(value, str) else value)
        console.print(table)
