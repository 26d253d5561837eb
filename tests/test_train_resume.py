"""End-to-end training on CPU with a tiny model: exact resume, run folder, best model, export."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.weights import read_weights

TINY_MODEL = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'


def write_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(image[:, :, ::-1]))


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 48x48 pairs: a smooth random scene and a box-blurred version of it."""
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    for i in range(3):
        sharp = cv2.resize(rng.integers(0, 256, (12, 12, 3)).astype(np.uint8), (48, 48), interpolation=cv2.INTER_NEAREST)
        write_rgb(root / "target" / f"{i}.png", sharp)
        write_rgb(root / "source" / f"{i}.png", cv2.blur(sharp, (5, 5)))
    return root


def invoke(args: list[str], root: Path, out: Path) -> "object":
    base = ["train", "--dataset", "pairs", "--data-root", str(root), "--val-root", str(root), "--out", str(out),
            "--model-config", TINY_MODEL, "--crop", "32", "--batch-size", "2", "--stage-steps", "4,2",
            "--workers", "0", "--no-lpips", "--val-every", "2", "--log-every", "1", "--checkpoint-every", "1000",
            "--seed", "5", "--set", "stages.1.swa_every=1"]
    return CliRunner(env={"COLUMNS": "400"}).invoke(app, base + args)


def train(args: list[str], root: Path, out: Path) -> str:
    result = invoke(args, root, out)
    assert result.exit_code == 0, result.output
    return result.output


def state_of(run: Path, step: int) -> tuple[dict[str, torch.Tensor], dict]:
    weights = read_weights(run / "checkpoints" / f"step_{step:08d}.safetensors").state_dict
    state = torch.load(run / "checkpoints" / f"step_{step:08d}.pt", weights_only=True)
    return weights, state


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_three_plus_resume_plus_three_equals_six_in_one_go(pairs_root: Path, tmp_path: Path) -> None:
    once, split = tmp_path / "once", tmp_path / "split"
    train([], pairs_root, once)
    train(["--max-steps", "3"], pairs_root, split)
    train(["--resume", "auto", "--max-steps", "4"], pairs_root, split)  # stops on the stage boundary
    output = train(["--resume", "auto"], pairs_root, split)
    assert "resuming" in output and "at step 4/6" in output

    weights_once, state_once = state_of(once, 6)
    weights_split, state_split = state_of(split, 6)
    assert_same_tensors(weights_once, weights_split)
    for (_, a), (_, b) in zip(sorted(state_once["optimizer"]["state"].items()),
                              sorted(state_split["optimizer"]["state"].items())):
        torch.testing.assert_close(a["exp_avg_sq"], b["exp_avg_sq"], rtol=0, atol=0)
    assert_same_tensors(read_weights(once / "swa.safetensors").state_dict,
                        read_weights(split / "swa.safetensors").state_dict)
    # The training model moved during stage two: SWA (2 snapshots) differs from it.
    assert int(state_once["swa"]["n_averaged"]) == 2
    assert not torch.equal(read_weights(once / "swa.safetensors").state_dict["to_image.weight"],
                           weights_once["to_image.weight"])

    with open(split / "train_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]  # each step once across three sessions
    with open(once / "train_log.csv", newline="") as handle:
        losses_once = [float(r["loss"]) for r in csv.DictReader(handle)]
    assert losses_once == pytest.approx([float(r["loss"]) for r in rows], rel=1e-5)
    assert [r["stage"] for r in rows] == ["1"] * 4 + ["2"] * 2


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_run_folder_contents_best_model_and_export(pairs_root: Path, tmp_path: Path, umask_022: None) -> None:
    run = tmp_path / "run"
    train([], pairs_root, run)
    for name in ("config.toml", "run.json", "train_log.csv", "val_log.csv", "best.safetensors", "swa.safetensors",
                 "checkpoints/latest.json"):
        assert (run / name).is_file(), name
    # Weights files follow the umask like every other output (safetensors writes 0600).
    weights_files = [run / "best.safetensors", run / "swa.safetensors", *(run / "checkpoints").glob("*.safetensors")]
    assert len(weights_files) >= 3
    assert {path.name: _mode(path) for path in weights_files} == {path.name: 0o644 for path in weights_files}
    with open(run / "val_log.csv", newline="") as handle:
        val = list(csv.DictReader(handle))
    train_rows = [r for r in val if r["model"] == "train"]
    assert [int(r["step"]) for r in train_rows] == [2, 4, 6] and [r["model"] for r in val][-1] == "swa"
    best_row = max(train_rows, key=lambda r: float(r["psnr"]))
    best = read_weights(run / "best.safetensors")
    assert best.provenance["step"] == int(best_row["step"])
    assert best.provenance["validation"]["psnr"] == pytest.approx(float(best_row["psnr"]), rel=1e-5)

    out = tmp_path / "exported.safetensors"
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    exported = read_weights(out)
    assert exported.provenance["model"] == "swa" and exported.provenance["step"] == 6
    assert exported.provenance["data"]["dataset"] == "pairs" and exported.provenance["hardware"]
    assert [s["crop"] for s in exported.provenance["stages"]] == [32, 32]
    assert "psnr" in exported.provenance["validation"] and exported.provenance["run_wall_time_s"] > 0
    assert_same_tensors(exported.state_dict, read_weights(run / "swa.safetensors").state_dict)
    assert _mode(out) == 0o644
    # An existing file is replaced only with --overwrite, as deblur's outputs.
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(out), "--which", "best"])
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert read_weights(out).provenance["model"] == "swa"
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(out), "--which", "best", "--overwrite"])
    assert result.exit_code == 0 and read_weights(out).provenance["model"] == "best"
    # --fp16 stores half-precision tensors (about half the file) that load as the rounded float32 ones.
    half = tmp_path / "half.safetensors"
    result = CliRunner().invoke(app, ["export", str(run), "-o", str(half), "--which", "best", "--fp16"])
    assert result.exit_code == 0, result.output
    assert half.stat().st_size < 0.6 * out.stat().st_size
    rounded = {k: v.half().float() for k, v in read_weights(out).state_dict.items() if v.is_floating_point()}
    assert_same_tensors(rounded, {k: v.float() for k, v in read_weights(half).state_dict.items() if k in rounded})


