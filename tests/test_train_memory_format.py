"""Under bf16 on CPU the trainer stores convolution weights channels-last (as inference does);
fp32 keeps the default layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fdikp_cli.training.config import StageOptions, resolve
from fdikp_cli.training.trainer import Trainer
from tests.test_train_diverge import make_pairs


def _trainer(tmp_path: Path, amp: str) -> Trainer:
    config = resolve(
        None, None,
        {"data": {"dataset": "pairs", "data_root": str(make_pairs(tmp_path / "d")), "workers": 0},
         "run": {"out": str(tmp_path / f"run_{amp}"), "amp": amp},
         "loss": {"lpips": 0.0},
         "model": {"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}},
        [], StageOptions(crop="32", batch_size="1", steps="1"),
    )
    return Trainer(config)


@pytest.mark.parametrize("amp, channels_last", [("bf16", True), ("off", False)])
def test_trainer_weight_layout_follows_precision(tmp_path: Path, amp: str, channels_last: bool) -> None:
    trainer = _trainer(tmp_path, amp)
    kernels = [m.weight for m in trainer.model.modules()
               if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1 and m.weight.shape[1] > 1]
    # (1x1 and one-input-channel kernels are contiguous in both layouts at once)
    assert kernels
    assert all(w.is_contiguous(memory_format=torch.channels_last) == channels_last for w in kernels)
    trainer.close()
