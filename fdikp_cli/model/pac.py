"""Position Adaptive Convolution (PAC): a few global inverse kernels applied with a per-pixel
dilation, so one kernel shape serves blur discs of every size (defocus kernels differ in
scale more than in shape)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tap_offsets(kernel_size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Grid offsets Delta p_i of a K x K kernel, row-major: (-r,-r), (-r,-r+1), ... (r,r).

    Shape: (K*K, 2) as (dy, dx).
    """
    r = kernel_size // 2
    steps = torch.arange(-r, r + 1, device=device, dtype=dtype)
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([dy.reshape(-1), dx.reshape(-1)], dim=-1)


def position_adaptive_conv(image: torch.Tensor, kernels: torch.Tensor, dilation: torch.Tensor) -> torch.Tensor:
    """F_n(p) = sum_i k_n,i * x(p + Delta p_i * D(p)), taps sampled bilinearly with reflection.

    Shape: image (B, C, H, W), kernels (B, N, K, K), dilation (B, 1, H, W) -> (B, N*C, H, W),
    channels ordered kernel-major (n0c0, n0c1, n0c2, n1c0, ...).
    One tap is sampled at a time, so memory stays O(N*C*H*W) instead of O(K^2*C*H*W).
    """
    b, c, h, w = image.shape
    n, k = kernels.shape[1], kernels.shape[-1]
    # Pixel-centre coordinates normalised to [-1, 1] (align_corners=True: -1 and 1 are the
    # centres of the border pixels, so integer offsets land exactly on pixels).
    ys = torch.linspace(-1.0, 1.0, h, device=image.device, dtype=image.dtype) if h > 1 else image.new_zeros(1)
    xs = torch.linspace(-1.0, 1.0, w, device=image.device, dtype=image.dtype) if w > 1 else image.new_zeros(1)
    base_y, base_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W)
    reach_y = dilation[:, 0] * (2.0 / max(h - 1, 1))  # (B, H, W): one tap step, normalised
    reach_x = dilation[:, 0] * (2.0 / max(w - 1, 1))
    # Accumulate in float32 whatever the autocast state: in bf16 the sum of K^2 taps of a
    # sharpening kernel (large taps of both signs) loses ~13 % of the detail it restores.
    accumulate = torch.promote_types(image.dtype, torch.float32)  # float32, or float64 for float64 input
    flat_kernels = kernels.reshape(b, n, k, k).to(accumulate)
    r = k // 2
    out = image.new_zeros(b, n, c * h * w, dtype=accumulate)
    # One kernel row at a time: K sampled copies of the image, contracted with a batched
    # matmul (B, N, K) x (B, K, C*H*W). Peak extra memory is K copies, not K^2.
    for row in range(k):
        dy = row - r
        samples = []
        for col in range(k):
            dx = col - r
            if dy == 0 and dx == 0:
                samples.append(image)
                continue
            grid = torch.stack([base_x + dx * reach_x, base_y + dy * reach_y], dim=-1)  # (B, H, W, 2)
            samples.append(F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=True))
        stacked = torch.stack(samples, dim=1).reshape(b, k, c * h * w).to(accumulate)  # (B, K, C*H*W)
        with torch.autocast(device_type=image.device.type, enabled=False):
            out = torch.baddbmm(out, flat_kernels[:, :, row, :], stacked)
    return out.reshape(b, n * c, h, w).to(image.dtype)


class DilationMap(nn.Module):
    """D = 1 + (d_max - 1) * Sigmoid(Conv(x) + t): where the model thinks blur is larger.

    t is an optional logit term from outside (the blur guidance's measured radius); without it
    this is the paper's map. Shape: (B, 3, H, W) [, t (B, 1, H, W)] -> (B, 1, H, W) in [1, d_max].
    """

    def __init__(self, max_dilation: float, channels: int = 16) -> None:
        super().__init__()
        self.max_dilation = max_dilation
        self.body = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor, logit_term: torch.Tensor | None = None) -> torch.Tensor:
        logit = self.body(x)
        if logit_term is not None:
            logit = logit + logit_term.to(logit.dtype)
        return 1.0 + (self.max_dilation - 1.0) * torch.sigmoid(logit)


def fixed_dilation_conv(image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """PAC with D = 1 everywhere (the `pac=False` ablation): an ordinary reflect-padded
    correlation with per-image kernels, done as one grouped convolution.

    Shape: image (B, C, H, W), kernels (B, N, K, K) -> (B, N*C, H, W), kernel-major channels.
    """
    b, c, h, w = image.shape
    n, k = kernels.shape[1], kernels.shape[-1]
    r = k // 2
    mode = "reflect" if h > r and w > r else "replicate"
    padded = F.pad(image, (r, r, r, r), mode=mode).reshape(1, b * c, h + 2 * r, w + 2 * r)
    # Weight of group (b, c): the N kernels of image b -> out channels ordered (b, c, n).
    weight = kernels[:, None].expand(b, c, n, k, k).reshape(b * c * n, 1, k, k)
    out = F.conv2d(padded, weight.to(image.dtype), groups=b * c)  # (1, B*C*N, H, W)
    return out.reshape(b, c, n, h, w).transpose(1, 2).reshape(b, n * c, h, w)
