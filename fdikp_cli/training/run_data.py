"""The data of a run: training sources per stage, the epoch they make, the stage plans that
follow from the epoch, the validation set, and the batches of any span of steps.

The plans are made here because stage lengths are counted in epochs of the first stage's
sources (fdikp_cli.training.config.stage_steps): data and schedule come out together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fdikp_cli.training.config import TrainConfig, stage_steps
from fdikp_cli.training.distributed import DistInfo
from fdikp_cli.training.schedule import StagePlan, build_stage_plans

if TYPE_CHECKING:
    from fdikp_cli.data.datasets import CropSource, SourceSpec, ValidationSet

Batch = tuple[torch.Tensor, torch.Tensor]  # (blurred, sharp), each (B, 3, crop, crop)


@dataclass
class RunData:
    specs: list[SourceSpec]  # the --dataset components, with their mixing weights
    stage_sources: list[list[CropSource]]  # one list per stage: each stage has its own crop size
    epoch_size: int  # images in the first stage's sources
    plans: list[StagePlan]
    val_set: ValidationSet | None

    @property
    def total_steps(self) -> int:
        return self.plans[-1].end_step

    def step_batches(self, plan: StagePlan, start: int, end: int, seed: int, workers: int,
                     dist: DistInfo) -> Iterator[list[Batch]]:
        """This rank's micro-batches of each optimizer step in [start, end) of `plan`'s stage, a
        failed sample raised as DatasetError. They depend on (seed, stage, step) only, so a
        resumed run gets the batches an uninterrupted one would have had."""
        from fdikp_cli.data import TrainCrops, build_train_loader, checked
        from fdikp_cli.data.loader import grouped

        dataset = TrainCrops(self.stage_sources[plan.index], [s.weight for s in self.specs], plan.config.crop,
                             seed, plan.index)
        micro = plan.config.accumulate  # micro-batches per optimizer step
        loader = build_train_loader(dataset, plan.config.batch_size, (start - plan.first_step) * micro,
                                    (end - plan.first_step) * micro, workers, dist.rank, dist.world_size,
                                    pin_memory=dist.device.type == "cuda")
        return ([checked(batch) for batch in batches] for batches in grouped(loader, micro))


def build_run_data(config: TrainConfig, world_size: int) -> RunData:
    """Index the sources (headers only, nothing decoded). A synthetic component pins its
    simulator's settings into `config.synth`, so config.toml makes resumes use the same one."""
    from fdikp_cli.data import build_sources, build_validation, parse_dataset_spec
    from fdikp_cli.data.datasets import SHARP_PHOTO_KINDS

    data = config.data
    specs = parse_dataset_spec(data.dataset)
    root = Path(data.data_root).expanduser() if data.data_root else None
    sharp = Path(data.sharp_dir).expanduser() if data.sharp_dir else None
    cache = data.cache_mb * (1 << 20)
    synth_config = None
    if any(spec.kind == "synthetic" for spec in specs):
        from fdikp_cli.synth import SynthConfig

        synth_config = SynthConfig.from_dict(config.synth)
        config.synth = synth_config.to_dict()  # pinned in config.toml: resumes use the same simulator
    stage_sources = [build_sources(specs, root, sharp, st.crop, cache, synth_config,
                                   sharp_scale=data.sharp_scale, pair_align=data.pair_align,
                                   pair_tone=data.pair_tone, pair_scale=data.pair_scale,
                                   pair_align_crops=data.pair_align_crops)
                     for st in config.stages]
    epoch_size = sum(len(s) for s in stage_sources[0])
    plans = build_stage_plans(config.stages, stage_steps(config, epoch_size, world_size), epoch_size, world_size)
    real_kind = next((s.kind for s in specs if s.kind not in SHARP_PHOTO_KINDS), "pairs")
    val_root = Path(data.val_root).expanduser() if data.val_root else None
    val_set = build_validation(real_kind, val_root, root, data.val_crop, data.val_max_images)
    return RunData(specs, stage_sources, epoch_size, plans, val_set)
