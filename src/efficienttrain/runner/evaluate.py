"""Evaluation of a classifier on the validation split, at the final size, summed over all ranks."""

from __future__ import annotations

from typing import Iterable

import torch
import torch.distributed as dist
from torch import nn

from .distributed import Runtime

__all__ = ["evaluate_classifier"]


@torch.no_grad()
def evaluate_classifier(model: nn.Module, loader: Iterable, runtime: Runtime, num_classes: int, *, channels_last: bool = False) -> dict[str, float]:
    """Top-1, top-5 and cross-entropy of ``model`` on ``loader``.

    Each rank evaluates its shard of the split; the counts are summed over ranks, so every rank
    returns the figures of the whole split.

    Args:
        model: The model (put in eval mode for the pass, its mode restored after).
        loader: Batches of ``(images, targets)``.
        runtime: Device, AMP and ranks.
        num_classes: Classes (top-5 becomes top-k with ``k = min(5, num_classes)``).
        channels_last: Feed channels-last tensors.

    Returns:
        ``top1``, ``top5`` (percent) and ``loss`` (mean cross-entropy).
    """
    was_training = model.training
    model.eval()
    k = min(5, num_classes)
    totals = torch.zeros(4, dtype=torch.float64, device=runtime.device)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    for images, targets in loader:
        images = images.to(runtime.device, non_blocking=True)
        targets = targets.to(runtime.device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with runtime.autocast():
            logits = model(images)
        logits = logits.float()
        correct = logits.topk(k, dim=1).indices.eq(targets.unsqueeze(1))
        totals += torch.tensor(
            [correct[:, 0].sum().item(), correct.any(dim=1).sum().item(), loss_fn(logits, targets).item(), targets.numel()],
            dtype=torch.float64,
            device=runtime.device,
        )
    if runtime.world_size > 1:
        dist.all_reduce(totals)
    model.train(was_training)
    n = max(totals[3].item(), 1.0)
    return {"top1": 100.0 * totals[0].item() / n, "top5": 100.0 * totals[1].item() / n, "loss": totals[2].item() / n}

