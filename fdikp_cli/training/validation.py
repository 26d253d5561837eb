"""Validation during training: mean PSNR / SSIM / detail PSNR (and LPIPS) of whole images or
centre crops, with the blurred inputs' own PSNR / SSIM (/ LPIPS) beside them so that the log
shows the gain (the input's detail PSNR is its PSNR: its low-pass is its own)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


@torch.no_grad()
def evaluate_model(model: nn.Module, val_set: Any, device: torch.device, lpips: nn.Module | None = None
                   ) -> dict[str, float]:
    """Mean PSNR / SSIM / detail PSNR (and LPIPS when given) of the model's restorations of the
    validation set, and the blurred inputs' (`input_psnr`, `input_ssim`, `input_lpips`)."""
    from fdikp_cli.inference.restore import restore
    from fdikp_cli.metrics import detail_psnr, psnr, ssim

    was_training = model.training
    model.eval()
    totals = {"psnr": 0.0, "ssim": 0.0, "detail_psnr": 0.0, "input_psnr": 0.0, "input_ssim": 0.0, "lpips": 0.0,
              "input_lpips": 0.0}
    count = 0
    try:
        for _, blurred, sharp in val_set:
            restored = restore(model, blurred, device=device)  # (1, 3, H, W) float32 on CPU, clamped
            totals["psnr"] += float(psnr(restored.double(), sharp.double())[0])
            totals["ssim"] += float(ssim(restored.double(), sharp.double())[0])
            totals["detail_psnr"] += float(detail_psnr(restored.double(), blurred.double(), sharp.double())[0])
            totals["input_psnr"] += float(psnr(blurred.double(), sharp.double())[0])
            totals["input_ssim"] += float(ssim(blurred.double(), sharp.double())[0])
            if lpips is not None:
                totals["lpips"] += float(lpips(restored.to(device), sharp.to(device))[0])
                totals["input_lpips"] += float(lpips(blurred.to(device), sharp.to(device))[0])
            count += 1
    finally:
        model.train(was_training)
    metrics = {k: v / max(count, 1) for k, v in totals.items()}
    if lpips is None:
        metrics.pop("lpips")
        metrics.pop("input_lpips")
    metrics["images"] = float(count)
    return metrics
