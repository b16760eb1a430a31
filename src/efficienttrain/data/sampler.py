"""Carry the curriculum to data-loader workers inside the sampler's indices.

Workers may be persistent and live in other processes, so they cannot read a setting from the
training loop. Instead :class:`CurriculumBatchSampler` yields, for every sample, a
:class:`SampleKey` with the sample's index, the RandAugment magnitude of its batch, optionally the
crop size (when cropping in the workers) and a per-sample seed. :class:`CurriculumDataset` unpacks
the key in the worker, sets the magnitude and seeds the augmentation before loading the sample.

Every value in a key is a pure function of ``(seed, epoch, batch position)``, so all DDP ranks see
identical settings, and the augmentation of a sample does not depend on the number of workers,
on worker persistence, or on whether the run was resumed.
"""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Mapping, NamedTuple, Optional, Sized, Union

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler, get_worker_info

from ..curricula import Curriculum, Settings
from ..frequency import resize_to
from .shrink import ShrinkPlan
from .transforms import find_randaugment, set_magnitude, set_stage_size, stage_shrinks

__all__ = ["SampleKey", "SamplerState", "CurriculumBatchSampler", "CurriculumDataset", "sample_seed", "batch_keys", "replay_view"]

_MASK63 = (1 << 63) - 1


class SampleKey(NamedTuple):
    """What a worker needs to load one sample under the curriculum.

    Attributes:
        index: Dataset index.
        magnitude: RandAugment magnitude of the sample's batch.
        size: The size ``B`` to shrink to in the worker, or ``None`` (the device crops).
        seed: Seed of the sample's augmentation.
        view: 0 for a freshly loaded sample; ``v > 0`` for the ``v``-th replayed view of the
            sample loaded just before it (``--replay``).
    """

    index: int
    magnitude: float
    size: Optional[int]
    seed: int
    view: int = 0


@dataclass(frozen=True)
class SamplerState:
    """Where a :class:`CurriculumBatchSampler` stands: the one format of its position in checkpoints.

    Attributes:
        epoch: Epoch to iterate, from 0.
        start_step: First batch of that epoch to yield (non-zero when resuming mid-epoch).
        seed: Seed of the shuffling and of the per-sample augmentation seeds (``None``: not known,
            the sampler keeps its own).
    """

    epoch: int = 0
    start_step: int = 0
    seed: Optional[int] = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SamplerState":
        """Read a dict written by :meth:`to_dict` (``start_step`` and ``seed`` may be missing)."""
        seed = data.get("seed")
        return cls(int(data["epoch"]), int(data.get("start_step") or 0), None if seed is None else int(seed))


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


def batch_keys(plan: ShrinkPlan, fresh: list[int], settings: Settings, *, seed: int, epoch: int, final_size: int) -> list[SampleKey]:
    """The keys of one batch: each freshly loaded index, followed by its replayed views.

    The sampler, the probe and the loader benchmark all build their batches here, so what they
    time is what a run loads.

    Args:
        plan: The run's :class:`~efficienttrain.data.shrink.ShrinkPlan`.
        fresh: Dataset indices loaded for this batch (``batch_size / uses`` of them, see
            :meth:`ShrinkPlan.uses_per_image`).
        settings: The batch's curriculum settings.
        seed: Run seed.
        epoch: Epoch of the batch (for the per-sample seeds).
        final_size: The curriculum's final size (no replay there).

    Returns:
        ``len(fresh) * uses`` keys.
    """
    uses = plan.uses_per_image(settings.size, final_size)
    size = plan.key_size(settings)
    return [SampleKey(int(i), settings.magnitude, size, sample_seed(seed, epoch, int(i)), view) for i in fresh for view in range(uses)]


