"""The loop's own state between steps, and its conversion to and from the run directory's records.

:class:`RunState` is what the loop carries from one epoch to the next (position, update count,
history, timings). Together with the model, the optimizer and the RNG states (:mod:`.rng`) it makes up a
:class:`~efficienttrain.rundir.Checkpoint` (:func:`make_checkpoint`, :func:`restore`); the file
format itself is :mod:`efficienttrain.rundir`'s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from torch import nn

from ..curricula import Settings
from ..data.sampler import BatchGrowth, SamplerState
from ..errors import UserError
from ..rundir import Checkpoint, Snapshot
from .rng import GlobalRng

if TYPE_CHECKING:
    from .build import TrainingParts
    from .config import TrainConfig

__all__ = [
    "RunState",
    "EpochTally",
    "weights_checksum",
    "step_signature",
    "make_checkpoint",
    "make_snapshot",
    "restore",
]


@dataclass
class RunState:
    """Where a run stands.

    Attributes:
        epoch: The epoch to train next, from 0.
        step: The batch of that epoch to train next (non-zero after a mid-epoch stop).
        num_updates: Optimizer updates so far.
        history: One metrics row per finished epoch.
        train_time: Training wall time of the finished epochs (evaluation excluded).
        total_time: Wall time of the finished epochs with evaluation.
        epoch_elapsed: Training time already spent in ``epoch`` (after a mid-epoch stop).
        epoch_tally: The interrupted epoch's running sums (:meth:`EpochTally.partial`), so that
            its metrics row after a resume equals the uninterrupted run's; empty between epochs.
        amp: The precision the run trains in (``--amp auto`` may have chosen it by timing; a
            resume keeps it).
    """

    epoch: int = 0
    step: int = 0
    num_updates: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_time: float = 0.0
    total_time: float = 0.0
    epoch_elapsed: float = 0.0
    epoch_tally: dict[str, float] = field(default_factory=dict)
    amp: str = ""

    STATE_KEYS: ClassVar[tuple[str, ...]] = ("num_updates", "history", "train_time", "total_time", "epoch_elapsed", "epoch_tally", "amp")

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps besides the position (which is the sampler's): updates, history, timings."""
        return {name: getattr(self, name) for name in self.STATE_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state_dict`'s values."""
        self.num_updates = int(state["num_updates"])
        self.history = list(state["history"])
        self.train_time, self.total_time, self.epoch_elapsed = float(state["train_time"]), float(state["total_time"]), float(state["epoch_elapsed"])
        self.epoch_tally = {k: float(v) for k, v in (state.get("epoch_tally") or {}).items()}
        self.amp = str(state.get("amp") or self.amp)


@dataclass
class EpochTally:
    """What one epoch's training steps add up to.

    Attributes:
        loss_sum: Sum of the batch losses.
        batches: Batches trained.
        images: Images trained.
        last_size: Input size of the last batch.
        last_settings: The curriculum's settings of the last batch (``None`` before one).
        last_loss: The last batch's loss.
        data_wait: Seconds the loop waited for the loader's batches.
        compile_time: Seconds of throw-away steps that compiled a new size (not training time).
        stopped_at: The next step, when a stop request ended the epoch early; else ``None``.
    """

    loss_sum: float = 0.0
    batches: int = 0
    images: int = 0
    last_size: int = 0
    last_settings: Optional[Settings] = None
    last_loss: float = float("nan")
    data_wait: float = 0.0
    compile_time: float = 0.0
    stopped_at: Optional[int] = None

    PARTIAL: ClassVar[tuple[str, ...]] = ("loss_sum", "batches", "images", "data_wait", "last_size")

    def partial(self) -> dict[str, float]:
        """The running sums a checkpoint keeps when an epoch stops part-way."""
        return {name: float(getattr(self, name)) for name in self.PARTIAL}

    def resume(self, partial: dict[str, float]) -> "EpochTally":
        """Continue from the sums of :meth:`partial` (none: a fresh epoch)."""
        self.loss_sum, self.data_wait = float(partial.get("loss_sum", 0.0)), float(partial.get("data_wait", 0.0))
        self.batches, self.images = int(partial.get("batches", 0)), int(partial.get("images", 0))
        self.last_size = int(partial.get("last_size", self.last_size))
        return self

    @property
    def mean_loss(self) -> float:
        """Mean batch loss (0 before the first batch)."""
        return self.loss_sum / max(self.batches, 1)


def weights_checksum(model: nn.Module) -> str:
    """SHA-256 of a model's state dict (names and raw bytes), to compare weights across runs."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()


# -- RunState <-> the run directory's records ----------------------------------------------------
def step_signature(cfg: "TrainConfig", parts: "TrainingParts") -> dict[str, int]:
    """Settings that fix the order of samples and the step count: a resume must not change them."""
    signature = {
        "batch_size": cfg.batch_size,
        "accum_steps": cfg.accum_steps,
        "seed": cfg.seed,
        "steps_per_epoch": parts.sampler.steps_per_epoch,
        "total_updates": parts.optim.total_updates,
        "replay": cfg.replay,  # the fresh samples per batch
        "batch_growth": cfg.batch_growth,  # the batches of the small stages
    }
    if hasattr(parts.sampler, "shuffle_buffer"):  # a stream's groups, and so its order, depend on it
        signature["shuffle_buffer"] = parts.sampler.shuffle_buffer
    return signature


class SamplerPosition:
    """The sampler's part of a checkpoint: the run's position (``state.epoch``, ``state.step``) with the sampler's seed."""

    def __init__(self, sampler: Any, state: RunState) -> None:
        self.sampler, self.state = sampler, state

    def state_dict(self) -> dict[str, Any]:
        return self.sampler.state_dict(self.state.epoch, self.state.step)

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        position = SamplerState.from_dict(saved)  # the loop positions the sampler itself each epoch
        self.state.epoch, self.state.step = position.epoch, position.start_step
        if saved.get("lanes"):  # a stream's order depends on its lanes (data/stream.py)
            self.sampler.lanes = int(saved["lanes"])
        if saved.get("batch_growth"):  # the factors the pre-flight chose cut the batches up to this position
            self.sampler.set_growth(BatchGrowth.from_dict(saved["batch_growth"]))


def stateful_parts(model: nn.Module, sampler: Any, optim: Any, state: RunState) -> dict[str, Any]:
    """Every part a checkpoint saves and a resume restores, by its key, in restoring order.

    Each goes through ``state_dict()``/``load_state_dict()``. The optimisation's and the run's
    states (:data:`SPREAD`) spread into the checkpoint's own keys, so the file format is the one
    :class:`~efficienttrain.rundir.Checkpoint` names.
    """
    return {"model": model, "optim": optim, "rng": GlobalRng(), "sampler": SamplerPosition(sampler, state), "run": state}


SPREAD = ("optim", "run")


def make_checkpoint(cfg: "TrainConfig", parts: "TrainingParts", state: RunState, sessions: list[dict[str, Any]]) -> Checkpoint:
    """Everything an exact resume needs, at ``state``'s position."""
    saved: dict[str, Any] = {}
    for key, part in stateful_parts(parts.model, parts.sampler, parts.optim, state).items():
        saved.update(part.state_dict() if key in SPREAD else {key: part.state_dict()})
    return Checkpoint(
        config=cfg.to_dict(),
        curriculum=parts.curriculum.to_dict(),
        **saved,
        world_size=parts.runtime.world_size,
        final_size=parts.curriculum.final_size,
        num_classes=parts.data.num_classes,
        steps=step_signature(cfg, parts),
        objective=parts.objective.name,
        sessions=sessions,
        classes=list(parts.data.classes),
        data=parts.data.identity(),
    )


def make_snapshot(cfg: "TrainConfig", parts: "TrainingParts", state: RunState) -> Snapshot:
    """The weights after ``state.epoch`` epochs, for analyses across training."""
    ema = parts.optim.ema
    return Snapshot(
        config=cfg.to_dict(),
        curriculum=parts.curriculum.to_dict(),
        model=parts.model.state_dict(),
        epoch=state.epoch,
        history=state.history,
        final_size=parts.curriculum.final_size,
        num_classes=parts.data.num_classes,
        ema=ema.module.state_dict() if ema is not None else None,
    )


def check_resumable(cfg: "TrainConfig", parts: "TrainingParts", ckpt: Checkpoint) -> None:
    """Refuse a resume whose settings, data or model differ from the checkpoint's (before any work).

    Raises:
        UserError: Naming what differs and the fix.
    """
    if ckpt.objective != parts.objective.name:
        raise UserError(f"--resume: the checkpoint was made with --objective {ckpt.objective}, not {parts.objective.name}; resume with the original settings")
    data_change = _data_change(ckpt, parts)
    if data_change:
        raise UserError(f"--resume: the training data changed since the checkpoint ({data_change}); restore the data as it was, or start a new run")
    if ckpt.curriculum and ckpt.curriculum != parts.curriculum.to_dict():
        raise UserError("--resume: the checkpoint was made with a different curriculum; resume with the original settings")
    if ckpt.world_size != parts.runtime.world_size:
        raise UserError(f"--resume: the checkpoint was made with {ckpt.world_size} processes, not {parts.runtime.world_size}; resume with the same number")
    signature = step_signature(cfg, parts)
    saved = {"batch_growth": 1, **(ckpt.steps or {})}  # older checkpoints lack the newer keys; they had no growth
    changed = [k for k, v in signature.items() if k in saved and saved[k] != v]
    if changed:
        raise UserError(f"--resume: {', '.join(changed)} differ from the checkpoint's; resume with the original settings")
    ours = parts.model.state_dict()
    mismatch = sorted(set(ckpt.model) ^ set(ours)) or [k for k, v in ckpt.model.items() if tuple(v.shape) != tuple(ours[k].shape)]
    if mismatch:
        saved = ckpt.config.get("model", "another model")
        raise UserError(f"--resume: the checkpoint holds {saved}'s weights, which do not fit --model {cfg.model} (first difference: {mismatch[0]}); resume with the run's own --model")


def _data_change(ckpt: Checkpoint, parts: "TrainingParts") -> Optional[str]:
    """How the training data differs from the checkpoint's record of it, or ``None``."""
    if ckpt.classes is not None and list(ckpt.classes) != list(parts.data.classes):
        return f"classes {', '.join(ckpt.classes[:6])} then, {', '.join(parts.data.classes[:6])} now"
    now = parts.data.identity()
    then = ckpt.data
    if then.get("train_images") not in (None, now["train_images"]):
        return f"{then['train_images']} training images then, {now['train_images']} now"
    if then.get("train_files") not in (None, now["train_files"]):
        return "the same number of training images, but other files or labels"
    return None


def restore(cfg: "TrainConfig", parts: "TrainingParts", ckpt: Checkpoint) -> RunState:
    """Load a checkpoint into the parts (weights, optimizer, schedule, EMA, scaler, RNG).

    Returns:
        The :class:`RunState` to continue from.

    Raises:
        UserError: Where :func:`check_resumable` refuses the checkpoint.
    """
    check_resumable(cfg, parts, ckpt)
    run = RunState()
    for key, part in stateful_parts(parts.model, parts.sampler, parts.optim, run).items():
        part.load_state_dict({name: getattr(ckpt, name) for name in part.STATE_KEYS} if key in SPREAD else getattr(ckpt, key))
    return run
