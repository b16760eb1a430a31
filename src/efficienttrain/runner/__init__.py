"""The recipe runner: configuration, the training loop, objectives, and what they write.

Modules: :mod:`.config` (settings and presets), :mod:`.loop` (the :class:`Trainer`),
:mod:`.objectives` (what is optimised), :mod:`.optim`, :mod:`.evaluate`, :mod:`.distributed`
(device, ranks, signals), :mod:`.state` (loop state), :mod:`.rng`, :mod:`.progress` and :mod:`.logger`.
Run directories are read and written through :mod:`efficienttrain.rundir`.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

# Imported on first use: `train --help` reads the config without the training loop's imports (timm).
_WHERE: dict[str, str] = {
    **dict.fromkeys(("PRESETS", "TrainConfig", "load_config", "make_config"), ".config"),
    **dict.fromkeys(("Trainer", "train"), ".loop"),
    "RunResult": ".records",
    "weights_checksum": ".state",
}
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)

if TYPE_CHECKING:  # pragma: no cover
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
