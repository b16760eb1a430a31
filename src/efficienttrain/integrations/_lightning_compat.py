"""Every use of Lightning's internals (and the one in-place tensor swap), in one place, behind a version check.

:class:`~efficienttrain.integrations.lightning.EfficientTrainCallback` needs three things Lightning
has no public call for:

* whether the Trainer will replace the batch sampler with a ``DistributedSampler``
  (``Trainer._accelerator_connector.use_distributed_sampler``), to fail early with a fix;
* re-creating the training data iterator after the sampler moved on resume
  (``Trainer.fit_loop._data_fetcher``, which Lightning itself re-iterates at every epoch start),
  and giving it the epoch's full length;
* replacing the images of a tuple batch in place (``Tensor.set_``): ``training_step`` receives
  the very container the callback sees, and a tuple cannot take a new element.

These were checked with Lightning 2.2 to 2.6; outside the 2.x line they raise a
:class:`RuntimeError` that says so.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

__all__ = ["TESTED", "check_version", "uses_distributed_sampler", "restart_train_iterator", "replace_tensor_in_place"]

TESTED = "2.2 to 2.6"


def check_version(version: str) -> None:
    """Refuse a Lightning whose internals this module was not written for.

    Raises:
        RuntimeError: For a Lightning other than 2.x.
    """
    if not version.startswith("2."):
        raise RuntimeError(f"EfficientTrainCallback supports Lightning 2.x (tested with {TESTED}); found Lightning {version}")


def uses_distributed_sampler(trainer: Any) -> bool:
    """Whether the Trainer is distributed and will inject a ``DistributedSampler`` into the loaders."""
    connector = getattr(trainer, "_accelerator_connector", None)
    return bool(getattr(connector, "use_distributed_sampler", False) and getattr(connector, "is_distributed", trainer.world_size > 1))


def restart_train_iterator(trainer: Any, full_length: Optional[int], version: str) -> bool:
    """Re-create the fit loop's training iterator; returns ``False`` if this Lightning cannot.

    Args:
        trainer: The Trainer.
        full_length: When resuming mid-epoch, the number of batches of the whole epoch: the
            fetcher counts from Lightning's restored position while the sampler yields only the
            remaining batches, so without it the epoch would end early. ``None`` leaves it.
        version: Lightning's version (checked first).
    """
    check_version(version)
    fetcher = getattr(trainer.fit_loop, "_data_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "length"):
        return False
    iter(fetcher)
    if full_length is not None and fetcher.length is not None:
        fetcher.length = int(full_length)
    return True


def replace_tensor_in_place(old: torch.Tensor, new: torch.Tensor) -> None:
    """Make ``old`` hold ``new``'s data and shape (for containers that cannot take a new element)."""
    with torch.no_grad():
        old.set_(new)
