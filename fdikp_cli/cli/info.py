"""`fdikp info`: configuration, parameter count and the weights in use.

Printed as plain `key: value` lines, nested values indented under their key: nothing is cut at
any width (a table cut the weights path and the sha256 at 80 columns, and showed the
provenance as raw JSON). `--json` prints the same report for programs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from fdikp_cli.cli.errors import cli_errors


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"  # 0.00019999999999999998 -> 0.0002
    if value is None:
        return "none"
    return str(value)


def readable_lines(values: dict[str, Any], indent: int = 1) -> list[str]:
    """Nested JSON-like values as indented `key: value` lines; lists of scalars joined by commas,
    lists of tables one "- " item per table."""
    pad = "  " * indent
    lines: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict):
            lines += [f"{pad}{key}:", *readable_lines(value, indent + 1)] if value else [f"{pad}{key}: none"]
        elif isinstance(value, (list, tuple)) and any(isinstance(item, dict) for item in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                if isinstance(item, dict) and all(not isinstance(v, (dict, list)) for v in item.values()):
                    lines.append(f"{pad}  - " + ", ".join(f"{k}: {_scalar(v)}" for k, v in item.items()))
                elif isinstance(item, dict):
                    lines += [f"{pad}  -", *readable_lines(item, indent + 2)]
                else:
                    lines.append(f"{pad}  - {_scalar(item)}")
        elif isinstance(value, (list, tuple)):
            separator = "; " if any(isinstance(v, str) for v in value) else ", "  # "pairs: 38 pairs; synthetic: ..."
            lines.append(f"{pad}{key}: " + separator.join(_scalar(v) for v in value))
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines


def info_command(
    weights: Optional[Path] = typer.Option(
        None, "-w", "--weights", metavar="FILE", help="Weights file (default: the shipped weights)."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", metavar="default|perceptual", help="Describe a shipped model instead of --weights."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Show the model configuration, its parameter count and the weights in use."""
    with cli_errors():
        from fdikp_cli.info import describe
        from fdikp_cli.weights import resolve_model_weights

        report = describe(resolve_model_weights(model, weights))
        if as_json:
            typer.echo(json.dumps(report, indent=2, sort_keys=True))
            return
        w = report["weights"]
        lines = [
            f"fdikp {report['version']} (torch {report['torch']})",
            f"parameters: {report['parameters']:,}",
            f"weights: {w['path']}" if w["path"] else
            f"weights: none: the model is randomly initialised (no {w['expected_default']})",
        ]
        if w["sha256"]:
            lines.append(f"sha256: {w['sha256']}")
        lines.append("shipped models (deblur --model NAME):")
        for name, item in report["shipped_models"].items():
            lines.append(f"  {name}: {item['path']}" + ("" if item["installed"] else " (not installed)"))
        defocus = report["defocus_map_weights"]
        lines.append(f"defocus-map weights (defocus-map, deblur --save-maps): {defocus['path']}"
                     + ("" if defocus["installed"] else " (not installed)"))
        lines += ["configuration:", *readable_lines(dict(sorted(report["config"].items())))]
        if w["provenance"]:
            lines += ["provenance:", *readable_lines(w["provenance"])]
        typer.echo("\n".join(lines))
