"""Training options end to end: the LPIPS term (present / missing weights), --deterministic,
the synthetic dataset and mixtures."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.errors import LpipsWeightsMissing
from fdikp_cli.synth import SynthConfig
from fdikp_cli.training.config import resolve
from fdikp_cli.weights import read_weights
from tests.conftest import shared_path

TINY_MODEL = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'


def make_pairs(root: Path, size: int = 72) -> Path:
    rng = np.random.default_rng(0)
    for i in range(2):
        sharp = cv2.resize(rng.integers(0, 256, (12, 12, 3)).astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
        for side, image in (("target", sharp), ("source", cv2.blur(sharp, (5, 5)))):
            (root / side).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / side / f"{i}.png"), image)
    return root


def invoke(args: list[str]) -> str:
    result = CliRunner().invoke(app, ["train", "--model-config", TINY_MODEL, "--workers", "0", "--log-every", "1",
                                      "--batch-size", "1", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_training_with_the_lpips_term(tmp_path: Path) -> None:
    lpips_dir = Path(os.environ.get("FDIKP_LPIPS_DIR") or shared_path("weights", "lpips"))
    if not (lpips_dir / "lpips_v0.1_linear_heads.safetensors").is_file():
        pytest.skip(f"needs the LPIPS weights in {lpips_dir}")
    root = make_pairs(tmp_path / "d")
    invoke(["--dataset", "pairs", "--data-root", str(root), "--val-root", str(root), "--out", str(tmp_path / "r"),
            "--crop", "64", "--stage-steps", "2,1", "--lpips-dir", str(lpips_dir), "--val-every", "3"])
    log = (tmp_path / "r" / "train_log.csv").read_text().splitlines()
    header, first = log[0].split(","), log[1].split(",")
    assert float(first[header.index("lpips")]) > 0  # the term was computed and logged
    assert "lpips" in read_weights(tmp_path / "r" / "swa.safetensors").provenance["validation"]


def test_missing_lpips_weights_stop_training_with_their_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fdikp_cli.metrics.lpips_weights as lpips_weights

    def offline(*_: object, **__: object) -> None:
        raise LpipsWeightsMissing("offline")

    monkeypatch.setenv("FDIKP_LPIPS_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(lpips_weights, "download_lpips_weights", offline)
    monkeypatch.setattr(lpips_weights, "default_cache_dir", lambda: tmp_path / "cache")
    root = make_pairs(tmp_path / "d")
    result = CliRunner().invoke(app, ["train", "--dataset", "pairs", "--data-root", str(root), "--out",
                                      str(tmp_path / "r"), "--model-config", TINY_MODEL, "--crop", "64"])
    assert result.exit_code == 1 and "offline" in result.output, result.output
    invoke(["--dataset", "pairs", "--data-root", str(root), "--out", str(tmp_path / "r"), "--crop", "64",
            "--stage-steps", "1,1", "--no-lpips"])  # and --no-lpips trains without them


def test_deterministic_runs_repeat_exactly_and_restore_the_global_flag(tmp_path: Path) -> None:
    root = make_pairs(tmp_path / "d")
    for name in ("a", "b"):
        invoke(["--dataset", "pairs", "--data-root", str(root), "--out", str(tmp_path / name), "--crop", "32",
                "--stage-steps", "2,1", "--no-lpips", "--deterministic", "--seed", "3"])
    assert not torch.are_deterministic_algorithms_enabled()
    a = read_weights(tmp_path / "a" / "swa.safetensors").state_dict
    b = read_weights(tmp_path / "b" / "swa.safetensors").state_dict
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_synthetic_and_mixed_datasets_train(tmp_path: Path) -> None:
    sharp = tmp_path / "sharp"
    sharp.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        photo = cv2.resize(rng.integers(0, 256, (10, 10, 3)).astype(np.uint8), (80, 80), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(sharp / f"{i}.png"), photo)
    root = make_pairs(tmp_path / "d")
    output = invoke(["--dataset", "pairs:1,synthetic:3", "--data-root", str(root), "--sharp-dir", str(sharp),
                     "--val-root", str(root), "--out", str(tmp_path / "mix"), "--crop", "32", "--stage-steps", "2,1",
                     "--no-lpips"])
    assert "pairs: 2 pairs" in output and "synthetic: 2 sharp photos" in output and "0.75" in output
    output = invoke(["--dataset", "synthetic", "--sharp-dir", str(sharp), "--out", str(tmp_path / "syn"),
                     "--crop", "32", "--stage-steps", "1,1", "--no-lpips", "--set", "synth.max_radius=5"])
    assert "validation: none" in output
    # The whole simulator configuration is pinned in the run's config, the override included.
    saved = resolve(None, tmp_path / "syn" / "config.toml", {}, [])
    assert SynthConfig.from_dict(saved.synth) == SynthConfig(max_radius=5.0)
    assert read_weights(tmp_path / "syn" / "swa.safetensors").provenance["data"]["dataset"] == "synthetic"


def test_amp_auto_uses_bf16_exactly_where_the_cpu_computes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import fdikp_cli.inference.device as device_module
    from fdikp_cli.training.trainer import amp_dtype

    cpu = torch.device("cpu")
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    assert amp_dtype("auto", cpu) is None and amp_dtype("bf16", cpu) is torch.bfloat16
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda cpuinfo=None: True)
    assert amp_dtype("auto", cpu) is torch.bfloat16 and amp_dtype("off", cpu) is None
