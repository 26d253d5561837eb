"""`fdikp synth` on a few tiny generated photos, one of them broken."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.synth import make_demo_scene
from fdikp_cli.synth.writer import RADIUS_PNG_SCALE


def _make_photos(folder: Path, broken: bool = True) -> None:
    folder.mkdir()
    for seed in range(2):
        scene = make_demo_scene((48, 64), seed=seed)
        cv2.imwrite(str(folder / f"photo{seed}.png"), (scene[..., ::-1] * 255).round().astype(np.uint8))
    if broken:
        (folder / "broken.jpg").write_bytes(b"this is not a jpeg")


def test_synth_writes_pairs_and_skips_bad_images(tmp_path: Path) -> None:
    sharp_dir, out_dir = tmp_path / "sharp", tmp_path / "out"
    _make_photos(sharp_dir)
    options = ["--count", "3", "--seed", "4", "--max-radius", "5", "--crop", "32"]
    arguments = ["synth", str(sharp_dir), str(out_dir), *options]
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, arguments)
    assert result.exit_code == 1, result.output  # the pairs are made, but a photo was skipped
    output = " ".join(result.output.split())  # rich wraps long paths at the terminal width
    assert "broken.jpg" in output and "skipped" in output

    names = sorted(p.name for p in (out_dir / "source").iterdir())
    assert len(names) == 3 and names == sorted(p.name for p in (out_dir / "target").iterdir())
    assert names == sorted(p.name for p in (out_dir / "radius").iterdir())
    for name in names:
        source = cv2.imread(str(out_dir / "source" / name), cv2.IMREAD_UNCHANGED)
        target = cv2.imread(str(out_dir / "target" / name), cv2.IMREAD_UNCHANGED)
        radius = cv2.imread(str(out_dir / "radius" / name), cv2.IMREAD_UNCHANGED)
        assert source.shape == target.shape == (32, 32, 3) and source.dtype == np.uint8
        assert radius.shape == (32, 32) and radius.dtype == np.uint16
        assert radius.max() / RADIUS_PNG_SCALE <= 5.0 + 1e-3
    manifest = json.loads((out_dir / "synth.json").read_text())
    assert manifest["pairs"] == 3 and manifest["config"]["max_radius"] == 5.0


def test_synth_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    sharp_dir = tmp_path / "sharp"
    _make_photos(sharp_dir, broken=False)
    runner = CliRunner()
    for out in ("a", "b"):
        result = runner.invoke(app, ["synth", str(sharp_dir), str(tmp_path / out), "--count", "2", "--seed", "1"])
        assert result.exit_code == 0, result.output
    for name in sorted(p.name for p in (tmp_path / "a" / "source").iterdir()):
        first = cv2.imread(str(tmp_path / "a" / "source" / name))
        second = cv2.imread(str(tmp_path / "b" / "source" / name))
        np.testing.assert_array_equal(first, second)


def test_synth_refuses_a_folder_without_readable_images(tmp_path: Path) -> None:
    sharp_dir = tmp_path / "sharp"
    sharp_dir.mkdir()
    (sharp_dir / "broken.png").write_bytes(b"nope")
    arguments = ["synth", str(sharp_dir), str(tmp_path / "out"), "--count", "1"]
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, arguments)
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "error:" in output and "could be read" in output


def test_synth_refuses_an_output_folder_that_already_holds_pairs(tmp_path: Path) -> None:
    """A second run used to rewrite pairs 0..N-1 and leave the first run's later pairs beside them."""
    sharp_dir, out_dir = tmp_path / "sharp", tmp_path / "out"
    _make_photos(sharp_dir, broken=False)
    runner = CliRunner(env={"COLUMNS": "400"})
    assert runner.invoke(app, ["synth", str(sharp_dir), str(out_dir), "--count", "3", "--crop", "16"]).exit_code == 0
    result = runner.invoke(app, ["synth", str(sharp_dir), str(out_dir), "--count", "2", "--crop", "16"])
    assert result.exit_code == 1 and "already holds pairs" in result.output
    assert len(list((out_dir / "source").iterdir())) == 3
    assert json.loads((out_dir / "synth.json").read_text())["pairs"] == 3
