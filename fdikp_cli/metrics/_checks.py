"""Argument checks shared by the metric functions (programming errors -> ValueError)."""

from __future__ import annotations

import torch


def check_pair(pred: torch.Tensor, target: torch.Tensor, metric: str) -> None:
    """Both (B, C, H, W), same shape, floating point."""
    if pred.dim() != 4 or target.dim() != 4:
        raise ValueError(f"{metric}: expected (B, C, H, W) tensors, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f"{metric}: shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if not (pred.is_floating_point() and target.is_floating_point()):
        raise ValueError(f"{metric}: expected floating-point tensors, got {pred.dtype} and {target.dtype}")
