"""Every planned output's folder is checked before any image runs.

A read-only or missing output folder used to show only after the model had run on every
file. Each folder is asked once, however many outputs it holds, with the probe of
fdikp_cli.file_mode.folder_problem (a hidden file made and removed: nothing is left behind).

    problems = unwritable_folders([Path("out"), Path("out/sub")])   # {folder: reason}
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from fdikp_cli.file_mode import PROBE_PREFIX, folder_problem

__all__ = ["PROBE_PREFIX", "folder_problem", "unwritable_folders"]


def unwritable_folders(folders: Iterable[Path]) -> dict[Path, str]:
    """{folder: reason} for each folder (asked once, however often it is named) that cannot be written."""
    problems: dict[Path, str] = {}
    for folder in dict.fromkeys(folders):
        reason = folder_problem(folder)
        if reason is not None:
            problems[folder] = reason
    return problems
