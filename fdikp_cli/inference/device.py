"""Where and in which precision the model runs; tile sizes from free memory; out-of-memory.

    device = resolve_device("auto")                 # cuda (LOCAL_RANK under torchrun) > cpu
    dtype = resolve_precision("auto", device)       # cpu: fp32; cuda: bf16 if supported, else fp16
    tile = auto_tile_size(device, dtype, multiple=16)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

from fdikp_cli.errors import ConfigError

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# On CPU, `--tile auto` is a fixed size: peak memory must stay bounded on any photo, and a
# 1024 x 683 photo (the DPDD size) must still run whole. Host memory of the model is about
# 2 GB per megapixel in fp32 (benchmarks/bench_deblur.py), so a 1024^2 tile peaks near 2 GB.
CPU_AUTO_TILE = 1024
# Device bytes per pixel of one forward pass, to size tiles from free GPU memory. Measured on
# CPU in fp32 (~2 KB/pixel); half precision halves activations but not the fp32 FFTs. Not yet
# measured on a GPU: the out-of-memory retry (halving the tile) covers an estimate too high.
BYTES_PER_PIXEL = {torch.float32: 2400, torch.float16: 1600, torch.bfloat16: 1600}
# Use this share of the free memory (the allocator fragments; other processes may grow).
FREE_MEMORY_SHARE = 0.7
MIN_TILE = 128
MAX_AUTO_TILE = 4096


@dataclass(frozen=True)
class RankInfo:
    """This process' place in a `torchrun` launch (rank 0 of 1 when not launched so)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def rank_from_environment(env: dict[str, str] | None = None) -> RankInfo:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them; no process group is needed."""
    env = dict(os.environ) if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise ConfigError(f"invalid RANK/WORLD_SIZE/LOCAL_RANK in the environment: {exc}") from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"invalid torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return RankInfo(rank, world, local)


def wait_for_all_ranks(rank: RankInfo) -> None:
    """Under torchrun, block until every process has finished its share of the files.

    torchrun stops all workers as soon as one exits non-zero, so a process whose share had a
    failed file (exit status 1) would cut the others' work short; every process meets here
    first. A gloo group on torchrun's own store, made only for this; no-op for one process.
    """
    if rank.world_size <= 1 or "MASTER_ADDR" not in os.environ:
        return
    import datetime

    import torch.distributed as dist

    if not dist.is_available():
        return
    # Shares can take hours longer than one another: wait as long as a batch may run.
    dist.init_process_group("gloo", timeout=datetime.timedelta(days=7))
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str = "auto", local_rank: int = 0) -> torch.device:
    """auto|cpu|cuda|cuda:N|mps -> a device that exists (ConfigError otherwise).

    auto and plain "cuda" use cuda:local_rank (one GPU per torchrun process). auto never
    picks MPS: FDIKP needs FFT ops that MPS lacks (see `fall_back_if_unusable`).
    """
    spec = spec.strip().lower()
    if spec == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if spec == "cpu":
        return torch.device("cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {spec}: CUDA is not available (torch {torch.__version__})")
        try:
            device = torch.device(spec) if ":" in spec else torch.device("cuda", local_rank)
        except RuntimeError as exc:
            raise ConfigError(f"--device {spec}: {exc}") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
        return device
    if spec == "mps":
        if not _mps_available():
            raise ConfigError("--device mps: Apple MPS is not available")
        return torch.device("mps")
    raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {spec!r}")


def resolve_precision(spec: str, device: torch.device) -> torch.dtype:
    """auto|fp32|fp16|bf16 -> a dtype for autocast. auto: fp32 on CPU and MPS (half precision
    is slower there), bf16 on CUDA where supported, else fp16."""
    spec = spec.strip().lower()
    if spec == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if spec not in PRECISIONS:
        raise ConfigError(f"--precision must be auto, fp32, fp16 or bf16, got {spec!r}")
    if spec == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("--precision bf16: this GPU does not support bfloat16 (use fp16)")
    return PRECISIONS[spec]


def fall_back_if_unusable(
    model: Callable[[torch.Tensor], object], device: torch.device, dtype: torch.dtype
) -> tuple[torch.device, str | None]:
    """Run the model once on a tiny input on `device`; on MPS, an op the backend lacks (FFT)
    means falling back to the CPU. Returns the device to use and a message when it changed."""
    if device.type != "mps":
        return device, None
    try:
        with torch.no_grad(), torch.autocast("mps", dtype=dtype, enabled=dtype != torch.float32):
            model(torch.rand(1, 3, 32, 32, device=device))
    except (RuntimeError, NotImplementedError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return torch.device("cpu"), f"Apple MPS cannot run this model ({reason}); using the CPU instead"
    return device, None


def is_out_of_memory(exc: BaseException) -> bool:
    """Out of device memory (torch.cuda.OutOfMemoryError is torch.OutOfMemoryError)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError)


def release_cached_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def free_memory_bytes(device: torch.device) -> int | None:
    """Free device memory, None where it cannot be asked (CPU, MPS)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def round_down(value: int, multiple: int) -> int:
    return max(multiple, (value // multiple) * multiple)


def auto_tile_size(device: torch.device, dtype: torch.dtype, multiple: int = 16) -> int:
    """The tile side for `--tile auto`: fixed on CPU/MPS, from free memory on CUDA."""
    free = free_memory_bytes(device)
    if free is None:
        return round_down(CPU_AUTO_TILE, multiple)
    side = int((free * FREE_MEMORY_SHARE / BYTES_PER_PIXEL.get(dtype, BYTES_PER_PIXEL[torch.float32])) ** 0.5)
    return round_down(min(max(side, MIN_TILE), MAX_AUTO_TILE), multiple)
