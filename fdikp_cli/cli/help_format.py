"""Help text that reads at 80 columns with or without a terminal (CI logs, pipes).

Typer's rich help panels lay options out as a six-column table; at 80 columns the table gave
the descriptions ~18 characters and cut words with "…". Click's plain definition list keeps
every word: names on the left (up to 30 columns), descriptions wrapped beside them.

Click's wrapper also breaks words at hyphens, which split option names inside descriptions
("--sharp-" / "dir"). The formatter here wraps with the hyphens of the descriptions protected
(a non-breaking hyphen while wrapping, the plain one again in the output). Arguments are shown
as Click shows them (`SHARP_DIR`, `[PRED_DIR]`, `INPUT...`), without Typer's `{SHARP_DIR}`
and `<path>` decorations.

    app.command("deblur", cls=Command)(deblur_command)     # and typer.Typer(cls=Group)
"""

from __future__ import annotations

from typing import Any, Sequence

import typer

from typer.core import TyperCommand, TyperGroup

# Typer has vendored Click in some versions and depended on it in others: take Click's classes
# from the commands themselves rather than from an import path.
_BaseContext: Any = TyperCommand.context_class
_BaseFormatter: Any = _BaseContext.formatter_class

_NON_BREAKING_HYPHEN = "\u2011"


def _protect(text: str) -> str:
    return text.replace("-", _NON_BREAKING_HYPHEN)


class HelpFormatter(_BaseFormatter):  # type: ignore[misc, valid-type]
    """Click's help formatter, wrapping descriptions without breaking words at hyphens."""

    def _restore_from(self, start: int) -> None:
        self.buffer[start:] = [part.replace(_NON_BREAKING_HYPHEN, "-") for part in self.buffer[start:]]

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        start = len(self.buffer)
        super().write_dl([(first, _protect(second)) for first, second in rows], col_max, col_spacing)
        self._restore_from(start)

    def write_text(self, text: str) -> None:
        start = len(self.buffer)
        super().write_text(_protect(text))
        self._restore_from(start)


class HelpContext(_BaseContext):  # type: ignore[misc, valid-type]
    formatter_class = HelpFormatter


def _argument_name(param: Any, in_usage: bool) -> str:
    name = param.metavar or param.name.upper()
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return f"[{name}]" if in_usage and not param.required else name


class Command(TyperCommand):
    """A Typer command whose --help uses HelpFormatter and shows arguments plainly."""

    context_class = HelpContext

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_argument_name(param, in_usage=True))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param, in_usage=False), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Group(TyperGroup):
    """The Typer group (`fdikp --help`) with HelpFormatter."""

    context_class = HelpContext
