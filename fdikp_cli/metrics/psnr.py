"""PSNR and MAE of image batches (pure functions, differentiable)."""

from __future__ import annotations

import torch

from fdikp_cli.metrics._checks import check_pair


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image over all pixels and channels.

    Shape: pred, target (B, C, H, W) -> (B,).
    """
    check_pair(pred, target, "mse")
    return (pred - target).square().flatten(1).mean(dim=1)


def psnr(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image: 10·log10(data_range² / MSE), in dB.

    Shape: pred, target (B, C, H, W) in [0, data_range] -> (B,). Identical images give +inf.
    Computed in the inputs' dtype: pass float64 for reference-exact numbers.
    """
    error = mse(pred, target)  # (B,)
    return 10.0 * torch.log10(data_range**2 / error)
