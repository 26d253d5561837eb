"""A NaN loss stops training with TrainingDiverged and leaves the last good checkpoint."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fdikp_cli.errors import TrainingDiverged
from fdikp_cli.training.checkpoint import RunPaths, latest_checkpoint
from fdikp_cli.training.config import StageOptions, resolve
from fdikp_cli.training.losses import LossTerms
from fdikp_cli.training.trainer import Trainer


def make_pairs(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(2):
        image = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
        for side in ("source", "target"):
            (root / side).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / side / f"{i}.png"), image)
    return root


def test_nan_loss_raises_training_diverged_and_keeps_last_checkpoint(tmp_path: Path) -> None:
    config = resolve(
        None, None,
        {"data": {"dataset": "pairs", "data_root": str(make_pairs(tmp_path / "d")), "workers": 0},
         "run": {"out": str(tmp_path / "run"), "checkpoint_every": 2, "log_every": 1},
         "loss": {"lpips": 0.0},
         "model": {"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}},
        [], StageOptions(crop="32", batch_size="1", steps="10"),
    )
    trainer = Trainer(config)
    real_loss = trainer.loss_fn
    calls = {"n": 0}

    def loss_turning_nan(outputs: list[torch.Tensor], target: torch.Tensor) -> LossTerms:
        calls["n"] += 1
        terms = real_loss(outputs, target)
        if calls["n"] == 3:  # step 3 goes wrong; step 2 was checkpointed
            terms.total = terms.total * float("nan")
        return terms

    trainer.loss_fn = loss_turning_nan  # type: ignore[assignment]
    good = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(TrainingDiverged, match=r"step 3.*step_00000002\.pt"):
        trainer.run()
    weights, _ = latest_checkpoint(RunPaths(tmp_path / "run"))
    assert weights.name == "step_00000002.safetensors"
    # The NaN step never reached the optimizer: the model still holds finite weights.
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values())
    assert any(not torch.equal(good[k], v) for k, v in trainer.model.state_dict().items())  # it did train 2 steps
    trainer.close()
