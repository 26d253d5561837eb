"""Validation during training: mean PSNR / SSIM (and LPIPS) of whole images or centre crops."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


@torch.no_grad()
def evaluate_model(model: nn.Module, val_set: Any, device: torch.device, lpips: nn.Module | None = None
                   ) -> dict[str, float]:
    """Mean PSNR / SSIM (and LPIPS when given) of the model's restorations of the validation set."""
    from fdikp_cli.inference.restore import restore
    from fdikp_cli.metrics import psnr, ssim

    was_training = model.training
    model.eval()
    totals = {"psnr": 0.0, "ssim": 0.0, "lpips": 0.0}
    count = 0
    try:
        for _, blurred, sharp in val_set:
            restored = restore(model, blurred, device=device)  # (1, 3, H, W) float32 on CPU, clamped
            totals["psnr"] += float(psnr(restored.double(), sharp.double())[0])
            totals["ssim"] += float(ssim(restored.double(), sharp.double())[0])
            if lpips is not None:
                totals["lpips"] += float(lpips(restored.to(device), sharp.to(device))[0])
            count += 1
    finally:
        model.train(was_training)
    metrics = {k: v / max(count, 1) for k, v in totals.items()}
    if lpips is None:
        metrics.pop("lpips")
    metrics["images"] = float(count)
    return metrics
