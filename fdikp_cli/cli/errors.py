"""Turn library exceptions into one-line messages and exit codes."""

from __future__ import annotations

import contextlib
from typing import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from fdikp_cli.errors import FdikpError

err_console = Console(stderr=True)


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Run a command body; an FdikpError becomes `error: <message>` and exit status 1."""
    try:
        yield
    except FdikpError as exc:
        # Escaped: paths may hold "[...]"; soft_wrap: one line even when stderr is a pipe.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
