"""Network interpolation: weights between two fine-tunes of one model, for a chosen trade-off.

Two FDIKP weights files fine-tuned from the same starting point (here: the PSNR weights and the
perceptual weights fine-tuned from them) stay in one basin of the loss, so their element-wise
blend (1 - alpha) * a + alpha * b is itself a working model whose outputs move smoothly from
a's to b's. ESRGAN uses this to trade distortion (PSNR) against perceptual quality (LPIPS)
without training again; it is how the shipped perceptual weights are chosen along that line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fdikp_cli.errors import WeightsError
from fdikp_cli.model.config import FDIKPConfig
from fdikp_cli.weights import WeightsFile, read_weights, save_weights


def interpolate_state_dicts(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor],
                            alpha: float) -> dict[str, torch.Tensor]:
    """(1 - alpha) * a + alpha * b for every floating-point tensor, computed in float32.

    Integer tensors (counters) must be equal and are copied. Raises WeightsError when the two
    do not hold the same tensors with the same shapes.
    """
    if not 0.0 <= alpha <= 1.0:
        raise WeightsError(f"interpolation alpha must lie in [0, 1], got {alpha}")
    if a.keys() != b.keys():
        only = sorted(a.keys() ^ b.keys())
        raise WeightsError(f"the two weights hold different tensors (e.g. {', '.join(only[:3])})")
    blended: dict[str, torch.Tensor] = {}
    for name, left in a.items():
        right = b[name]
        if left.shape != right.shape:
            raise WeightsError(f"{name}: shapes {tuple(left.shape)} and {tuple(right.shape)} differ")
        if left.is_floating_point():
            blended[name] = torch.lerp(left.float(), right.float(), alpha)
        elif torch.equal(left, right):
            blended[name] = left.clone()
        else:
            raise WeightsError(f"{name}: integer tensors differ, so the two are not one model")
    return blended


def interpolate_weights(a: str | Path | WeightsFile, b: str | Path | WeightsFile,
                        alpha: float) -> tuple[FDIKPConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """(config, blended state dict, provenance) of two weights files of the same configuration."""
    first = a if isinstance(a, WeightsFile) else read_weights(a)
    second = b if isinstance(b, WeightsFile) else read_weights(b)
    if first.config != second.config:
        raise WeightsError(f"{first.path} and {second.path} have different model configurations")
    provenance = {
        "model": "interpolated",
        "interpolation": {
            "alpha": alpha,
            "a": {"path": str(first.path), "sha256": first.sha256, "provenance": first.provenance},
            "b": {"path": str(second.path), "sha256": second.sha256, "provenance": second.provenance},
        },
    }
    return first.config, interpolate_state_dicts(first.state_dict, second.state_dict, alpha), provenance


def write_interpolated(a: str | Path, b: str | Path, alpha: float, output: str | Path, *,
                       storage_dtype: torch.dtype | None = None, overwrite: bool = False) -> Path:
    """Blend two weights files and write the result (provenance names both and alpha); the
    output is checked before the inputs are read (check_weights_output)."""
    from fdikp_cli.model import FDIKP
    from fdikp_cli.weights import check_weights_output, load_state_checked

    output = check_weights_output(output, overwrite)
    config, state, provenance = interpolate_weights(a, b, alpha)
    model = FDIKP(config)
    load_state_checked(model, state, source="interpolated weights")
    if storage_dtype is not None:
        provenance["storage_dtype"] = str(storage_dtype).replace("torch.", "")
    return save_weights(model, output, config=config, provenance=provenance, storage_dtype=storage_dtype)
