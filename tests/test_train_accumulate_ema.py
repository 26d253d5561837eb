"""The converging schedule (issue 23): warm-up + cosine lr, gradient accumulation, weight EMA."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.errors import ConfigError
from fdikp_cli.training.config import StageConfig, TrainConfig, validate
from fdikp_cli.training.schedule import build_stage_plans
from fdikp_cli.weights import read_weights
from tests.conftest import write_blocky_pairs

TINY_MODEL = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'


def test_cosine_lr_warms_up_linearly_then_falls_to_the_floor() -> None:
    stage = StageConfig(lr=1e-3, schedule="cosine", warmup_steps=4, min_lr=1e-5)
    plan = build_stage_plans([stage], [24], 38, 1)[0]
    lrs = [stage.lr * plan.lr_factor(step) for step in range(24)]
    assert lrs[:4] == pytest.approx([2e-4, 4e-4, 6e-4, 8e-4])  # (step + 1) / (warm-up + 1)
    assert lrs[4] == pytest.approx(1e-3)  # the peak right after the warm-up
    assert lrs[-1] == pytest.approx(1e-5)  # the floor at the stage's last step
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:]))  # strictly falling after the peak
    assert lrs[14] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * 10 / 19)).item()))


def test_bad_schedule_values_are_refused() -> None:
    for stage in (StageConfig(schedule="linear"), StageConfig(accumulate=0), StageConfig(lr=1e-4, min_lr=1e-3)):
        with pytest.raises(ConfigError):
            validate(TrainConfig(stages=[stage]))
    with pytest.raises(ConfigError, match="ema_decay"):
        config = TrainConfig(stages=[StageConfig()])
        config.run.ema_decay = 1.0
        validate(config)


def run_training(root: Path, out: Path, extra: list[str]) -> None:
    one_stage = out.with_suffix(".toml")
    one_stage.write_text("[[stages]]\nsteps = 3\ncrop = 32\nlr = 1e-3\n")
    args = ["train", "--config", str(one_stage), "--dataset", "pairs", "--data-root", str(root), "--out", str(out),
            "--model-config", TINY_MODEL, "--workers", "0", "--no-lpips", "--amp", "off", "--log-every", "1",
            "--checkpoint-every", "1", "--seed", "3", "--set", "optim.grad_clip=0"]
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, args + extra)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blocky_pairs(tmp_path_factory.mktemp("pairs"), 4)


def logged(run: Path, column: str) -> list[float]:
    with open(run / "train_log.csv", newline="") as handle:
        return [float(row[column]) for row in csv.DictReader(handle)]


def test_two_accumulated_micro_batches_of_one_equal_one_batch_of_two(pairs_root: Path, tmp_path: Path) -> None:
    run_training(pairs_root, tmp_path / "whole", ["--batch-size", "2"])
    run_training(pairs_root, tmp_path / "split", ["--batch-size", "1", "--set", "stages.0.accumulate=2"])
    # Same images per step, same loss, same summed gradient (its norm, before any clipping), at
    # every step: the updates matched too. (Weights are not compared: Adam turns the rounding
    # differences of parameters with ~0 gradient into full lr-sized steps.)
    for column in ("loss", "grad_norm"):
        whole, split = logged(tmp_path / "whole", column), logged(tmp_path / "split", column)
        assert len(whole) == 3 and split == pytest.approx(whole, rel=1e-4), column
    assert len(set(logged(tmp_path / "whole", "loss"))) == 3  # the steps differ: not a constant


def test_ema_file_is_the_exponential_average_of_the_steps(pairs_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "ema"
    steps = []
    for step in (1, 2, 3):  # one step per session: the average also survives the resumes
        resume = ["--resume", "auto"] if step > 1 else []
        run_training(pairs_root, out, ["--batch-size", "1", "--set", "run.ema_decay=0.5", "--max-steps", str(step)]
                     + resume)
        steps.append(read_weights(out / "checkpoints" / f"step_{step:08d}.safetensors").state_dict)
    ema = read_weights(out / "ema.safetensors").state_dict
    for key in ema:  # the first update copies; then ema <- 0.5 ema + 0.5 w
        expected = 0.5 * (0.5 * steps[0][key] + 0.5 * steps[1][key]) + 0.5 * steps[2][key]
        torch.testing.assert_close(ema[key], expected, rtol=1e-5, atol=1e-6, msg=key)
    assert max(float((ema[k] - steps[2][k]).abs().max()) for k in ema) > 1e-6
