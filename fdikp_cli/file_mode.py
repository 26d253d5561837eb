"""Writing output files: can a folder be written, atomic replacement, permission bits.

Can files be written in a folder? A read-only or missing output folder used to show only after
the work (minutes of inference per photo on a CPU, or a whole export). The only reliable answer
is to try: permission bits say nothing about read-only mounts, ACLs or root, so a hidden probe
file is created and removed in the folder, or in its nearest existing parent when the folder is
still to be made (making it needs the same right). Nothing is left behind either way.

`replaced_atomically(path)` yields PATH.tmp to write, then renames it over PATH: a crash never
leaves half a file, and on any failure (a folder in the way, a full disk, Ctrl-C) the
temporary file is removed, so none is ever left behind.

mkstemp and safetensors make new files 0600, which os.replace then keeps, so weights files
came out private whatever the umask said (other outputs: 0644 under umask 022): `apply_umask`.

    check_writable_folder(Path("runs/t1"))   # OutputWriteError with the reason, or nothing
    with replaced_atomically(Path("run.json")) as tmp:
        tmp.write_text(text)

No torch here: commands that need none (synth) check their outputs without loading it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from fdikp_cli.errors import OutputWriteError

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


def check_writable_folder(folder: Path, what: str | None = None) -> None:
    """Raise OutputWriteError (exit 1) when no file can be written in `folder`: for commands
    with one output folder or file (train, synth, export, evaluate's reports), asked before
    their work starts. `what` (e.g. "--save-outputs DIR") prefixes the message."""
    reason = folder_problem(folder)
    if reason is not None:
        raise OutputWriteError(f"{what}: {reason}" if what else reason)


@contextlib.contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """Yield the temporary name to write; on success it replaces `path`, on any failure it is
    removed (BaseException: Ctrl-C too) and the error goes on."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def current_umask() -> int:
    # os.umask can only be read by setting it: set it back at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path) -> None:
    """Give `path` the mode open() would have given a new file: 0666 less the umask."""
    os.chmod(path, 0o666 & ~current_umask())
