"""`fdikp synth` (placeholder until its issue lands)."""

import typer


def synth_command() -> None:
    """Not implemented yet."""
    typer.echo("fdikp synth: not implemented yet", err=True)
    raise typer.Exit(2)