def test_init_weights_start_from_a_weights_file(pairs_root: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    train(["--max-steps", "2"], pairs_root, first)
    start = first / "checkpoints" / "step_00000002.safetensors"
    second = tmp_path / "second"
    train(["--max-steps", "1", "--init-weights", str(start), "--val-every", "1"], pairs_root, second)
    info = json.loads((second / "run.json").read_text())
    assert info["init_weights"] == str(start.resolve())
    # One step from the given weights: close to them, not to a fresh initialisation.
    before, after = read_weights(start).state_dict, state_of(second, 1)[0]
    assert max(float((before[k] - after[k]).abs().max()) for k in before) < 1e-3


def test_existing_run_needs_resume_and_bad_options_are_one_line_errors(pairs_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(["--max-steps", "1"], pairs_root, run)
    runner = CliRunner()
    base = ["train", "--dataset", "pairs", "--data-root", str(pairs_root), "--out", str(run), "--no-lpips",
            "--model-config", TINY_MODEL, "--crop", "32"]
    result = runner.invoke(app, base)
    assert result.exit_code == 2 and "--resume auto" in result.output
    result = runner.invoke(app, ["train", "--dataset", "pairs", "--data-root", str(pairs_root), "--out",
                                 str(tmp_path / "new"), "--set", "loss.nope=1"])
    assert result.exit_code == 2 and "loss.nope" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["export", str(tmp_path / "missing"), "-o", str(tmp_path / "x.safetensors")])
    assert result.exit_code == 1 and "not found" in result.output


def test_resume_refuses_a_changed_setting_unless_allowed(pairs_root: Path, tmp_path: Path) -> None:
    """Issue 14: `--resume auto --crop 96` on a run made at 64 trained at 96 and rewrote config.toml."""
    run = tmp_path / "run"
    train(["--max-steps", "1"], pairs_root, run)
    config_before = (run / "config.toml").read_text()
    refused = invoke(["--resume", "auto", "--crop", "48"], pairs_root, run)
    output = " ".join(refused.output.split())
    assert refused.exit_code == 2, refused.output
    assert "stages.0.crop 32 -> 48" in output and "stages.1.crop 32 -> 48" in output
    assert "--allow-config-change" in output and "Traceback" not in output
    assert (run / "config.toml").read_text() == config_before
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 1

    # Session settings may change on every resume; others with the explicit opt-in, recorded.
    allowed = train(["--resume", "auto", "--stage-steps", "4,3", "--max-steps", "2", "--workers", "1",
                     "--allow-config-change"], pairs_root, run)
    assert "stages.1.steps 2 -> 3" in " ".join(allowed.split())
    info = json.loads((run / "run.json").read_text())
    assert info["config_changes"] == [
        {"step": 1, "date": info["config_changes"][0]["date"],
         "changes": [{"key": "stages.1.steps", "saved": 2, "now": 3}]}
    ]
    assert "steps = 3" in (run / "config.toml").read_text()
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 2


def test_a_resume_that_changes_the_stage_length_moves_the_lr_milestones(pairs_root: Path, tmp_path: Path) -> None:
    """The scheduler's state carried the old milestones: the lr then fell where the old plan said."""
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    train(["--stage-steps", "4,2", "--max-steps", "4"], pairs_root, fresh)
    train(["--stage-steps", "40,2", "--max-steps", "1"], pairs_root, resumed)  # milestones at 20 and 30
    train(["--resume", "auto", "--stage-steps", "4,2", "--max-steps", "4", "--allow-config-change"], pairs_root, resumed)

    def lrs(run: Path) -> list[float]:
        with open(run / "train_log.csv", newline="") as handle:
            return [float(r["lr"]) for r in csv.DictReader(handle)]

    assert lrs(resumed) == pytest.approx(lrs(fresh))
    assert min(lrs(fresh)) < max(lrs(fresh))  # the milestones (steps 2 and 3) fall inside the test
