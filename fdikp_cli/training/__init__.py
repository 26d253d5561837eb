"""Training: configuration, losses, checkpoints, the loop, export of inference weights."""

from fdikp_cli.training.config import StageConfig, TrainConfig, preset, resolve
from fdikp_cli.training.train_result import TrainResult
from fdikp_cli.training.trainer import train

__all__ = ["StageConfig", "TrainConfig", "TrainResult", "preset", "resolve", "train"]
