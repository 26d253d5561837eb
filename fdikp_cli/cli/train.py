"""`fdikp train` (placeholder until its issue lands)."""

import typer


def train_command() -> None:
    """Not implemented yet."""
    typer.echo("fdikp train: not implemented yet", err=True)
    raise typer.Exit(2)
