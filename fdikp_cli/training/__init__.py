"""Training: configuration, losses, checkpoints, the loop, export of inference weights."""

from fdikp_cli.training.config import StageConfig, TrainConfig, preset, resolve
from fdikp_cli.training.trainer import TrainResult, train

__all__ = ["StageConfig", "TrainConfig", "TrainResult", "preset", "resolve", "train"]
