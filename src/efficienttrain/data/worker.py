"""The worker path: how one batch of sample keys becomes training samples inside a loader worker.

Workers may be persistent and live in other processes, so they cannot read a setting from the
training loop. The batch sampler (:mod:`efficienttrain.data.sampler`, the batch path) therefore
hands every sample a :class:`SampleKey`: its index, its batch's settings and its own seed. Here,
top to bottom, a worker turns a batch of keys into samples:

1. :meth:`CurriculumDataset.__getitems__` receives the batch's keys (one worker loads one batch).
2. For each freshly loaded key, the run's :class:`~efficienttrain.data.transforms.StageTransforms`
   makes the training transform of the key's settings (RandAugment magnitude, and the stage size
   when the plan shrinks before augmentation), and the sample is loaded under the key's seed.
3. When the run's :class:`~efficienttrain.data.shrink.ShrinkPlan` shrinks in the workers after
   augmentation, the sample is shrunk to the key's size with the plan's operator.
4. Replay (EfficientTrain++) is a step on the whole batch: each replayed key becomes a fresh crop
   and flip of the sample loaded for its index (:func:`replay_view`).

The plan alone decides where images shrink; nothing here looks inside a transform. Every value
in a key is a pure function of ``(seed, epoch, batch position)``, so all DDP ranks see identical
settings, and a sample's augmentation depends neither on the number of workers, nor on worker
persistence, nor on whether the run was resumed.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from ..frequency import resize_to
from .shrink import ShrinkPlan
from .transforms import StageTransforms

__all__ = ["SampleKey", "CurriculumDataset", "sample_seed", "replay", "replay_view"]

_MASK63 = (1 << 63) - 1


class SampleKey(NamedTuple):
    """What a worker needs to load one sample under the curriculum.

    Attributes:
        index: Dataset index.
        magnitude: RandAugment magnitude of the sample's batch.
        size: The batch's size ``B`` (where it is applied is the plan's decision).
        seed: Seed of the sample's augmentation.
        view: 0 for a freshly loaded sample; ``v > 0`` for the ``v``-th replayed view of the
            sample loaded for the same index in the batch (``--replay``).
    """

    index: int
    magnitude: float
    size: Optional[int]
    seed: int
    view: int = 0


def sample_seed(seed: int, epoch: int, index: int, view: int = 0) -> int:
    """Deterministic 63-bit seed for one sample's augmentation in one epoch.

    Args:
        seed: Run seed.
        epoch: Epoch, from 0.
        index: Dataset index of the sample.
        view: Replayed view (0: the loaded sample itself).

    Returns:
        A non-negative integer seed.
    """
    # SplitMix64-style mixing: neighbouring (epoch, index, view) get unrelated seeds.
    z = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB + view * 0xD6E8FEB86659FD93) & ((1 << 64) - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (z ^ (z >> 31)) & _MASK63


class CurriculumDataset(Dataset):
    """Wrap a map-style dataset so that it loads :class:`SampleKey` batches under the curriculum.

    A plain integer index loads the sample unchanged, so the same object also serves evaluation.
    In the main process (``num_workers=0``) the global RNG states are restored after each sample,
    so the training loop's own randomness (dropout, Mixup) does not depend on the data.

    Args:
        dataset: Map-style dataset returning ``(image, target, ...)``; it applies its own transform,
            which ``transforms`` configures for each batch.
        plan: The run's :class:`~efficienttrain.data.shrink.ShrinkPlan` (default: shrink on the
            device with the low-frequency crop). The batch sampler takes it from here.
        transforms: The :class:`~efficienttrain.data.transforms.StageTransforms` of the dataset's
            transform. Default: built from ``transform``, else from ``dataset.transform``.
        transform: The dataset's training transform, when it is not ``dataset.transform`` (a
            ``Subset`` of a dataset, say).
        expect_randaugment: Warn once when the transform has no RandAugment (turn off for
            objectives that follow only the size schedule, such as MAE).
        crop_op: Deprecated: the operator without a plan (removed in 0.2.0); pass ``plan``.

    Raises:
        ValueError: If the plan shrinks before augmentation and the transform has no shrink step.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        plan: Optional[ShrinkPlan] = None,
        transforms: Optional[StageTransforms] = None,
        transform: Any = None,
        expect_randaugment: bool = True,
        crop_op: Optional[str] = None,
    ) -> None:
        if crop_op is not None:
            warnings.warn("CurriculumDataset(crop_op=...) is deprecated (removed in 0.2.0); pass plan=ShrinkPlan(op=...)", DeprecationWarning, stacklevel=2)
        if plan is None:
            plan = ShrinkPlan(op=crop_op or "lowfreq")
        elif crop_op is not None and crop_op != plan.op:
            raise ValueError(f"crop_op {crop_op!r} differs from the plan's operator {plan.op!r}; pass the plan alone")
        self.dataset = dataset
        self.plan = plan
        if transforms is None:
            source = transform if transform is not None else getattr(dataset, "transform", None)
            transforms = StageTransforms(source, plan, expect_randaugment=expect_randaugment)
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes missing here: expose the wrapped dataset's (classes, ...).
        # Never its protocol methods: a forwarded Subset.__getitems__ would receive SampleKeys.
        if name in ("dataset", "plan", "transforms") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key: Union[int, SampleKey, tuple]) -> Any:
        if not isinstance(key, tuple):
            return self.dataset[key]
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: Sequence[Union[int, SampleKey, tuple]]) -> list[Any]:
        """Load one batch: its fresh samples, then its replayed views (a step on the whole batch)."""
        if keys and not isinstance(keys[0], tuple):
            return [self.dataset[k] for k in keys]
        keys = [SampleKey(*k) for k in keys]
        loaded = {(k.index, k.seed): self._load(k) for k in keys if k.view == 0}
        return replay(keys, loaded, self._load)

    def _load(self, key: SampleKey) -> Any:
        """One fresh sample: its transform made for the key's settings, loaded under the key's seed, shrunk as the plan says."""
        self.transforms.make(key.magnitude, key.size)
        sample = _seeded(key.seed, lambda: self.dataset[key.index])
        if self.plan.in_workers and not self.plan.before_augment and key.size is not None:
            image = sample[0]
            if not isinstance(image, torch.Tensor):
                raise TypeError("shrinking in the workers needs the transform to return tensors")
            sample = (resize_to(image, key.size, self.plan.op), *sample[1:])
        return sample


