"""Turn library exceptions into one-line messages and exit codes.

Exit codes, the same in every command:
    1    work failed (a file could not be read or written, training diverged, ...), or this
         machine cannot serve an option (DeviceError: --device cuda without CUDA)
    2    usage error: an option value or combination the command cannot use (ConfigError),
         exactly as for the values Click's own parser rejects (--quality 0)
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape

from fdikp_cli.errors import ConfigError, FdikpError

err_console = Console(stderr=True)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def cli_errors(on_interrupt: Callable[[], str | None] | None = None) -> Iterator[None]:
    """Run a command body; an FdikpError becomes `error: <message>` and exit status 1, or 2
    for a usage error. `on_interrupt` may return a hint printed after Ctrl-C (how to continue)."""
    try:
        yield
    except FdikpError as exc:
        # Escaped: paths may hold "[...]"; soft_wrap: one line even when stderr is a pipe.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED) from None
    except KeyboardInterrupt:
        hint = on_interrupt() if on_interrupt is not None else None
        err_console.print("[yellow]interrupted[/]" + (f": {escape(hint)}" if hint else ""), highlight=False,
                          soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