class CurriculumBatchSampler(Sampler[list[SampleKey]]):
    """Batch sampler that annotates each sample with its batch's curriculum settings.

    Shuffling and sharding use :class:`torch.utils.data.DistributedSampler` (with one replica
    when not distributed), so the order is a function of ``seed`` and the epoch. The batch at
    position ``step`` of epoch ``epoch`` gets ``curriculum(epoch + step / steps_per_epoch)``,
    which the training loop recomputes with :meth:`settings` to crop the batch on the device.

    Args:
        data_source: The dataset (or its length).
        curriculum: The curriculum.
        batch_size: Samples per batch on this rank.
        shuffle: Shuffle each epoch.
        drop_last: Drop the last incomplete batch of an epoch.
        seed: Seed for shuffling and for the per-sample augmentation seeds.
        num_replicas: Number of DDP ranks (default: the initialised process group's size, else 1).
        rank: This rank (default: from the process group, else 0).
        plan: Where images shrink and the replay (:class:`~efficienttrain.data.shrink.ShrinkPlan`).
            When the workers shrink, the keys carry the size. With ``replay`` K, batches below the
            final size load ``batch_size / K`` images and use each K times (the extra uses are
            fresh random crops and flips of it, :func:`replay_view`). An epoch keeps its number of
            batches, so in those stages it sees ``1 / K`` as many distinct images.
        crop_in_workers: Shorthand for ``plan=ShrinkPlan("workers")`` (without ``plan``).
        replay: Shorthand for the plan's replay (without ``plan``).

    Raises:
        ValueError: If the batch size is not positive, not a multiple of the replay, there is
            not one full batch per rank, or ``plan`` comes with the shorthands.
    """

    def __init__(
        self,
        data_source: Union[Sized, int],
        curriculum: Curriculum,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        num_replicas: Optional[int] = None,
        rank: Optional[int] = None,
        plan: Optional[ShrinkPlan] = None,
        crop_in_workers: bool = False,
        replay: int = 1,
    ) -> None:
        if plan is not None and (crop_in_workers or replay != 1):
            raise ValueError("pass either plan or crop_in_workers/replay, not both")
        if plan is None:
            if replay < 1:
                raise ValueError(f"replay must be a positive divisor of the batch size {batch_size}, got {replay}")
            plan = ShrinkPlan("workers" if crop_in_workers else "device", replay=replay)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if batch_size % plan.replay:
            raise ValueError(f"replay must be a positive divisor of the batch size {batch_size}, got {plan.replay}")
        n = data_source if isinstance(data_source, int) else len(data_source)
        if num_replicas is None or rank is None:
            dist_on = torch.distributed.is_available() and torch.distributed.is_initialized()
            num_replicas = num_replicas or (torch.distributed.get_world_size() if dist_on else 1)
            rank = rank if rank is not None else (torch.distributed.get_rank() if dist_on else 0)
        self.index_sampler = DistributedSampler(
            range(n), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
        )
        per_rank = len(self.index_sampler)
        self.steps_per_epoch = per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"{n} samples over {num_replicas} rank(s) do not fill one batch of {batch_size}; "
                "lower the batch size or set drop_last=False"
            )
        self.curriculum = curriculum
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.plan = plan
        self.epoch = 0
        self.start_step = 0

    @property
    def crop_in_workers(self) -> bool:
        """Whether the workers shrink each image (the plan's place is not ``device``)."""
        return self.plan.in_workers

    @property
    def replay(self) -> int:
        """Uses of each loaded image below the final size."""
        return self.plan.replay

    # -- schedule ---------------------------------------------------------------------------
    def batches_in_epoch(self, epoch: int) -> int:
        """Number of batches of ``epoch`` (the last epoch of a fractional curriculum is partial)."""
        remaining = self.curriculum.epochs - epoch
        if remaining >= 1 - 1e-9:
            return self.steps_per_epoch
        return max(1, math.ceil(remaining * self.steps_per_epoch - 1e-9))

    @property
    def total_steps(self) -> int:
        """Batches over the whole curriculum (what a per-step LR schedule should span)."""
        return sum(self.batches_in_epoch(e) for e in range(self.curriculum.num_epochs))

    def progress(self, epoch: int, step: int) -> float:
        """Training progress, in epochs, at batch ``step`` of ``epoch``."""
        return epoch + step / self.steps_per_epoch

    def settings(self, epoch: int, step: int) -> Settings:
        """The curriculum settings of batch ``step`` of ``epoch`` (what the workers received)."""
        return self.curriculum(self.progress(epoch, step))

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        """Select the epoch to iterate, optionally resuming at batch ``start_step``.

        Args:
            epoch: Epoch, from 0.
            start_step: First batch to yield (to resume mid-epoch).
        """
        if not 0 <= start_step <= self.batches_in_epoch(epoch):
            raise ValueError(f"start_step {start_step} is outside epoch {epoch} ({self.batches_in_epoch(epoch)} batches)")
        self.epoch = int(epoch)
        self.start_step = int(start_step)
        self.index_sampler.set_epoch(self.epoch)

    def set_seed(self, seed: int) -> None:
        """Change the seed of the shuffling and of the augmentation (takes effect at the next iteration)."""
        self.seed = int(seed)
        self.index_sampler.seed = self.seed

    def state_dict(self, epoch: Optional[int] = None, start_step: Optional[int] = None) -> dict[str, Any]:
        """The sampler's position (a :class:`SamplerState` as a plain dict), or the given one with this sampler's seed.

        Args:
            epoch: Epoch to record instead of the current one (a checkpoint written after the
                last batch of an epoch points at the next epoch).
            start_step: Batch to record instead of the current start.

        Returns:
            ``{"epoch", "start_step", "seed"}``.
        """
        return SamplerState(self.epoch if epoch is None else int(epoch), self.start_step if start_step is None else int(start_step), self.seed).to_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Move to a position saved by :meth:`state_dict` (and take its seed, when it records one)."""
        position = SamplerState.from_dict(state)
        if position.seed is not None:
            self.set_seed(position.seed)
        self.set_epoch(position.epoch, position.start_step)

    def uses_per_image(self, epoch: int, step: int) -> int:
        """How many times each loaded image is used in batch ``step`` of ``epoch`` (``replay`` or 1)."""
        return self.plan.uses_per_image(self.settings(epoch, step).size, self.curriculum.final_size)

    def distinct_in_epoch(self, epoch: int) -> int:
        """Distinct images this rank loads in ``epoch`` (fewer than its samples when replaying)."""
        return sum(self.batch_size // self.uses_per_image(epoch, step) for step in range(self.batches_in_epoch(epoch)))

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[list[SampleKey]]:
        epoch = self.epoch
        indices = list(self.index_sampler)
        # Batches that replay take fewer fresh indices; position the cursor for a resumed start.
        cursor = sum(self.batch_size // self.uses_per_image(epoch, step) for step in range(self.start_step))
        for step in range(self.start_step, self.batches_in_epoch(epoch)):
            uses = self.uses_per_image(epoch, step)
            chunk = indices[cursor : cursor + self.batch_size // uses]
            cursor += len(chunk)
            if not chunk:
                break
            yield batch_keys(self.plan, chunk, self.settings(epoch, step), seed=self.seed, epoch=epoch, final_size=self.curriculum.final_size)

    def __len__(self) -> int:
        return self.batches_in_epoch(self.epoch) - self.start_step


class CurriculumDataset(Dataset):
    """Wrap a map-style dataset so that it understands :class:`SampleKey` indices.

    For a key, the wrapper sets the RandAugment magnitude of the dataset's transform, seeds
    ``random``, ``numpy`` and ``torch`` from the key's seed, loads the sample, and (if the key
    carries a size) crops the image with ``crop_op``. A plain integer index loads the sample
    unchanged, so the same object also serves evaluation.

    In the main process (``num_workers=0``) the global RNG states are restored afterwards, so
    the training loop's own randomness (dropout, Mixup) does not depend on the data.

    Args:
        dataset: Map-style dataset returning ``(image, target, ...)`` with a ``transform`` that
            contains RandAugment (timm's or torchvision's); without one, magnitudes are ignored
            with a warning.
        plan: The run's :class:`~efficienttrain.data.shrink.ShrinkPlan` (its operator shrinks in
            the workers). Without one, ``crop_op`` is the operator, and images shrink before
            augmentation exactly when the transform has a
            :class:`~efficienttrain.data.decode.ShrinkToStage` step.
        crop_op: Operator for in-worker cropping without a plan: ``lowfreq`` or a down-sampling mode.
        transform: Where to look for RandAugment instead of ``dataset`` (e.g. when the
            transform is applied by a wrapper).
        expect_randaugment: Warn once when the transform has no RandAugment (turn off for
            objectives that follow only the size schedule, such as MAE).

    Raises:
        ValueError: If the plan and the transform disagree on shrinking before augmentation.
    """

    def __init__(
        self, dataset: Dataset, *, plan: Optional[ShrinkPlan] = None, crop_op: str = "lowfreq", transform: Any = None, expect_randaugment: bool = True
    ) -> None:
        self.dataset = dataset
        self.crop_op = plan.op if plan is not None else crop_op
        self._transform_root = transform if transform is not None else dataset
        self.has_randaugment = bool(find_randaugment(self._transform_root))
        # The transform shrinks to B itself (augmentation at B) when it has a ShrinkToStage step.
        self.shrinks_in_transform = bool(stage_shrinks(self._transform_root))
        if plan is not None and plan.before_augment != self.shrinks_in_transform:
            raise ValueError(
                f"the plan shrinks images at {plan.at!r} but the transform {'has' if self.shrinks_in_transform else 'has no'} "
                "shrink step; build it with build_train_transform(..., **plan.transform_options())"
            )
        self._warned = not expect_randaugment
        self._magnitude: Optional[float] = None
        self._stage_size: Optional[int] = None
        # The last freshly loaded sample, for the replayed views that follow it in its batch.
        self._last: Optional[tuple[tuple[int, int], Any]] = None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes missing here: expose the wrapped dataset's (classes, ...).
        # Never its protocol methods: a forwarded Subset.__getitems__ would receive SampleKeys.
        if name == "dataset" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key: Union[int, SampleKey, tuple]) -> Any:
        if not isinstance(key, tuple):
            return self.dataset[key]
        key = SampleKey(*key)
        if key.view and self._last is not None and self._last[0] == (key.index, key.seed):
            sample = self._last[1]
            return (replay_view(sample[0], sample_seed(key.seed, 0, key.index, key.view)), *sample[1:])
        self._prepare_transform(key)
        sample = self._load(key)
        if key.size is not None and not self.shrinks_in_transform:
            image = sample[0]
            if not isinstance(image, torch.Tensor):
                raise TypeError("cropping in the workers needs the transform to return tensors")
            sample = (resize_to(image, key.size, self.crop_op), *sample[1:])
        self._last = ((key.index, key.seed), sample)
        if key.view:  # a replayed view whose loaded sample went to another worker: load it here
            return (replay_view(sample[0], sample_seed(key.seed, 0, key.index, key.view)), *sample[1:])
        return sample

    def _prepare_transform(self, key: SampleKey) -> None:
        """Set the magnitude (and the stage size) of the worker's copy of the transform, if they changed."""
        if self.has_randaugment:
            if key.magnitude != self._magnitude:
                set_magnitude(self._transform_root, key.magnitude)
                self._magnitude = key.magnitude
        elif not self._warned:
            self._warned = True
            warnings.warn("no RandAugment found in the dataset's transform; the magnitude schedule has no effect", stacklevel=3)
        if self.shrinks_in_transform and key.size != self._stage_size:
            set_stage_size(self._transform_root, key.size)
            self._stage_size = key.size

    def _load(self, key: SampleKey) -> Any:
        """Load the sample with the key's seed in every generator (restored afterwards in the main process)."""
        in_main = get_worker_info() is None
        saved = (random.getstate(), np.random.get_state(), torch.get_rng_state()) if in_main else None
        try:
            random.seed(key.seed)
            np.random.seed(key.seed % (1 << 32))
            # Only the CPU generator draws augmentations; torch.manual_seed would also reseed every
            # accelerator generator, which costs ~0.1 ms per sample.
            torch.default_generator.manual_seed(key.seed)
            return self.dataset[key.index]
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
