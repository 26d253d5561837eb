"""The `fdikp` Typer application: registers one command per module.

Command modules import torch lazily (inside the command function), so `fdikp --help`
and `fdikp --version` stay instant. Help is Click's plain layout (cli/help_format.py): it
reads at 80 columns in a terminal, a CI log or a pipe alike.
"""

from __future__ import annotations

from typing import Optional

import typer

from fdikp_cli import __version__
from fdikp_cli.cli import defocus_map, deblur, evaluate, export, info, synth, train, train_defocus_map
from fdikp_cli.cli.help_format import Command, Group

# -h as well as --help, for the app and each command (set on each: a command keeps it when run
# on its own, outside the group).
_CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="fdikp",
    help="Make defocused photographs sharp (FDIKP: Frequency-Driven Inverse Kernel Prediction).",
    no_args_is_help=True,
    cls=Group,
    rich_markup_mode=None,  # plain help: see cli/help_format.py
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings=_CONTEXT,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"fdikp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """fdikp: single-image defocus deblurring."""


app.command("deblur", cls=Command, context_settings=_CONTEXT)(deblur.deblur_command)
app.command("defocus-map", cls=Command, context_settings=_CONTEXT)(defocus_map.defocus_map_command)
app.command("evaluate", cls=Command, context_settings=_CONTEXT)(evaluate.evaluate_command)
app.command("train", cls=Command, context_settings=_CONTEXT)(train.train_command)
app.command("train-defocus-map", cls=Command, context_settings=_CONTEXT)(train_defocus_map.train_defocus_map_command)
app.command("export", cls=Command, context_settings=_CONTEXT)(export.export_command)
app.command("interpolate", cls=Command, context_settings=_CONTEXT)(export.interpolate_command)
app.command("synth", cls=Command, context_settings=_CONTEXT)(synth.synth_command)
app.command("info", cls=Command, context_settings=_CONTEXT)(info.info_command)


def main() -> None:
    app()
