"""The validation images the analyses feed to every checkpoint.

The data come from :func:`efficienttrain.data.build_datasets` with the runner's evaluation
transform (:func:`efficienttrain.data.build_eval_transform`: resize, centre crop, normalise),
so a checkpoint is analysed on exactly the images its run was validated on. ``limit`` keeps an
evenly spaced subset, which spans every class even when the split is sorted by class.

Small sets are decoded once and kept in memory as one tensor, so evaluating many checkpoints
does not decode the images again for each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

import numpy as np
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch.utils.data import DataLoader, Dataset, Subset

from ..errors import UserError

__all__ = ["EvalSet", "build_eval_set", "evenly_spaced"]

# Above this many bytes of float32 pixels, the set is streamed through a DataLoader instead.
_CACHE_BYTES = 2 << 30


def evenly_spaced(n: int, limit: Optional[int]) -> list[int]:
    """Indices of ``limit`` samples spread evenly over ``range(n)`` (all of them if ``limit`` is None).

    Args:
        n: Dataset length.
        limit: How many to keep.

    Returns:
        Sorted, distinct indices.
    """
    if limit is None or limit >= n:
        return list(range(n))
    return sorted({round(i) for i in np.linspace(0, n - 1, limit)})


@dataclass
class EvalSet:
    """Normalised validation images with their labels.

    Attributes:
        dataset: Dataset of ``(normalised image tensor, label)``.
        num_classes: Classes of the data source.
        classes: Class names.
        size: Image size after the centre crop.
        mean: Per-channel normalisation mean.
        std: Per-channel normalisation std.
        source: The ``--data`` value.
        workers: Data-loader workers for streaming.
    """

    dataset: Dataset
    num_classes: int
    classes: list[str]
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    workers: int = 0
    _cache: Optional[tuple[torch.Tensor, torch.Tensor]] = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def cache(self, max_bytes: int = _CACHE_BYTES) -> bool:
        """Decode the whole set into memory once if it fits in ``max_bytes``.

        Args:
            max_bytes: Largest float32 tensor to keep.

        Returns:
            Whether the set is now cached.
        """
        if self._cache is not None:
            return True
        if len(self) * 3 * self.size * self.size * 4 > max_bytes:
            return False
        images, targets = [], []
        for x, y in self._loader(256):
            images.append(x)
            targets.append(y)
        self._cache = (torch.cat(images), torch.cat(targets))
        return True

    def _loader(self, batch_size: int) -> DataLoader:
        return DataLoader(self.dataset, batch_size=batch_size, shuffle=False, num_workers=self.workers)

    def batches(self, batch_size: int = 128) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(images, labels)`` batches in a fixed order.

        Args:
            batch_size: Images per batch.

        Yields:
            Normalised ``(B, 3, size, size)`` float images and ``(B,)`` int64 labels, on the CPU.
        """
        if self._cache is not None:
            images, targets = self._cache
            for i in range(0, len(targets), batch_size):
                yield images[i : i + batch_size], targets[i : i + batch_size]
            return
        for x, y in self._loader(batch_size):
            yield x, torch.as_tensor(y)

    def num_batches(self, batch_size: int) -> int:
        """Number of batches :meth:`batches` yields."""
        return -(-len(self) // batch_size)

    def stats(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std as ``(3, 1, 1)`` tensors, to undo or redo the normalisation."""
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(-1, 1, 1)
        return mean, std

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of the set, for result files."""
        return {"data": self.source, "images": len(self), "size": self.size, "mean": list(self.mean), "std": list(self.std)}


def build_eval_set(
    source: str,
    *,
    size: int,
    limit: Optional[int] = None,
    crop_pct: float = 0.875,
    data_root: Optional[str] = None,
    download: bool = False,
    val_split: str = "val",
    demo_val_per_class: int = 50,
    demo_image_size: int = 64,
    seed: int = 0,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    workers: int = 0,
) -> EvalSet:
    """Build the validation set of a data source with the runner's evaluation transform.

    Args:
        source: ``demo``, ``cifar10``, ``cifar100`` or an ImageFolder directory.
        size: Evaluation size (the centre crop).
        limit: Keep this many images, evenly spaced over the split (``None``: all).
        crop_pct: Centre-crop fraction of the evaluation transform.
        data_root: Where torchvision datasets are stored.
        download: Let torchvision download CIFAR when missing.
        val_split: Validation directory of an ImageFolder.
        demo_val_per_class: Demo validation images per class.
        demo_image_size: Demo image size.
        seed: Demo dataset seed (the runner uses the training seed).
        mean: Normalisation mean (default: the dataset's, as the runner uses).
        std: Normalisation std.
        workers: Data-loader workers.

    Returns:
        The :class:`EvalSet`.

    Raises:
        UserError: On a bad source, size or limit.
    """
    from ..data import build_datasets, build_eval_transform
    from ..data.datasets import dataset_stats

    if size < 8:
        raise UserError(f"--size must be at least 8 pixels, got {size}")
    if limit is not None and limit <= 0:
        raise UserError(f"--limit must be a positive number of images, got {limit}")
    if not 0 < crop_pct <= 1:
        raise UserError(f"--crop-pct must be in (0, 1], got {crop_pct}")
    stats = dataset_stats(source)
    mean = tuple(mean) if mean is not None else tuple(stats[0] if stats else IMAGENET_DEFAULT_MEAN)
    std = tuple(std) if std is not None else tuple(stats[1] if stats else IMAGENET_DEFAULT_STD)
    eval_tf = build_eval_transform(size, crop_pct=crop_pct, mean=mean, std=std)
    # The analyses never read the training split: keep the demo one to a single image per class.
    pair = build_datasets(
        source,
        train_transform=eval_tf,
        eval_transform=eval_tf,
        data_root=data_root,
        download=download,
        demo_per_class=1,
        demo_val_per_class=demo_val_per_class,
        demo_image_size=demo_image_size,
        seed=seed,
        val_split=val_split,
    )
    val: Dataset = pair.val
    n = len(val)  # type: ignore[arg-type]
    if n == 0:
        raise UserError(f"the validation split of {source} is empty")
    if limit is not None and limit < n:
        val = Subset(val, evenly_spaced(n, limit))
    return EvalSet(val, pair.num_classes, list(pair.classes), int(size), mean, std, str(source), workers)
