"""`fdikp evaluate` (placeholder until its issue lands)."""

import typer


def evaluate_command() -> None:
    """Not implemented yet."""
    typer.echo("fdikp evaluate: not implemented yet", err=True)
    raise typer.Exit(2)
