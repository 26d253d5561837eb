"""Mean absolute error of image batches (pure function, differentiable)."""

from __future__ import annotations

import torch

from fdikp_cli.metrics._checks import check_pair


def mae(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image over all pixels and channels.

    Shape: pred, target (B, C, H, W) -> (B,).
    """
    check_pair(pred, target, "mae")
    return (pred - target).abs().flatten(1).mean(dim=1)
