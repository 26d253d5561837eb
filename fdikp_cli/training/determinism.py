"""Seeding and the choice of kernels: what makes two runs of one configuration alike.

`deterministic` asks torch and cuDNN for reproducible kernels (slower); without it cuDNN may
benchmark each shape and keep the fastest. The flag is global to the process, so the trainer
puts the caller's value back when it closes.
"""

from __future__ import annotations

import os

import torch


def set_determinism(seed: int, deterministic: bool, device: torch.device) -> None:
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
