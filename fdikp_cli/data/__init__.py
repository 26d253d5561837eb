"""Training data: folder layouts and pairing, augmentation, crop datasets, loaders."""

from fdikp_cli.data.datasets import (
    DATASET_KINDS,
    PairCropSource,
    SampleError,
    SourceSpec,
    SyntheticCropSource,
    TrainCrops,
    ValidationSet,
    build_sources,
    build_validation,
    parse_dataset_spec,
)
from fdikp_cli.data.loader import StepBatchSampler, build_train_loader, checked
from fdikp_cli.data.pairs import ImagePair, find_pairs, find_sharp_images

__all__ = [
    "DATASET_KINDS",
    "ImagePair",
    "PairCropSource",
    "SampleError",
    "SourceSpec",
    "StepBatchSampler",
    "SyntheticCropSource",
    "TrainCrops",
    "ValidationSet",
    "build_sources",
    "build_train_loader",
    "build_validation",
    "checked",
    "find_pairs",
    "find_sharp_images",
    "parse_dataset_spec",
]
