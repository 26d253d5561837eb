"""Where and in which precision the model runs; tile sizes from free memory; out-of-memory.

    device = resolve_device("auto")                 # cuda (LOCAL_RANK under torchrun) > cpu
    dtype = resolve_precision("auto", device)       # cpu: bf16 if native, else fp32; cuda: bf16, else fp16
    tile = auto_tile_size(device, dtype, multiple=16, image_size=(h, w))   # >= max(h, w): whole image
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Callable

import torch

from fdikp_cli.errors import ConfigError, DeviceError
from fdikp_cli.inference.host_memory import available_ram_bytes

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
PRECISION_NAMES = {dtype: name for name, dtype in PRECISIONS.items()}
# /proc/cpuinfo flags of x86 CPUs with bf16 arithmetic in hardware (dot products / tile
# multiplies of bf16 pairs accumulated in fp32): AVX-512 BF16 (Cooper Lake, Sapphire Rapids,
# AMD Zen 4+) and AMX-BF16 (Sapphire Rapids+).
NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

# On CPU, `--tile auto` is sized from the RAM available now (host_memory.py) like CUDA's from
# free GPU memory: the whole image when it fits (a 1200 x 800 photo took 13.2 s whole and
# 20.7 s as two fixed 1024 px tiles), else the largest square tile that fits. Host memory of the
# model is about 2 GB per megapixel in fp32 (benchmarks/bench_deblur.py); under bf16 autocast
# about half that (one 512 x 512 forward, peak RSS above the loaded model: fp32 ~2000 B/pixel,
# bf16 ~1000 B/pixel; bench_deblur --part precision). Where the available RAM cannot be read,
# a fixed 1024 px tile: a 1024 x 683 photo (the DPDD size) still runs whole, peaks near 2 GB.
CPU_AUTO_TILE = 1024
# Device bytes per pixel of one forward pass, to size tiles from free memory (GPU or host).
# Measured on CPU: fp32 ~2.0 KB/pixel, bf16 autocast ~1.0 KB/pixel (activations halve, the
# FFTs stay fp32); the entries keep a margin above that. Not yet measured on a GPU: the
# out-of-memory retry (halving the tile) covers an estimate too high.
BYTES_PER_PIXEL = {torch.float32: 2400, torch.float16: 1600, torch.bfloat16: 1600}
# Use this share of the free GPU memory (the allocator fragments; other processes may grow).
FREE_MEMORY_SHARE = 0.7
# ... and this share of the available RAM: running out of host memory is not an error to
# retry after but the kernel ending the process, and other programs' memory grows too.
CPU_RAM_SHARE = 0.5
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
    """auto|cpu|cuda|cuda:N|mps -> a device that exists: ConfigError (exit 2) for a spec no
    machine has, DeviceError (exit 1) for one this machine lacks.

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
            raise DeviceError(f"--device {spec}: CUDA is not available (torch {torch.__version__})")
        try:
            device = torch.device(spec) if ":" in spec else torch.device("cuda", local_rank)
        except RuntimeError as exc:
            raise ConfigError(f"--device {spec}: {exc}") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
        return device
    if spec == "mps":
        if not _mps_available():
            raise DeviceError("--device mps: Apple MPS is not available")
        return torch.device("mps")
    raise ConfigError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {spec!r}")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when this CPU computes bfloat16 in hardware and PyTorch's oneDNN uses it.

    `cpuinfo`: the text of /proc/cpuinfo, read from the system (once) when None; given, the
    answer depends only on it and on the torch build. True needs both:
    - one of NATIVE_BF16_CPU_FLAGS (avx512_bf16, amx_bf16) among the CPU's flags. Plain
      AVX-512 only converts bf16 to fp32 and back, which makes bf16 convolutions slower than
      fp32, so oneDNN's own "bf16 supported" (true from AVX-512 BW/VL/DQ on) is not enough;
    - a torch build with oneDNN (mkldnn) whose bf16 kernels are available.
    False elsewhere: no /proc/cpuinfo (macOS, Windows), ARM (bf16 there is not measured
    here), older x86, builds without oneDNN. Then `--precision auto` stays float32.
    """
    if cpuinfo is None:
        return _system_cpu_has_native_bf16()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "flags":
            flags.update(value.split())
    if not flags & NATIVE_BF16_CPU_FLAGS:
        return False
    return _onednn_bf16_available()


def _onednn_bf16_available() -> bool:
    mkldnn = getattr(torch.backends, "mkldnn", None)
    if mkldnn is None or not mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@functools.lru_cache(maxsize=1)
def _system_cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return False
    return cpu_has_native_bf16(text)


def resolve_precision(spec: str, device: torch.device) -> torch.dtype:
    """auto|fp32|fp16|bf16 -> a dtype for autocast (float32: no autocast, the exact fp32 path).

    auto: on CPU bf16 where the CPU runs it natively (`cpu_has_native_bf16`), else fp32; fp32
    on MPS (half precision is slower there); on CUDA bf16 where supported, else fp16. The
    model keeps its FFTs in float32 under autocast, and outputs come back as float32.
    """
    spec = spec.strip().lower()
    if spec == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return torch.float32
    if spec not in PRECISIONS:
        raise ConfigError(f"--precision must be auto, fp32, fp16 or bf16, got {spec!r}")
    if spec == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError("--precision bf16: this GPU does not support bfloat16 (use fp16)")
    return PRECISIONS[spec]


def precision_name(dtype: torch.dtype) -> str:
    """torch.bfloat16 -> "bf16" (the --precision spelling)."""
    return PRECISION_NAMES.get(dtype, str(dtype).removeprefix("torch."))


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


def use_fast_memory_format(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Store the model's 4-D weights channels-last where that pays: bf16 on CPU.

    oneDNN's bf16 convolutions run on NHWC natively; with NCHW weights every convolution
    reorders its operands. Measured on this project's CPU (1024x683, 2 threads, bf16,
    `benchmarks.bench_deblur --part speed`): 5.3 -> 3.45 s/MP, outputs 76 dB apart (bf16 rounding order). fp32 keeps the default
    layout, so `--precision fp32` stays the exact path.
    """
    if device.type == "cpu" and dtype == torch.bfloat16:
        model.to(memory_format=torch.channels_last)
    return model


