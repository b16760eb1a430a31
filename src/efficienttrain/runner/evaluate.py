"""Evaluation at the final size: a classifier's accuracy, and the k-NN monitor of self-supervised features."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from .distributed import Runtime

__all__ = ["EvaluationStopped", "evaluate_classifier", "knn_accuracy", "until_stopped"]

T = TypeVar("T")


class EvaluationStopped(Exception):
    """A stop was requested while evaluating: the partial figures are dropped, the evaluation redone on resume."""


def until_stopped(batches: Iterable[T], should_stop: Optional[Callable[[], bool]]) -> Iterator[T]:
    """Yield ``batches``, raising :class:`EvaluationStopped` before a batch once ``should_stop()`` is true.

    A stop signal is then honoured within one evaluation batch, not after the whole split (minutes
    on a large one, longer than the grace a scheduler gives between SIGTERM and SIGKILL).
    """
    for batch in batches:
        if should_stop is not None and should_stop():
            raise EvaluationStopped
        yield batch


@torch.no_grad()
def evaluate_classifier(
    model: nn.Module, loader: Iterable, runtime: Runtime, num_classes: int, *, channels_last: bool = False, should_stop: Optional[Callable[[], bool]] = None
) -> dict[str, float]:
    """Top-1, top-5 and cross-entropy of ``model`` on ``loader``.

    Each rank evaluates its shard of the split; the counts are summed over ranks, so every rank
    returns the figures of the whole split.

    Args:
        model: The model (put in eval mode for the pass, its mode restored after).
        loader: Batches of ``(images, targets)``.
        runtime: Device, AMP and ranks.
        num_classes: Classes (top-5 becomes top-k with ``k = min(5, num_classes)``).
        channels_last: Feed channels-last tensors.
        should_stop: Checked before each batch (see :func:`until_stopped`).

    Returns:
        ``top1``, ``top5`` (percent) and ``loss`` (mean cross-entropy).

    Raises:
        EvaluationStopped: If ``should_stop()`` turned true.
    """
    was_training = model.training
    model.eval()
    try:
        totals = _classifier_totals(model, until_stopped(loader, should_stop), runtime, min(5, num_classes), channels_last)
    finally:
        model.train(was_training)
    n = max(totals[3].item(), 1.0)
    return {"top1": 100.0 * totals[0].item() / n, "top5": 100.0 * totals[1].item() / n, "loss": totals[2].item() / n}


def _classifier_totals(model: nn.Module, loader: Iterable, runtime: Runtime, k: int, channels_last: bool) -> torch.Tensor:
    """Top-1 hits, top-k hits, summed loss and image count over ``loader``, summed over ranks."""
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
    return totals


@torch.no_grad()
def knn_accuracy(
    features: Callable[[torch.Tensor], torch.Tensor],
    bank: Iterable,
    queries: Iterable,
    device: torch.device,
    num_classes: int,
    *,
    k: int = 20,
    temperature: float = 0.07,
    should_stop: Optional[Callable[[], bool]] = None,
) -> dict[str, float]:
    """Weighted k-nearest-neighbour accuracy of frozen features (the usual self-supervised monitor).

    Each query takes the ``k`` most cosine-similar bank images; each neighbour votes for its label
    with weight ``exp(similarity / temperature)`` (as in DINO's k-NN evaluation).

    Args:
        features: Maps a batch of images to one vector per image.
        bank: Batches ``(images, labels)`` of the reference set (training images, eval transform).
        queries: Batches ``(images, labels)`` to classify (the validation split).
        device: Where features are computed.
        num_classes: Number of classes.
        k: Neighbours.
        temperature: Softness of the votes.
        should_stop: Checked before each batch (see :func:`until_stopped`).

    Returns:
        ``top1`` and ``top5`` in percent (top-k with ``k = min(5, num_classes)``).

    Raises:
        EvaluationStopped: If ``should_stop()`` turned true.
    """
    def extract(loader: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
        feats, labels = [], []
        for images, targets in until_stopped(loader, should_stop):
            feats.append(nn.functional.normalize(features(images.to(device)).float(), dim=1))
            labels.append(targets.to(device))
        return torch.cat(feats), torch.cat(labels)

    bank_f, bank_y = extract(bank)
    q_f, q_y = extract(queries)
    # Under a bf16 autocast the similarities would come out in bf16 (too coarse to rank neighbours,
    # and scatter_add_ refuses to add them to float32 votes): score in float32.
    with torch.autocast(device.type, enabled=False):
        return _knn_votes(q_f, q_y, bank_f, bank_y, num_classes, k, temperature)


def _knn_votes(q_f: torch.Tensor, q_y: torch.Tensor, bank_f: torch.Tensor, bank_y: torch.Tensor, num_classes: int, k: int, temperature: float) -> dict[str, float]:
    """Top-1 and top-5 (percent) of the weighted vote of each query's ``k`` nearest bank features."""
    top = min(5, num_classes)
    hits = torch.zeros(2, dtype=torch.float64)
    for start in range(0, q_f.shape[0], 256):
        f, y = q_f[start : start + 256], q_y[start : start + 256]
        sims, idx = (f @ bank_f.T).topk(min(k, bank_f.shape[0]), dim=1)
        votes = torch.zeros(f.shape[0], num_classes, device=f.device).scatter_add_(1, bank_y[idx], (sims / temperature).exp())
        ranked = votes.topk(top, dim=1).indices
        hits[0] += ranked[:, 0].eq(y).sum().item()
        hits[1] += ranked.eq(y.unsqueeze(1)).any(dim=1).sum().item()
    n = max(q_f.shape[0], 1)
    return {"top1": 100.0 * hits[0].item() / n, "top5": 100.0 * hits[1].item() / n}
