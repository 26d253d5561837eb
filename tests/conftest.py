"""Shared test fixtures. Tests run on CPU, on small images, with one torch thread (CI has 2
cores and several test workers may share them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("FDIKP_SHARED_DIR", REPO_ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared (or $FDIKP_SHARED_DIR); skips the test, saying why, when absent."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data folder beside the checkout, or set FDIKP_SHARED_DIR)")
    return path


@pytest.fixture
def shared() -> "type[shared_path]":
    return shared_path  # type: ignore[return-value]
