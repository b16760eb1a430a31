"""The drop-in API: what an existing training loop calls, in a few lines.

::

    import efficienttrain as et

    curriculum = et.efficienttrain(epochs=100, final_size=224)
    train_set = et.CurriculumDataset(ImageFolder(root, transform=et.build_train_transform(224)))
    sampler = et.CurriculumBatchSampler(train_set, curriculum, batch_size=128)
    loader = DataLoader(train_set, batch_sampler=sampler, num_workers=8, persistent_workers=True)
    for epoch in range(curriculum.num_epochs):
        et.set_epoch(loader, epoch)
        for step, (images, targets) in enumerate(loader):
            images = et.crop_batch(images.cuda(), sampler.settings(epoch, step))
            ...  # forward, loss, backward, step as before

The RandAugment magnitude travels with the sampler's indices to the workers (persistent or not),
and every DDP rank computes the same settings. The recipe runner uses exactly these pieces.
"""

from __future__ import annotations

from typing import Any, Union

import torch

from .curricula import Settings
from .data.sampler import CurriculumBatchSampler
from .data.shrink import ShrinkPlan, shrink_batch

__all__ = ["crop_batch", "set_epoch", "find_curriculum_sampler"]


def crop_batch(images: torch.Tensor, settings: Union[Settings, int], op: str = "lowfreq") -> torch.Tensor:
    """Shrink a batch to the curriculum's current size (a no-op at the final size).

    Call it after moving the batch to the device and before Mixup/CutMix. The crop runs in
    float32 even under autocast, and returns the input dtype.

    Args:
        images: Batch ``(N, C, H, W)``, normalised or not (the crop is linear and keeps the mean).
        settings: The batch's :class:`~efficienttrain.curricula.Settings`, or a size.
        op: ``lowfreq`` (the paper) or a down-sampling mode for ablations.

    Returns:
        The batch at ``settings.size``.
    """
    return shrink_batch(ShrinkPlan(op=op), images, settings)


def find_curriculum_sampler(loader: Any) -> CurriculumBatchSampler:
    """Return the :class:`CurriculumBatchSampler` of a DataLoader (or the sampler itself).

    Args:
        loader: A DataLoader built with ``batch_sampler=CurriculumBatchSampler(...)``, or the sampler.

    Returns:
        The sampler.

    Raises:
        TypeError: If none is found.
    """
    if isinstance(loader, CurriculumBatchSampler):
        return loader
    for attr in ("batch_sampler", "sampler"):
        candidate = getattr(loader, attr, None)
        if isinstance(candidate, CurriculumBatchSampler):
            return candidate
    raise TypeError("no CurriculumBatchSampler found; build the DataLoader with batch_sampler=CurriculumBatchSampler(...)")


def set_epoch(loader: Any, epoch: int, start_step: int = 0) -> CurriculumBatchSampler:
    """Tell the loader's curriculum sampler which epoch comes next (call before iterating).

    Args:
        loader: DataLoader (or sampler) using a :class:`CurriculumBatchSampler`.
        epoch: Epoch, from 0.
        start_step: First batch, to resume mid-epoch.

    Returns:
        The sampler, whose :meth:`~CurriculumBatchSampler.settings` gives each batch's settings.
    """
    sampler = find_curriculum_sampler(loader)
    sampler.set_epoch(epoch, start_step)
    return sampler
