"""`fdikp export` (placeholder until its issue lands)."""

import typer


def export_command() -> None:
    """Not implemented yet."""
    typer.echo("fdikp export: not implemented yet", err=True)
    raise typer.Exit(2)
