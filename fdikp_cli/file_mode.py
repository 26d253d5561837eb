"""The permission bits a new file gets from the user's umask, for files written through a
temporary name: mkstemp and safetensors make them 0600, which os.replace then keeps, so
weights files came out private whatever the umask said (other outputs: 0644 under umask 022)."""

from __future__ import annotations

import os
from pathlib import Path


def current_umask() -> int:
    # os.umask can only be read by setting it: set it back at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path) -> None:
    """Give `path` the mode open() would have given a new file: 0666 less the umask."""
    os.chmod(path, 0o666 & ~current_umask())