def is_out_of_memory(exc: BaseException) -> bool:
    """Out of device memory (torch.cuda.OutOfMemoryError is torch.OutOfMemoryError)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError)


def release_cached_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def free_memory_bytes(device: torch.device) -> int | None:
    """Free device memory: GPU memory on CUDA, available RAM on CPU; None where it cannot be
    asked (MPS, or a system that does not say)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        return available_ram_bytes()
    return None


def round_down(value: int, multiple: int) -> int:
    return max(multiple, (value // multiple) * multiple)


def round_up(value: int, multiple: int) -> int:
    return max(multiple, -(-value // multiple) * multiple)


def tile_for_memory(
    free: int, dtype: torch.dtype, multiple: int = 16, image_size: tuple[int, int] | None = None, share: float = 0.7
) -> int:
    """The tile side that `share` of `free` bytes holds: at least max(h, w) (the whole image in
    one pass) when image_size (h, w) fits, else the largest square, MIN_TILE..MAX_AUTO_TILE."""
    pixels = free * share / BYTES_PER_PIXEL.get(dtype, BYTES_PER_PIXEL[torch.float32])
    if image_size is not None and image_size[0] * image_size[1] <= pixels:
        return round_up(max(image_size), multiple)  # rounded up: restore() rounds tiles down
    side = int(pixels**0.5)
    return round_down(min(max(side, MIN_TILE), MAX_AUTO_TILE), multiple)


def auto_tile_size(
    device: torch.device, dtype: torch.dtype, multiple: int = 16, image_size: tuple[int, int] | None = None
) -> int:
    """The tile side for `--tile auto`, from free memory (GPU memory on CUDA, RAM on CPU; see
    tile_for_memory); CPU_AUTO_TILE where the free memory cannot be asked (MPS)."""
    free = free_memory_bytes(device)
    if free is None:
        return round_down(CPU_AUTO_TILE, multiple)
    share = CPU_RAM_SHARE if device.type == "cpu" else FREE_MEMORY_SHARE
    return tile_for_memory(free, dtype, multiple, image_size, share)
