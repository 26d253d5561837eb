"""One process or many (torchrun): rank, world size, device, and the process group.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them training runs in one process.
The backend is NCCL on CUDA devices and gloo on CPU. Rank 0 alone logs, validates and writes
checkpoints; the others wait at a barrier so that every rank sees the same files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from fdikp_cli.errors import ConfigError, DeviceError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """auto -> cuda:LOCAL_RANK when CUDA is available, else cpu. ConfigError (exit 2) for a
    name no machine has, DeviceError (exit 1) for a device this one lacks."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:  # torch's message lists every backend it knows: name ours
        raise ConfigError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: CUDA is not available on this machine")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def init_distributed(device_name: str) -> DistInfo:
    """Join the torchrun process group when launched by torchrun; else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if world_size > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world_size, local_rank, device)


def wrap_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    """The model as the training step calls it: under DistributedDataParallel (gradients
    all-reduced in backward) when there are several processes, else the model itself."""
    if not info.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        import torch.distributed as dist

        if info.device.type == "cuda":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


def broadcast_flag(info: DistInfo, flag: bool) -> bool:
    """Rank 0's boolean, on every rank (e.g. 'stop now')."""
    if not info.distributed:
        return flag
    import torch.distributed as dist

    tensor = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.broadcast(tensor, src=0)
    return bool(tensor.item() > 0.5)


def shutdown(info: DistInfo) -> None:
    if info.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