def replay(keys: Sequence[SampleKey], loaded: dict[tuple[int, int], Any], load: Any) -> list[Any]:
    """The batch's samples in key order: a fresh key takes its loaded sample, a replayed key a new view of it.

    Args:
        keys: The batch's keys.
        loaded: The fresh samples by ``(index, seed)``.
        load: Loads a key's sample when its fresh key is not in the batch (a key handed alone).

    Returns:
        One sample per key.
    """
    out = []
    for key in keys:
        base = loaded.get((key.index, key.seed))
        if base is None:
            base = loaded[(key.index, key.seed)] = load(key._replace(view=0))
        if key.view == 0:
            out.append(base)
        else:
            out.append((replay_view(base[0], sample_seed(key.seed, 0, key.index, key.view)), *base[1:]))
    return out


def _seeded(seed: int, load: Any) -> Any:
    """``load()`` with every global generator seeded from ``seed`` (restored afterwards in the main process)."""
    in_main = get_worker_info() is None
    saved = (random.getstate(), np.random.get_state(), torch.get_rng_state()) if in_main else None
    try:
        random.seed(seed)
        np.random.seed(seed % (1 << 32))
        # Only the CPU generator draws augmentations; torch.manual_seed would also reseed every
        # accelerator generator, which costs ~0.1 ms per sample.
        torch.default_generator.manual_seed(seed)
        return load()
    finally:
        if saved is not None:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])


def replay_view(image: torch.Tensor, seed: int, scale: tuple[float, float] = (0.5, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """A fresh random crop (resized back to the image's size) and flip of a loaded sample.

    The replayed uses of ``--replay`` share everything else with the loaded sample (its first
    random-resized crop, RandAugment ops and erasing): this is where they differ.

    Args:
        image: The loaded sample, ``(C, H, W)``.
        seed: Seed of this view.
        scale: Area range of the crop, relative to the image.
        ratio: Aspect-ratio range of the crop.

    Returns:
        The view, the same shape as ``image``.
    """
    g = torch.Generator().manual_seed(seed)
    _, h, w = image.shape
    u = torch.rand(3, generator=g).tolist()
    area = h * w * (scale[0] + (scale[1] - scale[0]) * u[0])
    aspect = math.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1])
    ch = max(1, min(h, round(math.sqrt(area / aspect))))
    cw = max(1, min(w, round(math.sqrt(area * aspect))))
    top = int(torch.randint(0, h - ch + 1, (1,), generator=g))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=g))
    crop = image[None, :, top : top + ch, left : left + cw].float()
    out = torch.nn.functional.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0].to(image.dtype)
    return out.flip(-1) if u[2] < 0.5 else out
