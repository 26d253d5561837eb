"""One option vocabulary (README "Option names"): the old names, still accepted for a release.

Click cannot hide one name of an option, so each old name is a hidden option of its own beside
the new one, and `--help` shows only the new name:

    output: Optional[Path] = typer.Option(None, "-o", "--output", ...)
    old_out: Optional[Path] = typer.Option(None, "--out", hidden=True)  # the name before 0.2
    ...
    output = renamed("--out", old_out, "--output", output)

`renamed` takes the value from whichever was given, refuses both, and says in one line on
stderr that the old name is going.
"""

from __future__ import annotations

from typing import TypeVar

from rich.markup import escape

from fdikp_cli.cli.errors import err_console
from fdikp_cli.errors import ConfigError

T = TypeVar("T")


def renamed(old_name: str, old_value: T | None, name: str, value: T, default: T | None = None) -> T:
    """The value of an option given under its new name or its old (hidden) one, not both
    (the new one counts as given when it differs from its default)."""
    if old_value is None:
        return value
    if value != default:
        raise ConfigError(f"{old_name} is the old name of {name}: give one of them")
    err_console.print(escape(f"note: {old_name} is now {name}; the old name will go in a later release"),
                      highlight=False, soft_wrap=True)
    return old_value
