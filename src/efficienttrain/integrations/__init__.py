"""Integrations with training frameworks, each behind an optional dependency.

Nothing here is imported eagerly, so ``import efficienttrain`` never needs a framework that is
not installed. Import what you use from its module, or from this package (resolved on first
access)::

    from efficienttrain.integrations.lightning import EfficientTrainCallback   # pip install 'efficienttrain[lightning]'
    from efficienttrain.integrations import EfficientTrainCallback              # the same class
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["EfficientTrainCallback"]

# Public name -> submodule that defines it (and pulls in its framework).
_LAZY = {"EfficientTrainCallback": "lightning"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
