"""The float precision a run computes in: one autocast dtype for the model's forward pass.

Master weights, FFTs and losses stay float32 in every mode, so a run's precision is a single
choice, `torch.dtype | None` (None: plain float32), made once from --precision and the device.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from fdikp_cli.errors import ConfigError


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """None: float32. auto = bf16 on CUDA (no loss scaling needed) and on CPUs that compute bf16
    in hardware (training steps 1.59x faster there with channels-last weights, `benchmarks.bench_train
    --precision-ratio`), float32 elsewhere.
    Master weights, FFTs and losses stay float32 in every mode."""
    from fdikp_cli.inference.device import cpu_has_native_bf16

    if mode == "off" or (mode == "auto" and device.type == "cpu" and not cpu_has_native_bf16()):
        return None
    if mode in ("auto", "bf16"):
        return torch.bfloat16
    if device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA device (use bf16 or fp32 on CPU)")
    return torch.float16


def autocast(amp: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The context of the forward pass: autocast to `amp`, or nothing at all for float32."""
    return torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()


def dtype_name(amp: torch.dtype | None) -> str:
    """"bfloat16", "float16" or "float32", as run.json and the start-up lines name it."""
    return str(amp).replace("torch.", "") if amp else "float32"
