"""The recipe runner: configuration, the training loop, checkpoints and logs."""

from .checkpoint import export_safetensors, load_checkpoint, load_weights, save_checkpoint
from .config import PRESETS, TrainConfig, load_config, make_config
from .loop import RunResult, Trainer, train, weights_checksum

__all__ = [
    "TrainConfig",
    "PRESETS",
    "load_config",
    "make_config",
    "Trainer",
    "RunResult",
    "train",
    "weights_checksum",
    "save_checkpoint",
    "load_checkpoint",
    "load_weights",
    "export_safetensors",
]
