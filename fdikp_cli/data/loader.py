"""DataLoader over step-indexed training crops, for one process or one rank of many.

StepBatchSampler is the distributed sampler: optimizer step s of a stage uses the global sample
indices [s * B * world, (s + 1) * B * world), and rank r takes its slice of B. The data a run
sees is thus a function of (seed, stage, step) alone, and resuming at step s only needs s.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence, TypeVar

import torch
from torch.utils.data import DataLoader, Sampler

from fdikp_cli.data.datasets import SampleError, TrainCrops
from fdikp_cli.errors import DatasetError

Batch = tuple[torch.Tensor, torch.Tensor]  # (B, 3, crop, crop) blurred, sharp
T = TypeVar("T")


class StepBatchSampler(Sampler[list[int]]):
    """Batches of sample indices for steps start_step .. end_step - 1 of one rank."""

    def __init__(self, batch_size: int, start_step: int, end_step: int, rank: int = 0, world_size: int = 1) -> None:
        self.batch_size = batch_size
        self.start_step = start_step
        self.end_step = end_step
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.end_step):
            first = (step * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))


def collate_crops(samples: Sequence[tuple[torch.Tensor, torch.Tensor] | SampleError]) -> Batch | SampleError:
    """Stack crops; a failed sample travels to the main process as a SampleError."""
    for sample in samples:
        if isinstance(sample, SampleError):
            return sample
    blurred = torch.stack([s[0] for s in samples])  # type: ignore[index]
    sharp = torch.stack([s[1] for s in samples])  # type: ignore[index]
    return blurred, sharp


def _init_worker(_: int) -> None:
    # Each worker decodes and augments on its own core: no thread oversubscription.
    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(0)
    except ImportError:  # pragma: no cover - opencv is a dependency
        pass


def build_train_loader(dataset: TrainCrops, batch_size: int, start_step: int, end_step: int, workers: int,
                       rank: int = 0, world_size: int = 1, pin_memory: bool = False) -> DataLoader:
    sampler = StepBatchSampler(batch_size, start_step, end_step, rank, world_size)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate_crops,
        worker_init_fn=_init_worker if workers > 0 else None,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers > 0 else None,
        persistent_workers=False,
    )


def checked(batch: Batch | SampleError) -> Batch:
    """Raise DatasetError (naming the image) for a failed sample; pass a good batch through."""
    if isinstance(batch, SampleError):
        raise DatasetError(f"training data: {batch.message}")
    return batch


def grouped(batches: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive groups of `size` items (the micro-batches of one optimizer step); a short
    last group is dropped, since the sampler always yields whole steps."""
    group: list[T] = []
    for batch in batches:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []
