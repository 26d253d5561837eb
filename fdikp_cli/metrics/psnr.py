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


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """PSNR per image over the pixels where `mask` is true (every channel of them), in dB.

    Shape: pred, target (B, C, H, W); mask (B, 1, H, W) or (B, C, H, W), bool -> (B,). An image
    whose mask is empty gives NaN (there is nothing to score), identical pixels +inf.
    """
    check_pair(pred, target, "masked_psnr")
    if mask.dim() != 4 or mask.shape[0] != pred.shape[0] or mask.shape[-2:] != pred.shape[-2:] or mask.shape[1] not in (1, pred.shape[1]):
        raise ValueError(f"masked_psnr: mask {tuple(mask.shape)} does not fit images {tuple(pred.shape)}")
    weight = mask.to(pred.dtype).expand_as(pred)  # (B, C, H, W)
    count = weight.flatten(1).sum(dim=1)  # (B,)
    error = ((pred - target).square() * weight).flatten(1).sum(dim=1) / count  # NaN where count == 0
    return 10.0 * torch.log10(data_range**2 / error)
