"""The recipe runner: configuration, the training loop, objectives, and what they write.

Modules: :mod:`.config` (settings and presets), :mod:`.loop` (the :class:`Trainer`),
:mod:`.objectives` (what is optimised), :mod:`.optim`, :mod:`.evaluate`, :mod:`.distributed`
(device, ranks, signals), :mod:`.state` (loop state), :mod:`.rng`, :mod:`.progress` and :mod:`.logger`.
Run directories are read and written through :mod:`efficienttrain.rundir`.
"""

from .config import PRESETS, TrainConfig, load_config, make_config
from .loop import Trainer, train
from .records import RunResult
from .state import weights_checksum

__all__ = [
    "TrainConfig",
    "PRESETS",
    "load_config",
    "make_config",
    "Trainer",
    "RunResult",
    "train",
    "weights_checksum",
]
