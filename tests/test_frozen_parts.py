"""optim.train_only: training one part of the model with the rest frozen (issue 23's bank probe)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fdikp_cli.errors import ConfigError
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.training.frozen_parts import freeze_all_but
from fdikp_cli.weights import read_weights
from tests.conftest import write_blocky_pairs
from tests.test_train_accumulate_ema import TINY_MODEL, run_training


def tiny_model() -> FDIKP:
    return FDIKP(FDIKPConfig.from_dict(json.loads(TINY_MODEL)))


def test_only_the_named_parts_stay_trainable() -> None:
    model = tiny_model()
    expected = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("to_image", "coefficients")))
    assert freeze_all_but(model, ("to_image", "coefficients")) == expected > 0
    for name, parameter in model.named_parameters():
        assert parameter.requires_grad == name.startswith(("to_image", "coefficients")), name


def test_no_prefix_leaves_the_model_as_it_was_and_a_typo_is_refused() -> None:
    model = tiny_model()
    assert freeze_all_but(model, ()) == sum(p.numel() for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ConfigError, match="inverse_bank"):
        freeze_all_but(model, ("to_image", "inverse_bank"))
    assert all(p.requires_grad for p in model.parameters())  # refused before anything was frozen


def test_a_run_moves_only_the_trained_part(tmp_path: Path) -> None:
    root = write_blocky_pairs(tmp_path / "pairs", 2)
    run_training(root, tmp_path / "start", ["--batch-size", "1", "--max-steps", "1"])
    start = read_weights(tmp_path / "start" / "checkpoints" / "step_00000001.safetensors").state_dict
    run_training(root, tmp_path / "part", ["--batch-size", "1", "--init-weights",
                                           str(tmp_path / "start" / "checkpoints" / "step_00000001.safetensors"),
                                           "--set", 'optim.train_only=["to_image"]'])
    trained = read_weights(tmp_path / "part" / "checkpoints" / "step_00000003.safetensors").state_dict
    moved = {name for name in start if not torch.equal(start[name], trained[name])}
    assert moved and all(name.startswith("to_image") for name in moved), sorted(moved)
