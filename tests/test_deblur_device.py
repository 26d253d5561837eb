"""Device, precision and tile-size choices of `fdikp deblur` (on the CPU CI has)."""

from __future__ import annotations

import pytest
import torch

from fdikp_cli.errors import ConfigError, DeviceError
from fdikp_cli.inference.device import (
    BYTES_PER_PIXEL,
    CPU_RAM_SHARE,
    auto_tile_size,
    cpu_has_native_bf16,
    fall_back_if_unusable,
    is_out_of_memory,
    resolve_device,
    resolve_precision,
    tile_for_memory,
)
from fdikp_cli.inference.host_memory import available_ram_bytes, parse_meminfo_available
from fdikp_cli.inference.restore import restore, tile_side
from fdikp_cli.model import FDIKP, FDIKPConfig


def test_cpu_and_auto_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    assert resolve_device("auto") == expected
    with pytest.raises(ConfigError, match="--device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    # DeviceError, not ConfigError: the machine lacks it (exit 1), the command line is fine.
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda:1")


def test_precision_choices() -> None:
    cpu = torch.device("cpu")
    # auto on CPU: bf16 where the CPU has it natively, else fp32 (tests/test_precision.py).
    assert resolve_precision("auto", cpu) is (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    assert resolve_precision("fp32", cpu) is torch.float32
    assert resolve_precision("fp16", cpu) is torch.float16 and resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(ConfigError, match="--precision"):
        resolve_precision("fp8", cpu)


def test_cpu_auto_tile_runs_a_photo_whole_when_the_ram_holds_it() -> None:
    """Issue 14: a 1200x800 photo ran as two fixed 1024 px tiles (20.7 s) where whole it took
    13.2 s; now the tile comes from the available RAM and the measured bytes per pixel."""
    gib = 1 << 30
    # 8 GiB available, half of it usable: 1.79 MP at fp32's 2400 B/px holds 1200x800 whole.
    whole = tile_for_memory(8 * gib, torch.float32, 32, image_size=(800, 1200), share=CPU_RAM_SHARE)
    assert whole >= 1200 and whole % 32 == 0
    # 2 GiB: 0.45 MP does not hold it; the largest square that fits, rounded down to 32.
    tiled = tile_for_memory(2 * gib, torch.float32, 32, image_size=(800, 1200), share=CPU_RAM_SHARE)
    assert tiled == (int((gib / BYTES_PER_PIXEL[torch.float32]) ** 0.5) // 32) * 32 and tiled < 800
    # bf16 needs less memory per pixel: a larger tile from the same RAM.
    assert tile_for_memory(2 * gib, torch.bfloat16, 32, image_size=(800, 1200), share=CPU_RAM_SHARE) > tiled
    # The tile restore() really uses (rounded down to the size multiple) still covers the image.
    model = FDIKP(FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1,
                              predictor_channels=8))
    assert tile_side(model, whole) >= 1200


def test_available_ram_is_read_from_meminfo() -> None:
    text = "MemTotal:       24683584 kB\nMemFree:        21033172 kB\nMemAvailable:   22202604 kB\n"
    assert parse_meminfo_available(text) == 22202604 * 1024
    assert parse_meminfo_available("MemTotal: 1 kB\n") is None  # old kernels: no estimate
    ram = available_ram_bytes()
    assert ram is None or ram > 0
    if ram is not None:  # this machine says: the CPU tile follows its RAM, not a fixed size
        expected = tile_for_memory(ram, torch.float32, 16, image_size=(683, 1024), share=CPU_RAM_SHARE)
        assert auto_tile_size(torch.device("cpu"), torch.float32, 16, image_size=(683, 1024)) == expected


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
