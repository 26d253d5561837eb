"""An adversarial run resumes exactly, also across the end of the critic-only warm-up; the
critic, its optimizer and the warm-up counter travel in the checkpoint; a run can turn the
adversarial term on at a resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.weights import read_weights
from tests.conftest import write_blocky_pairs

TINY_MODEL = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'
# Warm-up of 3 steps: steps 1-3 train the critic only, step 4 on adds the generator's term.
ADVERSARIAL = ["--adversarial", "0.05", "--set", "adversarial.warmup_steps=3", "--set", "adversarial.critic_channels=4"]


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 48x48 pairs: a blocky random scene and a box-blurred version of it."""
    return write_blocky_pairs(tmp_path_factory.mktemp("pairs"), 3)


def train(args: list[str], root: Path, out: Path) -> str:
    base = ["train", "--dataset", "pairs", "--data-root", str(root), "--out", str(out), "--model-config", TINY_MODEL,
            "--crop", "32", "--batch-size", "2", "--stage-steps", "5,1", "--workers", "0", "--no-lpips",
            "--log-every", "1", "--checkpoint-every", "1000", "--seed", "3", "--amp", "off"]
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, base + args)
    assert result.exit_code == 0, result.output
    return result.output


def checkpoint(run: Path, step: int) -> tuple[dict[str, torch.Tensor], dict]:
    stem = run / "checkpoints" / f"step_{step:08d}"
    return read_weights(stem.with_suffix(".safetensors")).state_dict, torch.load(stem.with_suffix(".pt"), weights_only=True)


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_adversarial_run_resumes_exactly_across_the_warm_up(pairs_root: Path, tmp_path: Path) -> None:
    once, split = tmp_path / "once", tmp_path / "split"
    output = train(ADVERSARIAL, pairs_root, once)
    assert "warm-up 3 critic-only steps" in output
    train(ADVERSARIAL + ["--max-steps", "2"], pairs_root, split)  # stops inside the warm-up
    _, state = checkpoint(split, 2)
    assert state["hooks"]["adversarial"]["steps"] == 2
    output = train(ADVERSARIAL + ["--resume", "auto"], pairs_root, split)  # crosses step 3 -> 4
    assert "at step 2/6" in output and "(1 left)" in output

    weights_once, state_once = checkpoint(once, 6)
    weights_split, state_split = checkpoint(split, 6)
    assert_same(weights_once, weights_split)
    hook_once, hook_split = state_once["hooks"]["adversarial"], state_split["hooks"]["adversarial"]
    assert hook_once["steps"] == hook_split["steps"] == 6
    assert_same(hook_once["critic"], hook_split["critic"])
    for (_, a), (_, b) in zip(sorted(hook_once["optimizer"]["state"].items()),
                              sorted(hook_split["optimizer"]["state"].items())):
        torch.testing.assert_close(a["exp_avg_sq"], b["exp_avg_sq"], rtol=0, atol=0)

    provenance = read_weights(once / "checkpoints" / "step_00000006.safetensors").provenance
    assert provenance["hooks"]["adversarial"]["weight"] == 0.05  # the weights say how they were trained

    rows = (once / "train_log.csv").read_text().splitlines()
    header = rows[0].split(",")
    adv = [float(row.split(",")[header.index("adv")]) for row in rows[1:]]
    assert adv[:3] == [0.0, 0.0, 0.0] and all(value != 0.0 for value in adv[3:])  # the term starts at step 4


def test_plain_run_is_unchanged_and_can_turn_the_critic_on_at_a_resume(pairs_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(["--max-steps", "2"], pairs_root, run)
    _, state = checkpoint(run, 2)
    assert state["hooks"] == {}
    assert "adv" not in (run / "train_log.csv").read_text().splitlines()[0]
    output = train(ADVERSARIAL + ["--resume", "auto", "--allow-config-change", "--max-steps", "3"], pairs_root, run)
    assert "adversarial.weight 0.0 -> 0.05" in output and "no adversarial state: it starts now" in output
    _, state = checkpoint(run, 3)
    assert state["hooks"]["adversarial"]["steps"] == 1
