"""`fdikp evaluate` through the Typer app, on a tiny folder of pairs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio
from typer.testing import CliRunner

from fdikp_cli.cli.app import app


def _pairs(root: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("one", "two"):
        target = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        pred = np.clip(target.astype(int) + rng.integers(-20, 21, target.shape), 0, 255).astype(np.uint8)
        for sub, image in (("target", target), ("pred", pred), ("source", cv2.GaussianBlur(target, (5, 5), 2))):
            (root / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / sub / f"{name}.png"), image[:, :, ::-1])


def test_cli_writes_json_matching_an_independent_psnr(tmp_path: Path) -> None:
    _pairs(tmp_path)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--source", str(tmp_path / "source"),
         "--no-lpips", "--device", "cpu", "--json", str(out), "--csv", str(tmp_path / "r.csv")],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["protocol"] == "dpdd" and [i["name"] for i in data["images"]] == ["one", "two"]
    assert set(data["mean"]) == {"psnr", "ssim", "mae", "lpips"} and data["mean"]["lpips"] is None
    target = cv2.imread(str(tmp_path / "target" / "one.png"))[:, :, ::-1] / 255.0
    pred = cv2.imread(str(tmp_path / "pred" / "one.png"))[:, :, ::-1] / 255.0
    assert data["images"][0]["psnr"] == pytest.approx(peak_signal_noise_ratio(target, pred, data_range=1.0), abs=1e-6)
    assert data["baseline"]["psnr"] < data["mean"]["psnr"]
    assert "protocol dpdd" in result.output and "blurry input" in result.output
    assert (tmp_path / "r.csv").read_text().startswith("name,kind,psnr,ssim,mae,lpips,baseline_psnr")


def test_cli_wang_protocol_is_named_in_the_report(tmp_path: Path) -> None:
    _pairs(tmp_path)
    out = tmp_path / "wang.json"
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--protocol", "wang",
              "--no-lpips", "--device", "cpu", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["protocol"] == "wang"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--no-lpips"], "either PRED_DIR"),
        (["PRED", "--no-lpips"], "needs --target"),
        (["PRED", "--target", "TARGET", "--protocol", "matlab", "--no-lpips"], "unknown protocol"),
        (["--dataset", "pairs", "--no-lpips"], "needs --data-root"),
    ],
)
def test_cli_usage_errors_are_one_line_messages(tmp_path: Path, args: list[str], message: str) -> None:
    _pairs(tmp_path)
    args = [str(tmp_path / "pred") if a == "PRED" else str(tmp_path / "target") if a == "TARGET" else a for a in args]
    result = CliRunner().invoke(app, ["evaluate", *args])
    assert result.exit_code == 2  # a usage error
    assert message in result.output and "Traceback" not in result.output


def test_cli_error_naming_a_path_with_brackets_is_one_literal_line(tmp_path: Path) -> None:
    """Paths are not rich markup: "[/x]" used to crash with a MarkupError traceback, and
    messages longer than 80 columns were wrapped over several lines."""
    _pairs(tmp_path)
    missing = tmp_path / ("a long folder name " * 4) / "[/x] [bold]y"
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "pred"), "--target", str(missing), "--no-lpips"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: target folder not found: {missing}" in result.output.splitlines()


def test_cli_refuses_mismatched_folders(tmp_path: Path) -> None:
    _pairs(tmp_path)
    (tmp_path / "target" / "two.png").rename(tmp_path / "target" / "three.png")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--no-lpips"])
    assert result.exit_code == 1 and "three" in result.output and "do not pair by name" in result.output


def test_cli_without_lpips_weights_reports_the_rest_and_says_so_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FDIKP_LPIPS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _pairs(tmp_path)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--no-download",
              "--device", "cpu", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("LPIPS not computed") == 1 and "--lpips-dir" in result.output
    data = json.loads(out.read_text())
    assert data["mean"]["lpips"] is None and data["mean"]["psnr"] > 0 and data["lpips_missing"]


def test_cli_scores_the_good_pairs_of_a_folder_with_one_bad_pair(tmp_path: Path) -> None:
    """Issue 14: a pair whose sizes differ used to abort the run with no report at all."""
    _pairs(tmp_path)
    cv2.imwrite(str(tmp_path / "pred" / "two.png"), np.zeros((40, 47, 3), np.uint8))
    out, table = tmp_path / "r.json", tmp_path / "r.csv"
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--source",
              str(tmp_path / "source"), "--no-lpips", "--device", "cpu", "--json", str(out), "--csv", str(table)],
    )
    assert result.exit_code == 1, result.output
    assert "not scored: 1 of 2 pairs" in result.output
    assert "two: sizes differ: 47x40 vs target 48x40" in result.output
    data = json.loads(out.read_text())
    assert [i["name"] for i in data["images"]] == ["one"] and data["count"] == 1
    assert data["unscored"] == [{"name": "two", "reason": "sizes differ: 47x40 vs target 48x40 (evaluation never resizes)"}]
    assert data["device"] == "cpu" and data["fdikp_version"] and data["tiling"] is None
    rows = table.read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["one", "mean", "baseline", "gain"]


def test_old_option_names_still_work_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FDIKP_LPIPS_DIR", raising=False)  # only the folder given is searched (and the cache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _pairs(tmp_path)
    args = ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--device", "cpu"]
    weights = tmp_path / "lpips"
    weights.mkdir()
    old = CliRunner().invoke(app, [*args, "--lpips-weights", str(weights), "--no-download", "--overlap", "32"])
    assert old.exit_code == 0, old.output
    assert str(weights) in " ".join(old.output.split())  # the folder was searched: named in the note
    both = CliRunner().invoke(app, [*args, "--lpips-weights", str(weights), "--lpips-dir", str(weights)])
    assert both.exit_code == 2 and "old name of --lpips-dir" in both.output
    help_text = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["evaluate", "--help"]).output
    assert "--tile-overlap" in help_text and "--lpips-dir" in help_text
    assert "--overlap " not in help_text and "--lpips-weights" not in help_text
