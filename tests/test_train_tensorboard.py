"""TensorBoard event files of a training run (fdikp_cli.training.tensorboard_log)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fdikp_cli.cli.app import app

TINY_MODEL = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(1)
    for i in range(2):
        sharp = cv2.resize(rng.integers(0, 256, (12, 12, 3)).astype(np.uint8), (48, 48), interpolation=cv2.INTER_NEAREST)
        for kind, image in (("target", sharp), ("source", cv2.blur(sharp, (5, 5)))):
            (root / kind).mkdir(exist_ok=True)
            assert cv2.imwrite(str(root / kind / f"{i}.png"), image)
    return root


def _train(root: Path, out: Path) -> str:
    args = ["train", "--dataset", "pairs", "--data-root", str(root), "--val-root", str(root), "--out", str(out),
            "--model-config", TINY_MODEL, "--crop", "32", "--batch-size", "2", "--stage-steps", "4,1",
            "--workers", "0", "--no-lpips", "--val-every", "2", "--log-every", "2", "--seed", "1"]
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_event_files_hold_train_and_val_scalars_and_preview_images(pairs_root: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra (make test installs it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    _train(pairs_root, run)
    assert list(run.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"val/psnr", "val/input_psnr", "val/ssim", "val/input_ssim", "val/detail_psnr",
                "train/loss", "train/lr", "train/fft", "swa/psnr"}
    assert expected <= scalars, sorted(scalars)
    # The same numbers as the logs: val_log.csv's PSNR at each validation, train_log.csv's mean loss.
    with open(run / "val_log.csv", newline="") as handle:
        val_rows = [r for r in csv.DictReader(handle) if r["model"] == "train"]
    logged = {e.step: e.value for e in events.Scalars("val/psnr")}
    assert logged == pytest.approx({int(r["step"]): float(r["psnr"]) for r in val_rows}, rel=1e-5)
    inputs = [e.value for e in events.Scalars("val/input_psnr")]
    assert inputs == pytest.approx([float(r["input_psnr"]) for r in val_rows], rel=1e-5)
    with open(run / "train_log.csv", newline="") as handle:
        train_rows = list(csv.DictReader(handle))
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx([float(r["loss"]) for r in train_rows],
                                                                             rel=1e-5)
    # One input | output | target strip per validation image, at every validation.
    images = events.Tags()["images"]
    assert sorted(images) == ["val_images/0_0.png", "val_images/1_1.png"]
    strip = events.Images(images[0])
    assert [e.step for e in strip] == [int(r["step"]) for r in val_rows]
    assert (strip[0].width, strip[0].height) == (3 * 48, 48)


def test_training_without_tensorboard_says_so_once(pairs_root: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as when not installed
    run = tmp_path / "run"
    output = _train(pairs_root, run)
    assert output.count("no TensorBoard event files") == 1
    assert not list(run.glob("events.out.tfevents.*")) and (run / "swa.safetensors").is_file()
