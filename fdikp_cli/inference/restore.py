"""restore(): one image tensor in, its deblurred version out.

(Minimal version: whole image only. The deblur issue extends it with tiling, keeping the
signature.)
"""

from __future__ import annotations

import torch

from fdikp_cli.model import FDIKP


@torch.no_grad()
def restore(
    model: FDIKP,
    image: torch.Tensor,
    *,
    tile: int | None = None,
    overlap: int = 64,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Deblur `image` (B, 3, H, W) in [0, 1] on the host; returns (B, 3, H, W) float32 in [0, 1]
    on the host. tile=None or 0: whole image."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x = image.to(device=device, dtype=dtype)
    with torch.autocast(device_type=device.type, dtype=dtype, enabled=dtype != torch.float32):
        y = model(x)[-1]
    return y.float().clamp_(0.0, 1.0).cpu()
