"""`fdikp deblur` (placeholder until its issue lands)."""

import typer


def deblur_command() -> None:
    """Not implemented yet."""
    typer.echo("fdikp deblur: not implemented yet", err=True)
    raise typer.Exit(2)
