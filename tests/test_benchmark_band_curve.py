"""The band learning curve: snapshots found by step with both files, hours from the training log,
gains and band column names read from small reports written here, and the CSV and PNG it writes."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from benchmarks import band_curve
from benchmarks.band_curve import band_key, columns, csv_row, curve, find_snapshots, plot

BANDS = ("r<=2", "2<r<=4", "4<r<=7", "7<r<=12", "r>12")


def _write_snapshot(folder: Path, stem: str, psnr: float, gains: tuple[float | None, ...], bands: bool = True) -> None:
    """An evaluate report (input PSNR 25.0) and, if `bands`, a radius_bands report with these band gains."""
    evaluate = {"mean": {"psnr": psnr, "ssim": 0.75, "mae": 0.04, "lpips": 0.3},
                "baseline": {"psnr": 25.0, "ssim": 0.74, "mae": 0.042, "lpips": 0.31}, "count": 18}
    (folder / f"{stem}.json").write_text(json.dumps(evaluate))
    if bands:
        model = {"weights": f"{stem}.safetensors", "psnr_whole": 27.0, "gain_whole": 0.5, "spearman_dilation": 0.25,
                 "spearman_guidance": None,
                 "bands": [{"band": b, "blocks": 10, "psnr_input": 20.0, "psnr_output": None if g is None else 20.0 + g,
                            "gain": g, "mean_dilation": 2.0} for b, g in zip(BANDS, gains)]}
        (folder / f"{stem}_bands.json").write_text(json.dumps({"input": {}, "models": [model]}))


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run folder logged at steps 100, 200, 300 (0.1 h apart) and an evals folder with snapshots
    at steps 1000, 250, 50 (written out of order; '1000' sorts before '250' as text), one at 300
    without its bands report, one bands report at 400 without its evaluate report, and a
    snapshot of another run (blur10) whose name starts with this one's."""
    folder = tmp_path / "blur1"
    folder.mkdir()
    (folder / "train_log.csv").write_text("step,stage,loss,wall_s\n100,1,0.1,360\n200,1,0.1,720\n300,1,0.1,1080\n")
    evals = tmp_path / "evals"
    evals.mkdir()
    _write_snapshot(evals, "blur1_s1000", 25.9, (0.3, 0.6, 0.9, 0.7, 1.5))
    _write_snapshot(evals, "blur1_s250", 25.6, (0.2, 0.5, None, 0.4, 1.2))
    _write_snapshot(evals, "blur1_s50", 25.1, (0.0, 0.1, 0.2, 0.1, 0.3))
    _write_snapshot(evals, "blur1_s300", 25.7, (0.1,) * 5, bands=False)
    _write_snapshot(evals, "blur10_s200", 30.0, (9.0,) * 5)
    _write_snapshot(evals, "blur1_s400", 25.8, (0.1,) * 5)
    (evals / "blur1_s400.json").unlink()
    return folder


def test_snapshots_sorted_by_step_and_unpaired_files_skipped_with_a_note(run: Path) -> None:
    snapshots, notes = find_snapshots(run.parent / "evals", "blur1")
    assert [s.step for s in snapshots] == [50, 250, 1000]
    assert [s.bands.name for s in snapshots] == ["blur1_s50_bands.json", "blur1_s250_bands.json",
                                                 "blur1_s1000_bands.json"]
    assert len(notes) == 2
    assert "blur1_s300.json" in notes[0] and "blur1_s300_bands.json" in notes[0] and "skipped" in notes[0]
    assert "blur1_s400_bands.json" in notes[1] and "blur1_s400.json" in notes[1]


def test_hours_from_the_last_logged_step_at_or_before_the_snapshot(run: Path) -> None:
    scores, _ = curve(run, run.parent / "evals", "blur1")
    # step 50: nothing logged yet; 250: the step-200 row (720 s), not step 300's; 1000: the last row.
    assert [(s.step, s.hours) for s in scores] == [(50, 0.0), (250, 0.2), (1000, 0.3)]
    assert all(s.run == "blur1" for s in scores)


def test_gains_read_from_both_reports(run: Path) -> None:
    scores, _ = curve(run, run.parent / "evals", "blur1")
    row = csv_row(scores[1])  # step 250
    assert row["psnr"] == 25.6 and row["input_psnr"] == 25.0 and row["psnr_gain"] == 0.6
    assert (row["ssim"], row["lpips"], row["spearman_dilation"]) == (0.75, 0.3, 0.25)
    assert [row[k] for k in ("gain_r_le_2", "gain_r_2_4", "gain_r_4_7", "gain_r_7_12", "gain_r_gt_12")] == \
        [0.2, 0.5, "", 0.4, 1.2]  # a null gain (a band without blocks) is an empty cell
    assert csv_row(scores[2])["gain_r_gt_12"] == 1.5


@pytest.mark.parametrize("band, key", [("r<=2", "r_le_2"), ("2<r<=4", "r_2_4"), ("7<r<=12", "r_7_12"),
                                       ("r>12", "r_gt_12"), ("r <= 2.5", "r_le_2p5"), ("all blocks", "all_blocks")])
def test_band_names_made_csv_safe(band: str, key: str) -> None:
    assert band_key(band) == key


def test_columns_in_band_order() -> None:
    score = band_curve.read_score("r", 1, 0.0, {"mean": {"psnr": 26.0}, "baseline": {"psnr": 25.0}},
                                  {"models": [{"bands": [{"band": b, "gain": 0.1} for b in BANDS]}]})
    assert columns([score]) == ["run", "step", "hours", "psnr", "input_psnr", "psnr_gain", "ssim", "lpips",
                                "gain_r_le_2", "gain_r_2_4", "gain_r_4_7", "gain_r_7_12", "gain_r_gt_12",
                                "spearman_dilation"]
    assert csv_row(score)["ssim"] == "" and csv_row(score)["spearman_dilation"] == ""


def test_cli_writes_csv_with_baseline_row_and_png(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _write_snapshot(tmp_path, "shipped", 25.4, (0.25, 0.55, 0.6, 0.5, 1.4))
    out = tmp_path / "out" / "curve"
    out.parent.mkdir()
    monkeypatch.setattr(sys, "argv", ["band_curve", "--run", str(run), "--evals", str(run.parent / "evals"),
                                      "--name", "blur1", "--baseline", str(tmp_path / "shipped.json"),
                                      str(tmp_path / "shipped_bands.json"), "--out", str(out)])
    band_curve.main()
    assert "blur1_s300" in capsys.readouterr().out
    with open(out.with_suffix(".csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["run"], r["step"], r["hours"]) for r in rows] == [("baseline", "0", ""), ("blur1", "50", "0.0"),
                                                               ("blur1", "250", "0.2"), ("blur1", "1000", "0.3")]
    assert rows[0]["gain_r_gt_12"] == "1.4" and rows[0]["psnr_gain"] == "0.4"
    with Image.open(out.with_suffix(".png")) as image:
        assert image.size == (900, 420)


def test_plot_size_and_lines_drawn(run: Path, tmp_path: Path) -> None:
    scores, _ = curve(run, run.parent / "evals", "blur1")
    path = tmp_path / "curve.png"
    plot(scores, path, width=640, height=300)
    with Image.open(path) as image:
        assert image.size == (640, 300)
        pixels = {colour: count for count, colour in image.convert("RGB").getcolors(640 * 300)}
    # One line per band in its colour: some 450-750 px each; its three dots and legend swatch alone ~200.
    assert all(pixels.get(colour, 0) > 300 for colour in band_curve.COLOURS[:len(BANDS)])
