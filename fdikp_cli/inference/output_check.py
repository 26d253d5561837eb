"""Can files be written in a folder? Asked of every planned output before any image runs.

A read-only or missing output folder used to show only after the model had run on every
file (minutes per photo on a CPU). The only reliable answer is to try: permission bits say
nothing about read-only mounts, ACLs or root, so a hidden probe file is created and removed
in the folder, or in its nearest existing parent when the folder is still to be made (making
it needs the same right). Nothing is left behind either way.

    problems = unwritable_folders([Path("out"), Path("out/sub")])   # {folder: reason}
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

PROBE_PREFIX = ".fdikp-write-check-"


def _nearest_existing(folder: Path) -> Path:
    path = folder
    while not path.exists():
        if path.parent == path:
            break
        path = path.parent
    return path


def folder_problem(folder: Path) -> str | None:
    """Why no file can be written in `folder` (made on demand), or None when one can."""
    existing = _nearest_existing(Path(os.path.abspath(folder)))
    if not existing.is_dir():
        return f"cannot write in {folder}: {existing} is not a folder"
    try:
        handle, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=existing)
    except OSError as exc:
        return f"cannot write in {folder}: {exc.strerror or exc}"
    os.close(handle)
    os.unlink(probe)
    return None


def unwritable_folders(folders: Iterable[Path]) -> dict[Path, str]:
    """{folder: reason} for each folder (asked once, however often it is named) that cannot be written."""
    problems: dict[Path, str] = {}
    for folder in dict.fromkeys(folders):
        reason = folder_problem(folder)
        if reason is not None:
            problems[folder] = reason
    return problems
