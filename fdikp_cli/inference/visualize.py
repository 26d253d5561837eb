"""Pictures of what the model did: before | after, and where it saw the most blur."""

from __future__ import annotations

import numpy as np
import torch


def side_by_side(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(H, W, C) input and output -> (H, 2W, C): input on the left. Same dtype required."""
    if before.shape != after.shape or before.dtype != after.dtype:
        raise ValueError(f"cannot compare {before.shape} {before.dtype} with {after.shape} {after.dtype}")
    return np.concatenate([before, after], axis=1)


def dilation_colour_map(dilation: torch.Tensor | np.ndarray, max_dilation: float) -> np.ndarray:
    """The PAC dilation map (H, W) in [1, max_dilation] as an RGB uint8 image (H, W, 3).

    Inferno colour map on a fixed scale (1 -> black, max_dilation -> pale yellow), so maps of
    different photos compare: bright is where the model spreads its inverse kernels widest,
    i.e. where it thinks the defocus blur is largest.
    """
    import cv2

    values = dilation.detach().float().cpu().numpy() if isinstance(dilation, torch.Tensor) else np.asarray(dilation)
    values = np.squeeze(values)
    if values.ndim != 2:
        raise ValueError(f"dilation map must be (H, W), got {values.shape}")
    scale = max(max_dilation - 1.0, 1e-6)
    levels = np.clip((values - 1.0) / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(levels, cv2.COLORMAP_INFERNO)
    return np.ascontiguousarray(bgr[..., ::-1])
