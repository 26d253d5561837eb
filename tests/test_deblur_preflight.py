"""Every planned output is checked before the first image runs (fdikp_cli.inference.output_check
and batch.check_outputs): a batch never spends minutes of inference on files it cannot save."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.inference.batch import DeblurOptions, Engine, deblur_files
from fdikp_cli.inference.output_check import PROBE_PREFIX, folder_problem, unwritable_folders

RNG = np.random.default_rng(14)


def _photo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(path)


class _CountingModel:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder no file can be written in: mode 0555, or for root (whom permission bits do not
    stop) a read-only tmpfs mounted there, as in the issue's `mount -t tmpfs -o ro`."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if getattr(os, "geteuid", lambda: 1)() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"root without the right to mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_read_only_output_folder_is_found_before_inference(tmp_path: Path, read_only_folder: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        _photo(tmp_path / "in" / name)
    model = _CountingModel()
    summary = deblur_files([tmp_path / "in"], DeblurOptions(output=read_only_folder), Engine(model))
    assert model.calls == 0  # the model never ran
    assert [r.status for r in summary.results] == ["failed"] * 3
    assert all(r.reason.startswith(f"cannot write in {read_only_folder}") for r in summary.results)
    assert os.listdir(read_only_folder) == []


def test_cli_reports_every_unwritable_output_at_once_without_loading_the_model(
    tmp_path: Path, read_only_folder: Path
) -> None:
    inputs = [tmp_path / f"{name}.png" for name in "abc"]
    for path in inputs:
        _photo(path)
    # A missing weights file would be an error if the model were loaded: it must not be.
    missing = tmp_path / "no_such.safetensors"
    result = CliRunner().invoke(app, ["deblur", *map(str, inputs), "-o", f"{read_only_folder}/", "--weights", str(missing)])
    assert result.exit_code == 1, result.output
    assert "weights file not found" not in result.output
    assert result.output.count("cannot write in") >= 3 and "0 done, 0 skipped, 3 failed" in result.output


def test_existing_outputs_are_all_reported_before_the_first_image(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        _photo(tmp_path / name)
    (tmp_path / "a_deblurred.png").write_bytes(b"keep")
    (tmp_path / "c_deblurred.png").write_bytes(b"keep")
    model = _CountingModel()
    summary = deblur_files([tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"], DeblurOptions(), Engine(model))
    # The two refusals come first (found before any work), then the one file that ran.
    assert [(r.source.name, r.status) for r in summary.results] == [("a.png", "failed"), ("c.png", "failed"),
                                                                     ("b.png", "done")]
    assert model.calls == 1 and (tmp_path / "a_deblurred.png").read_bytes() == b"keep"


def test_folder_checks_leave_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "file.png").write_bytes(b"x")
    assert folder_problem(tmp_path / "new" / "deeper") is None  # made on demand: its parent is asked
    assert not (tmp_path / "new").exists()
    reason = folder_problem(tmp_path / "file.png" / "sub")
    assert reason is not None and "is not a folder" in reason
    problems = unwritable_folders([tmp_path, tmp_path / "file.png" / "sub", tmp_path / "file.png" / "sub"])
    assert list(problems) == [tmp_path / "file.png" / "sub"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(PROBE_PREFIX)]
