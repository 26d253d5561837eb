"""Device, precision and tile-size choices of `fdikp deblur` (on the CPU CI has)."""

from __future__ import annotations

import pytest
import torch

from fdikp_cli.errors import ConfigError
from fdikp_cli.inference.device import (
    CPU_AUTO_TILE,
    auto_tile_size,
    cpu_has_native_bf16,
    fall_back_if_unusable,
    is_out_of_memory,
    resolve_device,
    resolve_precision,
)
from fdikp_cli.inference.restore import restore
from fdikp_cli.model import FDIKP, FDIKPConfig


def test_cpu_and_auto_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == expected
    with pytest.raises(ConfigError, match="--device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda:1")


def test_precision_choices() -> None:
    cpu = torch.device("cpu")
    # auto on CPU: bf16 where the CPU has it natively, else fp32 (tests/test_precision.py).
    assert resolve_precision("auto", cpu) is (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    assert resolve_precision("fp32", cpu) is torch.float32
    assert resolve_precision("fp16", cpu) is torch.float16 and resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(ConfigError, match="--precision"):
        resolve_precision("fp8", cpu)


def test_cpu_auto_tile_lets_a_dpdd_photo_run_whole() -> None:
    tile = auto_tile_size(torch.device("cpu"), torch.float32, multiple=16)
    assert tile == CPU_AUTO_TILE and tile % 16 == 0
    # bf16 needs about half the host memory of fp32, but the tile is not made larger for it.
    assert auto_tile_size(torch.device("cpu"), torch.bfloat16, multiple=16) == tile
    assert tile >= 1024  # 1024 x 683 runs in one pass on CPU


def test_only_out_of_memory_counts_as_out_of_memory() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("CUDA out of memory"))  # no matching on text


def test_cpu_needs_no_fallback() -> None:
    assert fall_back_if_unusable(lambda x: x, torch.device("cpu"), torch.float32) == (torch.device("cpu"), None)


def test_half_precision_on_cpu_stays_close() -> None:
    torch.manual_seed(0)
    config = FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1, predictor_channels=8)
    model = FDIKP(config).eval()
    x = torch.rand(1, 3, 32, 48)
    full = restore(model, x)
    half = restore(model, x, dtype=torch.bfloat16)
    assert half.dtype is torch.float32 and 0 < (half - full).abs().max() < 0.05
