"""The side-by-side curve of the scene-count study: each arm's snapshots found by step (not another
run whose name starts with it, not the bands reports), differences from the first arm at shared
steps only, and the CSV and PNG the command writes."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from benchmarks import scene_curve
from benchmarks.scene_curve import arm_points, plot, rows


def _report(folder: Path, stem: str, psnr: float, ssim: float | None = 0.75, lpips: float | None = 0.30) -> None:
    """An evaluate report over an input of 25.0 dB."""
    mean = {"psnr": psnr, "ssim": ssim, "mae": 0.04, "lpips": lpips}
    (folder / f"{stem}.json").write_text(json.dumps({"mean": mean, "baseline": {"psnr": 25.0}, "count": 18}))


@pytest.fixture
def evals(tmp_path: Path) -> Path:
    """38-scene arm at 400 / 800 / 1200, 19-scene arm at 400 / 800 / 1600 (1600: no partner), a
    bands report and a run whose name starts with the first arm's."""
    folder = tmp_path / "evals"
    folder.mkdir()
    for step, psnr in ((1200, 25.60), (400, 25.40), (800, 25.50)):
        _report(folder, f"blur1_s{step}", psnr)
    _report(folder, "blur19_s400", 25.39, ssim=0.76, lpips=0.28)
    _report(folder, "blur19_s800", 25.52, ssim=None)
    _report(folder, "blur19_s1600", 25.70)
    (folder / "blur1_s400_bands.json").write_text(json.dumps({"models": []}))
    return folder


def test_points_sorted_by_step_without_other_runs_or_band_reports(evals: Path) -> None:
    points = arm_points(evals, "blur1", "38 scenes")
    assert [(p.step, p.psnr) for p in points] == [(400, 25.40), (800, 25.50), (1200, 25.60)]
    assert points[0].psnr_gain == pytest.approx(0.40)
    assert [p.step for p in arm_points(evals, "blur19", "19 scenes")] == [400, 800, 1600]


def test_differences_from_the_first_arm_at_shared_steps_only(evals: Path) -> None:
    table = rows([arm_points(evals, "blur1", "38"), arm_points(evals, "blur19", "19")])
    by_key = {(r["run"], r["step"]): r for r in table}
    assert by_key["blur1", 800]["psnr_vs_first"] == 0.0
    assert by_key["blur19", 400]["psnr_vs_first"] == pytest.approx(-0.01)
    assert by_key["blur19", 400]["ssim_vs_first"] == pytest.approx(0.01)
    assert by_key["blur19", 400]["lpips_vs_first"] == pytest.approx(-0.02)
    assert by_key["blur19", 800]["psnr_vs_first"] == pytest.approx(0.02)
    assert by_key["blur19", 800]["ssim_vs_first"] == ""  # the 19-scene report has no SSIM there
    assert by_key["blur19", 1600]["psnr_vs_first"] == ""  # the first arm has no step 1600
    assert by_key["blur19", 1600]["psnr_gain"] == pytest.approx(0.70)


def test_malformed_report_named(evals: Path) -> None:
    (evals / "blur1_s2000.json").write_text(json.dumps({"mean": {"ssim": 0.7}, "baseline": {"psnr": 25.0}}))
    with pytest.raises(ValueError, match="blur1_s2000.json"):
        arm_points(evals, "blur1", "38")


def test_cli_writes_csv_and_png(evals: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "study"
    monkeypatch.setattr(sys, "argv", ["scene_curve", "--evals", str(evals), "--arm", "blur1", "38 scenes",
                                      "--arm", "blur19", "19 scenes", "--out", str(out)])
    scene_curve.main()
    with open(out.with_suffix(".csv"), newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(r["run"], r["label"], r["step"]) for r in table] == [
        ("blur1", "38 scenes", "400"), ("blur1", "38 scenes", "800"), ("blur1", "38 scenes", "1200"),
        ("blur19", "19 scenes", "400"), ("blur19", "19 scenes", "800"), ("blur19", "19 scenes", "1600")]
    assert table[3]["psnr_vs_first"] == "-0.01"
    with Image.open(out.with_suffix(".png")) as image:
        assert image.size == (900, 560)


@pytest.mark.parametrize("arms, message", [([["blur1", "38"]], "at least two"),
                                           ([["blur1", "38"], ["blur7", "7"]], "blur7_s<STEP>.json")])
def test_cli_refuses_one_arm_or_an_arm_without_snapshots(evals: Path, monkeypatch: pytest.MonkeyPatch,
                                                         arms: list[list[str]], message: str) -> None:
    argv = ["scene_curve", "--evals", str(evals), "--out", str(evals / "x")]
    for name, label in arms:
        argv += ["--arm", name, label]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match=message):
        scene_curve.main()
    assert not (evals / "x.csv").exists()


def test_plot_draws_each_arm_in_its_colour(evals: Path, tmp_path: Path) -> None:
    path = tmp_path / "curve.png"
    plot([arm_points(evals, "blur1", "38"), arm_points(evals, "blur19", "19")], path, width=640, height=400)
    with Image.open(path) as image:
        assert image.size == (640, 400)
        counts = {colour: n for n, colour in image.convert("RGB").getcolors(640 * 400)}
    # The second arm is drawn twice (its curve and its difference line) plus a legend: well over 300 px.
    assert counts.get(scene_curve.COLOURS[1], 0) > 300
