"""The batch path: which samples make each batch, and the curriculum settings each batch carries.

:class:`CurriculumBatchSampler` shuffles and shards an epoch, cuts it into batches, and gives every
sample of batch ``step`` a :class:`~efficienttrain.data.worker.SampleKey` with the settings of
``curriculum(epoch + step / steps_per_epoch)``: the RandAugment magnitude, the stage size ``B`` and
a per-sample seed (:func:`batch_keys`). The training loop recomputes the same settings with
:meth:`CurriculumBatchSampler.settings` to shrink the batch on the device when the plan says so
(:func:`~efficienttrain.data.shrink.shrink_batch`). What a worker does with a key is the worker
path, in :mod:`efficienttrain.data.worker`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Mapping, Optional, Sized, Union

import torch
from torch.utils.data import DistributedSampler, Sampler

from ..curricula import Curriculum, Settings
from .shrink import ShrinkPlan
from .worker import CurriculumDataset, SampleKey, replay_view, sample_seed

__all__ = ["SampleKey", "SamplerState", "BatchGrowth", "CurriculumSchedule", "CurriculumBatchSampler", "CurriculumDataset", "sample_seed", "batch_keys", "replay_view"]

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


@dataclass(frozen=True)
class BatchGrowth:
    """Larger batches in the stages below the final size (EfficientTrain++'s large early batches).

    A stage at size ``B`` trains batches of up to ``min(max_factor, (final_size / B) ** 2)`` times
    the base batch: such a batch holds about as many pixels as a base batch at the final size, so
    it needs about that batch's activation memory. The run lowers a stage's batch where its
    pre-flight step runs out of memory; ``batches`` holds the sizes in use.

    Attributes:
        max_factor: The cap (``--batch-growth``); 1 turns growth off.
        batches: Batch size (per process) at each stage size that grows; other sizes use the base.
    """

    max_factor: float = 1.0
    batches: Mapping[int, int] = dataclasses.field(default_factory=dict)

    @classmethod
    def for_curriculum(cls, curriculum: Curriculum, batch_size: int, max_factor: float, multiple_of: int = 1) -> "BatchGrowth":
        """The grown batch of every stage size of ``curriculum`` below the final size.

        Args:
            curriculum: The curriculum.
            batch_size: The base batch size (per process).
            max_factor: The cap on the growth.
            multiple_of: Every batch is a multiple of this (the replay; 2 under Mixup/CutMix).
        """
        final = curriculum.final_size
        batches = {}
        for size in curriculum.sizes:
            grown = int(batch_size * min(float(max_factor), (final / size) ** 2) + 1e-6) // multiple_of * multiple_of
            if size < final and grown > batch_size:
                batches[size] = grown
        return cls(float(max_factor), batches)

    @property
    def active(self) -> bool:
        """Whether any stage grows its batch."""
        return bool(self.batches)

    def batch(self, size: int, base: int) -> int:
        """The batch size at stage size ``size`` (``base`` where it does not grow)."""
        return int(self.batches.get(int(size), base))

    def with_batch(self, size: int, batch: int, base: int) -> "BatchGrowth":
        """A copy whose stage at ``size`` trains batches of ``batch`` (``base`` or less: no growth there)."""
        batches = {s: b for s, b in self.batches.items() if s != int(size)}
        if batch > base:
            batches[int(size)] = int(batch)
        return BatchGrowth(self.max_factor, batches)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for checkpoints (sizes as strings, as JSON keys are)."""
        return {"max_factor": self.max_factor, "batches": {str(s): b for s, b in sorted(self.batches.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BatchGrowth":
        """Read a dict written by :meth:`to_dict`."""
        return cls(float(data.get("max_factor", 1)), {int(s): int(b) for s, b in dict(data.get("batches") or {}).items()})


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
    return [SampleKey(int(i), settings.magnitude, settings.size, sample_seed(seed, epoch, int(i)), view) for i in fresh for view in range(uses)]


def check_batch_size(batch_size: int, plan: ShrinkPlan) -> None:
    """Refuse a batch size that is not positive, or not a multiple of the plan's replay.

    Raises:
        ValueError: Naming the problem.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if batch_size % plan.replay:
        raise ValueError(f"replay must be a positive divisor of the batch size {batch_size}, got {plan.replay}")


def replicas_and_rank(num_replicas: Optional[int], rank: Optional[int]) -> tuple[int, int]:
    """The DDP world size and rank: those given, else the initialised process group's, else ``(1, 0)``."""
    if num_replicas is None or rank is None:
        dist_on = torch.distributed.is_available() and torch.distributed.is_initialized()
        num_replicas = num_replicas or (torch.distributed.get_world_size() if dist_on else 1)
        rank = rank if rank is not None else (torch.distributed.get_rank() if dist_on else 0)
    return int(num_replicas), int(rank)


def _sampler_plan(data_source: Union[Sized, int], plan: Optional[ShrinkPlan], crop_in_workers: bool, replay: int) -> ShrinkPlan:
    """The sampler's plan: the one given, else the dataset's (a CurriculumDataset carries the run's), else the default."""
    own = data_source.plan if isinstance(data_source, CurriculumDataset) else None
    if crop_in_workers or replay != 1:
        if plan is not None:
            raise ValueError("pass either plan or crop_in_workers/replay, not both")
        warnings.warn("crop_in_workers= and replay= are deprecated (removed in 0.2.0); pass plan=ShrinkPlan(...) to CurriculumDataset", DeprecationWarning, stacklevel=3)
        if replay < 1:
            raise ValueError(f"replay must be a positive divisor of the batch size, got {replay}")
        base = own or ShrinkPlan()
        plan = dataclasses.replace(base, at="workers" if crop_in_workers else base.at, replay=replay)
    if plan is None:
        return own or ShrinkPlan()
    if own is not None and (own.at, own.op) != (plan.at, plan.op):
        raise ValueError(
            f"the sampler's plan shrinks at {plan.at!r} with {plan.op!r} but the dataset's at {own.at!r} with {own.op!r}; "
            "pass the plan to CurriculumDataset(plan=...) alone (the sampler takes it from there)"
        )
    return plan


def _warn_if_the_ramp_leaves_the_recipe(data_source: Union[Sized, int], curriculum: Curriculum) -> None:
    """Warn when the curriculum's RandAugment ramp ends at another magnitude than the recipe's transform has."""
    recipe = data_source.transforms.recipe_magnitude if isinstance(data_source, CurriculumDataset) else None
    if recipe is not None and abs(recipe - curriculum.max_magnitude) > 1e-6:
        warnings.warn(
            f"the curriculum's RandAugment ramp ends at m={curriculum.max_magnitude:g}, but your transform's RandAugment is m={recipe:g}; "
            f"build the curriculum with max_magnitude={recipe:g} to keep your recipe's tuned magnitude",
            UserWarning,
            stacklevel=3,
        )


class CurriculumSchedule:
    """The curriculum side of a training loader: its batches per epoch, each batch's settings, its position.

    Both ways of feeding a run share it: :class:`CurriculumBatchSampler` (map-style data) and
    :class:`~efficienttrain.data.stream.CurriculumStream` (streamed shards). The batch at position
    ``step`` of epoch ``epoch`` gets ``curriculum(epoch + step / steps_per_epoch)``, which the
    training loop recomputes with :meth:`settings` to shrink the batch on the device.

    Args:
        curriculum: The curriculum.
        batch_size: Samples per batch on this rank.
        steps_per_epoch: Full batches of an epoch on this rank.
        drop_last: Whether the last incomplete batch of an epoch is dropped.
        seed: Seed for the order and for the per-sample augmentation seeds.
        plan: Where images shrink, and the replay.
    """

    def __init__(self, curriculum: Curriculum, batch_size: int, steps_per_epoch: int, *, drop_last: bool, seed: int, plan: ShrinkPlan) -> None:
        self.curriculum = curriculum
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.drop_last = drop_last
        self.seed = seed
        self.plan = plan
        self.epoch = 0
        self.start_step = 0
        self.growth = BatchGrowth()
        # Per epoch under growth: the sample offset where each batch starts, then the epoch's end.
        self._offsets: dict[int, list[int]] = {}

    @property
    def crop_in_workers(self) -> bool:
        """Whether the workers shrink each image (the plan's place is not ``device``)."""
        return self.plan.in_workers

    @property
    def replay(self) -> int:
        """Uses of each loaded image below the final size."""
        return self.plan.replay

    def set_growth(self, growth: BatchGrowth) -> None:
        """Grow the batches of the stages below the final size (:class:`BatchGrowth`).

        An epoch keeps its samples: it takes fewer, larger batches where its stage grows. A batch
        takes the settings of the sample offset where it starts and ends where the next stage
        begins, so each stage trains the images it trains without growth.
        """
        self.growth = growth
        self._offsets = {}

    def _epoch_offsets(self, epoch: int) -> list[int]:
        """Under growth: each batch's first sample within ``epoch``, then the end of its last batch."""
        if epoch not in self._offsets:
            base = self.batch_size
            per_epoch = self.steps_per_epoch * base
            limit = min(1.0, self.curriculum.epochs - epoch) * per_epoch - 1e-9 * base
            offsets = [0]
            while offsets[-1] < limit:
                offsets.append(self._batch_end(epoch, offsets[-1]))
            self._offsets[epoch] = offsets
        return self._offsets[epoch]

    def _batch_end(self, epoch: int, start: int) -> int:
        """Where the grown batch that starts at sample ``start`` of ``epoch`` ends.

        It holds the stage's grown batch, but stops at the epoch's end and where the next size
        begins on the base batches' grid: each sample gets the size it gets without growth.
        """
        base = self.batch_size
        size = self.curriculum(self._offset_progress(epoch, start)).size
        end = min(start + self.growth.batch(size, base), self.steps_per_epoch * base)
        grid = (start // base + 1) * base
        while grid < end:
            if self.curriculum(self._offset_progress(epoch, grid)).size != size:
                return grid
            grid += base
        return end

    def _offset_progress(self, epoch: int, offset: int) -> float:
        """The progress of the sample at ``offset`` of ``epoch``: that of the base batch holding it.

        So a sample gets the settings it gets without growth.
        """
        return epoch + (offset // self.batch_size) / self.steps_per_epoch

    def batches_in_epoch(self, epoch: int) -> int:
        """Number of batches of ``epoch`` (the last epoch of a fractional curriculum is partial)."""
        if self.growth.active:
            return len(self._epoch_offsets(epoch)) - 1
        remaining = self.curriculum.epochs - epoch
        if remaining >= 1 - 1e-9:
            return self.steps_per_epoch
        return max(1, math.ceil(remaining * self.steps_per_epoch - 1e-9))

    def batch_size_at(self, epoch: int, step: int) -> int:
        """Samples in batch ``step`` of ``epoch`` on this rank (the base batch size, unless the stage grows it)."""
        if not self.growth.active:
            return self.batch_size
        offsets = self._epoch_offsets(epoch)
        return offsets[step + 1] - offsets[step]

    def lr_scale(self, epoch: int, step: int) -> float:
        """The linear scaling rule's factor for batch ``step`` of ``epoch``: its size over the base batch size."""
        return self.batch_size_at(epoch, step) / self.batch_size

    def schedule_steps(self, epoch: int, step: int) -> int:
        """Base-size batches covered once batch ``step`` of ``epoch`` is done (where a per-step LR schedule stands).

        Without growth this is the global step count plus one. With it, a batch ``k`` times the base
        counts ``k`` (rounded), so the schedule follows the samples seen, as in a run without growth.
        """
        if not self.growth.active:
            return sum(self.batches_in_epoch(e) for e in range(epoch)) + step + 1
        return epoch * self.steps_per_epoch + round(self._epoch_offsets(epoch)[step + 1] / self.batch_size)

    @property
    def total_steps(self) -> int:
        """Batches over the whole curriculum (what a per-step LR schedule should span)."""
        return sum(self.batches_in_epoch(e) for e in range(self.curriculum.num_epochs))

    def progress(self, epoch: int, step: int) -> float:
        """Training progress, in epochs, at batch ``step`` of ``epoch``."""
        if self.growth.active:
            return self._offset_progress(epoch, self._epoch_offsets(epoch)[step])
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

    def set_seed(self, seed: int) -> None:
        """Change the seed of the order and of the augmentation (takes effect at the next iteration)."""
        self.seed = int(seed)

    def state_dict(self, epoch: Optional[int] = None, start_step: Optional[int] = None) -> dict[str, Any]:
        """The position (a :class:`SamplerState` as a plain dict), or the given one with this schedule's seed.

        Args:
            epoch: Epoch to record instead of the current one (a checkpoint written after the
                last batch of an epoch points at the next epoch).
            start_step: Batch to record instead of the current start.

        Returns:
            ``{"epoch", "start_step", "seed"}``.
        """
        state = SamplerState(self.epoch if epoch is None else int(epoch), self.start_step if start_step is None else int(start_step), self.seed).to_dict()
        if self.growth.active:  # the batches, and so the meaning of start_step, depend on the factors
            state["batch_growth"] = self.growth.to_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Move to a position saved by :meth:`state_dict` (and take its seed, when it records one)."""
        position = SamplerState.from_dict(state)
        if position.seed is not None:
            self.set_seed(position.seed)
        if state.get("batch_growth"):
            self.set_growth(BatchGrowth.from_dict(state["batch_growth"]))
        self.set_epoch(position.epoch, position.start_step)

    def uses_per_image(self, epoch: int, step: int) -> int:
        """How many times each loaded image is used in batch ``step`` of ``epoch`` (``replay`` or 1)."""
        return self.plan.uses_per_image(self.settings(epoch, step).size, self.curriculum.final_size)

    def fresh_in_step(self, epoch: int, step: int) -> int:
        """Images loaded for batch ``step`` of ``epoch`` (its batch size over ``uses``)."""
        return self.batch_size_at(epoch, step) // self.uses_per_image(epoch, step)

    def distinct_in_epoch(self, epoch: int) -> int:
        """Distinct images this rank loads in ``epoch`` (fewer than its samples when replaying)."""
        return sum(self.fresh_in_step(epoch, step) for step in range(self.batches_in_epoch(epoch)))

    def keys(self, fresh: list[int], epoch: int, step: int) -> list[SampleKey]:
        """The keys of batch ``step`` of ``epoch``, whose freshly loaded indices are ``fresh`` (:func:`batch_keys`)."""
        return batch_keys(self.plan, fresh, self.settings(epoch, step), seed=self.seed, epoch=epoch, final_size=self.curriculum.final_size)


class CurriculumBatchSampler(CurriculumSchedule, Sampler[list[SampleKey]]):
    """Batch sampler that annotates each sample with its batch's curriculum settings.

    Shuffling and sharding use :class:`torch.utils.data.DistributedSampler` (with one replica
    when not distributed), so the order is a function of ``seed`` and the epoch. The batch at
    position ``step`` of epoch ``epoch`` gets ``curriculum(epoch + step / steps_per_epoch)``,
    which the training loop recomputes with :meth:`settings` to crop the batch on the device
    (the schedule is :class:`CurriculumSchedule`'s).

    Args:
        data_source: The dataset (or its length).
        curriculum: The curriculum.
        batch_size: Samples per batch on this rank.
        shuffle: Shuffle each epoch.
        drop_last: Drop the last incomplete batch of an epoch.
        seed: Seed for shuffling and for the per-sample augmentation seeds.
        num_replicas: Number of DDP ranks (default: the initialised process group's size, else 1).
        rank: This rank (default: from the process group, else 0).
        plan: Where images shrink and the replay (:class:`~efficienttrain.data.shrink.ShrinkPlan`);
            default: the plan of ``data_source`` when it is a
            :class:`~efficienttrain.data.worker.CurriculumDataset` (the one plan of a run), else
            shrinking on the device. With ``replay`` K, batches below the
            final size load ``batch_size / K`` images and use each K times (the extra uses are
            fresh random crops and flips of it, :func:`replay_view`). An epoch keeps its number of
            batches, so in those stages it sees ``1 / K`` as many distinct images.
        crop_in_workers: Deprecated shorthand for ``plan=ShrinkPlan("workers")`` (removed in 0.2.0).
        replay: Deprecated shorthand for the plan's replay (removed in 0.2.0).

    Raises:
        ValueError: If the batch size is not positive, not a multiple of the replay, there is
            not one full batch per rank, ``plan`` comes with the shorthands, or ``plan``
            shrinks elsewhere than the dataset's plan.
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
        plan = _sampler_plan(data_source, plan, crop_in_workers, replay)
        _warn_if_the_ramp_leaves_the_recipe(data_source, curriculum)
        check_batch_size(batch_size, plan)
        n = data_source if isinstance(data_source, int) else len(data_source)
        num_replicas, rank = replicas_and_rank(num_replicas, rank)
        self.index_sampler = DistributedSampler(
            range(n), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False
        )
        per_rank = len(self.index_sampler)
        steps = per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)
        if steps < 1:
            raise ValueError(
                f"{n} samples over {num_replicas} rank(s) do not fill one batch of {batch_size}; "
                "lower the batch size or set drop_last=False"
            )
        super().__init__(curriculum, batch_size, steps, drop_last=drop_last, seed=seed, plan=plan)

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        super().set_epoch(epoch, start_step)
        self.index_sampler.set_epoch(self.epoch)

    def set_seed(self, seed: int) -> None:
        super().set_seed(seed)
        self.index_sampler.seed = self.seed

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[list[SampleKey]]:
        epoch = self.epoch
        indices = list(self.index_sampler)
        # Batches that replay take fewer fresh indices; position the cursor for a resumed start.
        cursor = sum(self.fresh_in_step(epoch, step) for step in range(self.start_step))
        for step in range(self.start_step, self.batches_in_epoch(epoch)):
            chunk = indices[cursor : cursor + self.fresh_in_step(epoch, step)]
            cursor += len(chunk)
            if not chunk:
                break
            yield self.keys(chunk, epoch, step)

    def __len__(self) -> int:
        return self.batches_in_epoch(self.epoch) - self.start_step
