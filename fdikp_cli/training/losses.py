"""The paper's multi-scale loss (Eq. 4-5, Appendix A2).

    L_MS = sum_s lambda_s * L(y_s, y_hat_s),  lambda = 1, 0.2, 0.1 for full, half, quarter
    L    = alpha * MSE + beta * LPIPS + gamma * L_freq,  alpha, beta, gamma = 1, 0.2, 0.2

Targets at the coarser scales are the ground truth average-pooled by 2 and 4, which is how the
model downsamples its own input. L_freq (our normalisation, which the paper leaves open):
    mean over batch, channels and frequencies of |FFT2(y) - FFT2(y_hat)|, FFT with norm="ortho",
computed in float32. With the orthonormal FFT the spectrum has the same energy as the image
(Parseval), so the term's size does not grow with the crop size. Any weight may be 0 (the
paper's Table 6 ablation); a term with weight 0 is not computed at all.

Beside the paper's terms, an optional Charbonnier term (not in the paper, weight 0 by default)
    mean of sqrt((y - y_hat)^2 + eps^2) - eps, a smooth L1:
on real pairs whose targets are not exactly aligned, the squared error's best answer is the
mean of the shifted targets, a blur; the L1's is their median, which keeps edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def fft_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of orthonormal 2-D spectra. Shape: (B, C, H, W) x2 -> scalar."""
    diff = torch.fft.fft2(pred.float() - target.float(), norm="ortho")  # FFT is linear: FFT(a)-FFT(b)
    return diff.abs().mean()


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of sqrt(d^2 + eps^2) - eps, d = pred - target; 0 for equal inputs, ~|d| for |d| >> eps.
    Shape: (B, C, H, W) x2 -> scalar."""
    diff = pred.float() - target.float()
    return (torch.sqrt(diff * diff + eps * eps) - eps).mean()


@dataclass
class LossTerms:
    """The total loss and its unweighted parts summed over scales with the scale weights."""

    total: torch.Tensor
    mse: float = 0.0
    lpips: float = 0.0
    fft: float = 0.0
    charbonnier: float = 0.0


class MultiScaleLoss(nn.Module):
    """Shape: outputs [y_1/4 (B,3,H/4,W/4), y_1/2, y (B,3,H,W)], target (B,3,H,W) -> LossTerms."""

    def __init__(self, mse: float = 1.0, lpips: float = 0.2, fft: float = 0.2,
                 scale_weights: tuple[float, ...] = (1.0, 0.2, 0.1), lpips_module: nn.Module | None = None,
                 lpips_min_size: int = 32, charbonnier_weight: float = 0.0,
                 charbonnier_eps: float = 1e-3) -> None:
        super().__init__()
        if lpips > 0 and lpips_module is None:
            raise ValueError("an LPIPS weight > 0 needs an LPIPS module")
        self.weights = (mse, lpips, fft)
        self.scale_weights = tuple(scale_weights)  # full, half, quarter, ...
        self.lpips = lpips_module if lpips > 0 else None
        self.lpips_min_size = lpips_min_size
        self.charbonnier_weight = charbonnier_weight
        self.charbonnier_eps = charbonnier_eps

    def forward(self, outputs: list[torch.Tensor], target: torch.Tensor) -> LossTerms:
        w_mse, w_lpips, w_fft = self.weights
        total = target.new_zeros((), dtype=torch.float32)
        parts = {"mse": 0.0, "lpips": 0.0, "fft": 0.0, "charbonnier": 0.0}
        # outputs run coarse -> fine; scale_weights run fine -> coarse.
        for level, pred in enumerate(reversed(outputs)):
            if level >= len(self.scale_weights) or self.scale_weights[level] == 0:
                continue
            scale = self.scale_weights[level]
            ref = F.avg_pool2d(target, 2**level) if level else target
            if ref.shape != pred.shape:
                raise ValueError(f"output {tuple(pred.shape)} and target {tuple(ref.shape)} differ: crops must be "
                                 "multiples of the model's size multiple")
            pred = pred.float()
            if w_mse:
                term = F.mse_loss(pred, ref)
                total = total + scale * w_mse * term
                parts["mse"] += scale * float(term.detach())
            if w_lpips and self.lpips is not None and min(pred.shape[-2:]) >= self.lpips_min_size:
                term = self.lpips(pred, ref).mean()
                total = total + scale * w_lpips * term
                parts["lpips"] += scale * float(term.detach())
            if w_fft:
                term = fft_l1(pred, ref)
                total = total + scale * w_fft * term
                parts["fft"] += scale * float(term.detach())
            if self.charbonnier_weight:
                term = charbonnier(pred, ref, self.charbonnier_eps)
                total = total + scale * self.charbonnier_weight * term
                parts["charbonnier"] += scale * float(term.detach())
        return LossTerms(total, **parts)
