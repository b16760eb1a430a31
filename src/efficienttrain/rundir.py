"""The on-disk format of a training run: file names, typed records, atomic writes and safe reads.

A run directory holds:

==========================  =======================================================================
``config.yaml``             the :class:`~efficienttrain.runner.TrainConfig` as given
``curriculum.yaml``         the curriculum (:meth:`~efficienttrain.curricula.Curriculum.to_dict`)
``last.pt``                 a :class:`Checkpoint`: everything needed to resume exactly
``epoch_NNN.pt``            :class:`Snapshot` s: the weights of every N-th epoch (``--snapshot-every``)
``metrics.jsonl`` / ``.csv``  one row of metrics per epoch
``summary.json``            a :class:`Summary`: final metrics, resolved config and provenance
``model.safetensors``       the final weights (``model_ema.safetensors`` for the EMA weights)
``.efficienttrain.lock``    held (``flock``) by the process that writes the run; names its pid
==========================  =======================================================================

A run owns its directory: :meth:`RunDir.claim` takes the lock, refuses a directory that holds
another run or files a run does not write (unless told to overwrite), and removes the temporary
files that writers killed mid-write left behind. Every file is written through :func:`atomic_write`:
a failed write removes its temporary file, and a full disk is a one-line :class:`UserError`.

This module is the only place that knows these names and the keys inside the files; the runner
writes through it and the analyses, plots and the search read through it. Checkpoints hold only
tensors, numbers, strings and lists/dicts of those, so they load with
``torch.load(weights_only=True)``: opening one never runs code from it.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import torch

from .errors import UserError, first_line, missing_file_error

__all__ = [
    "RunDir",
    "Checkpoint",
    "Snapshot",
    "Summary",
    "MetricsRow",
    "WeightsFile",
    "save_checkpoint",
    "atomic_write",
    "load_checkpoint",
    "export_safetensors",
    "read_weights_file",
    "read_history",
    "remove_stale_temp_files",
    "checkpoint_epoch",
    "FORMAT_VERSION",
]

FORMAT_VERSION = 1
PathLike = Union[str, Path]
_EPOCH_FILE = re.compile(r"epoch[_-]?(\d+)", re.IGNORECASE)


# -- files ------------------------------------------------------------------------------------
def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


_TEMP_FILE = re.compile(r"^\..+\.tmp-(\d+)$")


def atomic_write(path: PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file through a temporary one and a rename, so that readers never see half a file.

    Args:
        path: Destination.
        write: Writes the content to the path it is given.

    Returns:
        The path written.

    Raises:
        UserError: When the disk is full, or the folder read-only or not writable; the temporary
            file is gone and the previous file at ``path`` is kept.
    """
    path = Path(path)
    tmp = _temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        written = tmp.stat().st_size if tmp.exists() else 0
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            need = max(written, path.stat().st_size if path.exists() else 0) / 2**20
            raise UserError(
                f"no space left in {path.parent} to write {path.name} (at least {need:.0f} MB); free space there or choose another "
                "--output, then --resume: the last complete checkpoint is kept"
            ) from None
        if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise UserError(f"cannot write {path.name} in {path.parent} ({err.strerror}); make it writable or choose another --output") from None
        raise
    return path


def save_checkpoint(state: dict[str, Any], path: PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: a crash mid-write never leaves a broken file.

    Args:
        state: The checkpoint dict.
        path: Destination.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())

    return atomic_write(path, write)


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu", *, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Args:
        path: Checkpoint file.
        map_location: Where to put the tensors.
        mmap: Memory-map the file instead of reading it (cheap peeks at large files).

    Returns:
        The checkpoint dict.

    Raises:
        UserError: If the file is missing or not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise missing_file_error(path, "checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise UserError(f"cannot load checkpoint {path} ({first_line(err)}); is it a complete efficienttrain checkpoint?") from None


def export_safetensors(state_dict: dict[str, torch.Tensor], path: PathLike, metadata: Optional[dict[str, str]] = None) -> Path:
    """Save a model state dict as safetensors, atomically (shared tensors are cloned first).

    Args:
        state_dict: Model weights.
        path: Destination ``.safetensors`` file.
        metadata: String metadata stored in the header.

    Returns:
        The path written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata or {}))


def read_history(run_dir: PathLike) -> list["MetricsRow"]:
    """Read the per-epoch rows of a run directory's ``metrics.jsonl``.

    Args:
        run_dir: Run directory.

    Returns:
        The rows, in order, as :class:`MetricsRow` (``row.top1``; ``row["top1"]`` also reads).

    Raises:
        FileNotFoundError: If the run has no metrics.
    """
    return RunDir(run_dir).history()


def _plain(value: Any) -> Any:
    """Tuples become lists, recursively (YAML, JSON and weights_only loading all want lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- records ----------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """``last.pt``: the complete state of a run at a step boundary.

    Attributes:
        config: The run's config (``TrainConfig.to_dict()``).
        curriculum: The curriculum (``Curriculum.to_dict()``); a resume must use the same.
        model: Model weights.
        optimizer: Optimizer state.
        scheduler: LR scheduler state.
        sampler: Position of the sampler (:class:`~efficienttrain.data.SamplerState` as a dict).
        num_updates: Optimizer updates so far.
        rng: States of the global generators (Python, NumPy, torch, CUDA).
        history: The per-epoch metric rows so far.
        train_time: Training wall time of the completed epochs.
        total_time: The same with evaluation.
        epoch_elapsed: Training time already spent in the interrupted epoch.
        epoch_tally: The interrupted epoch's running sums (loss, batches, images, data wait).
        world_size: Processes of the run.
        final_size: Final (evaluation) input size.
        num_classes: Classes of the data.
        steps: Settings that fix the sample order and the step count (must match on resume).
        objective: The training objective (``classification`` or ``mae``).
        ema: EMA weights, if any.
        scaler: AMP grad-scaler state, if any.
        sessions: Provenance of every process that trained the run
            (:class:`~efficienttrain.provenance.Session` dicts).
        classes: Names of the data's classes (``--init-from`` judges the head by them).
        data: The training data's identity (``DatasetPair.identity()``: image count and, for an
            image folder, a digest of its file list); a resume must find the same data.
        amp: The precision the run trains in (``none``, ``bf16``, ``fp16``; empty in checkpoints
            from before it was recorded, which trained a CPU run under ``--amp auto`` in fp32).
    """

    config: dict[str, Any]
    curriculum: dict[str, Any]
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    sampler: dict[str, Any]
    num_updates: int
    rng: dict[str, Any]
    history: list[dict[str, Any]]
    train_time: float
    total_time: float
    epoch_elapsed: float
    world_size: int
    final_size: int
    num_classes: int
    steps: dict[str, int]
    objective: str = "classification"
    epoch_tally: dict[str, float] = field(default_factory=dict)
    ema: Optional[dict[str, Any]] = None
    scaler: Optional[dict[str, Any]] = None
    sessions: list[dict[str, Any]] = field(default_factory=list)
    classes: Optional[list[str]] = None
    data: dict[str, Any] = field(default_factory=dict)
    amp: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The dict written to disk (shallow: tensors are not copied)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Checkpoint":
        """Read a loaded ``last.pt``; keys missing in files of older versions take their defaults.

        Raises:
            UserError: If a required key is missing (not a resumable checkpoint).
        """
        if not isinstance(data, dict):
            raise UserError(f"the checkpoint holds a {type(data).__name__}, not a run's state; is it a resumable last.pt of an efficienttrain run?")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        defaults = {"epoch_elapsed": 0.0, "world_size": 1, "steps": {}, "history": [], "train_time": 0.0, "total_time": 0.0}
        values = {**defaults, **{k: v for k, v in data.items() if k in names}}
        missing = sorted(required - set(values))
        if missing:
            raise UserError(f"the checkpoint lacks {', '.join(missing)}; is it a resumable last.pt of an efficienttrain run?")
        problem = _checkpoint_problem(values)
        if problem:
            raise UserError(f"the checkpoint is damaged: {problem}; resume from another copy, or start afresh with --overwrite")
        return cls(**values)


def _checkpoint_problem(values: dict[str, Any]) -> Optional[str]:
    """What is wrong with a checkpoint's values (types and ranges), or ``None``."""
    kinds = {
        "config": dict, "curriculum": dict, "model": dict, "optimizer": dict, "scheduler": dict, "sampler": dict, "rng": dict,
        "history": list, "steps": dict, "num_updates": int, "world_size": int, "final_size": int, "num_classes": int,
    }  # fmt: skip
    for name, kind in kinds.items():
        if not isinstance(values[name], kind) or isinstance(values[name], bool):
            return f"{name} is a {type(values[name]).__name__}, not a {kind.__name__}"
    for name in ("num_updates", "world_size", "final_size", "num_classes"):
        if values[name] < (0 if name == "num_updates" else 1):
            return f"{name} is {values[name]}"
    for name in ("train_time", "total_time", "epoch_elapsed"):
        if not isinstance(values[name], (int, float)) or not values[name] >= 0 or values[name] == float("inf"):
            return f"{name} is {values[name]!r}"
    if not all(isinstance(v, torch.Tensor) for v in values["model"].values()):
        return "the model weights are not all tensors"
    for key in ("epoch", "start_step"):
        value = values["sampler"].get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return f"the sampler's {key} is {value!r}"
    return None


@dataclass
class Snapshot:
    """``epoch_NNN.pt``: the weights after one epoch, for analyses across training (not resumable).

    Attributes:
        config: The run's config.
        curriculum: The curriculum as a dict.
        model: Model weights.
        epoch: Epochs of training behind the weights.
        history: Metric rows up to that epoch.
        final_size: Final input size.
        num_classes: Classes of the data.
        ema: EMA weights, if any.
    """

    config: dict[str, Any]
    curriculum: dict[str, Any]
    model: dict[str, Any]
    epoch: int
    history: list[dict[str, Any]]
    final_size: int
    num_classes: int
    ema: Optional[dict[str, Any]] = None

    def to_dict(self) -> dict[str, Any]:
        """The dict written to disk, marked as a snapshot."""
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "snapshot": True}


@dataclass
class MetricsRow:
    """One epoch's row of ``metrics.csv``/``metrics.jsonl`` (and of a checkpoint's history).

    The fixed columns come first, in this order; ``extra`` holds the objective's own metrics
    (a self-supervised run's k-NN figures) and the EMA weights' ``ema_top1``/``ema_top5``.

    Attributes:
        epoch: Epoch, from 1.
        stage: Curriculum stage of the epoch's last batch, from 1.
        size: Input size of the epoch's last batch.
        magnitude: RandAugment magnitude of the epoch's last batch.
        lr: Learning rate at the epoch's end.
        train_loss: Mean training loss.
        val_loss: Validation loss.
        top1: Validation top-1 (%).
        top5: Validation top-5 (%), NaN when not measured.
        epoch_time: Seconds of training in the epoch.
        eval_time: Seconds of evaluation after it.
        train_time: Training seconds of the run so far.
        total_time: Seconds of the run so far, evaluation included.
        images_per_s: Training images per second in the epoch.
        data_wait_s: Seconds the loop waited for batches.
        data_wait_pct: That wait as a share of the epoch's training time.
        extra: Further metrics, written after the fixed columns.
    """

    epoch: int
    stage: int
    size: int
    magnitude: float
    lr: float
    train_loss: float
    val_loss: float
    top1: float
    top5: float
    epoch_time: float
    eval_time: float
    train_time: float
    total_time: float
    images_per_s: float
    data_wait_s: float
    data_wait_pct: float
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The flat row as written (fixed columns, then ``extra``'s keys)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out.update(self.extra)
        return out

    def __getitem__(self, key: str) -> Any:
        """``row["top1"]``: a column by name, as the plain dicts of earlier versions read (``extra``'s keys too).

        Raises:
            KeyError: If the row has no such column.
        """
        if key != "extra" and key in self.__dataclass_fields__:
            return getattr(self, key)
        return self.extra[key]

    def get(self, key: str, default: Any = None) -> Any:
        """A column by name, or ``default`` when the row has none."""
        try:
            return self[key]
        except KeyError:
            return default

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MetricsRow":
        """Read a row written by :meth:`to_dict`; columns older runs lack read as NaN.

        Raises:
            KeyError: If the row has no ``epoch`` or ``top1``.
        """
        fixed = [f.name for f in dataclasses.fields(cls) if f.name != "extra"]
        values = {name: data[name] if name in ("epoch", "top1") else data.get(name, float("nan")) for name in fixed}
        return cls(**values, extra={k: v for k, v in data.items() if k not in values})


@dataclass
class Summary:
    """``summary.json``: what a finished (or stopped) run reports.

    Attributes:
        name: Run name.
        model: timm model name.
        curriculum: Curriculum name.
        epochs: Length of the curriculum in epochs.
        final_size: Final input size.
        final_top1: Top-1 (%) after the last epoch (the k-NN monitor's for self-supervised runs).
        best_top1: Best top-1 over epochs.
        final_top5: Top-5 after the last epoch.
        train_time_s: Training wall time, evaluation excluded.
        total_time_s: Wall time with evaluation.
        theoretical_speedup: Speedup the pixel cost model predicts.
        completed: Whether the curriculum ran to its end.
        bad_images: Unreadable images skipped.
        config: The config with every default resolved.
        sessions: Provenance of every process that trained the run.
        final_ema_top1: Top-1 of the EMA weights, if kept.
        objective: The training objective.
        preflight: The last process's throw-away steps: ``memory_kind``, ``peak_memory_mib`` per
            input size and each step's record (empty with ``--no-preflight`` and no compile).
        compile: With ``--compile``: mode, graphs, ``compile_time_s`` (not part of
            ``train_time_s``), graphs compiled during training and sizes that ran eagerly.
        compute: Training compute: ``flops_per_image`` (forward and backward, per size),
            per-stage ``images`` and ``flops``, ``train_flops`` in total, and
            ``final_size_epoch_flops`` (one epoch at the final size) for scale.
    """

    name: str
    model: str
    curriculum: str
    epochs: float
    final_size: int
    final_top1: float
    best_top1: float
    final_top5: float
    train_time_s: float
    total_time_s: float
    theoretical_speedup: float
    completed: bool
    bad_images: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    final_ema_top1: Optional[float] = None
    objective: str = "classification"
    preflight: dict[str, Any] = field(default_factory=dict)
    compile: Optional[dict[str, Any]] = None
    compute: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (an unset EMA top-1 or compile record is left out)."""
        out = _plain(dataclasses.asdict(self))
        for key in ("final_ema_top1", "compile"):
            if out[key] is None:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Summary":
        """Read a ``summary.json`` dict; unknown keys (from newer versions) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# -- weights files of any origin ---------------------------------------------------------------
@dataclass
class WeightsFile:
    """Model weights read from a checkpoint, a snapshot, a plain state dict or a safetensors file.

    Attributes:
        path: The file.
        kind: ``checkpoint``, ``snapshot``, ``state_dict`` or ``safetensors``.
        model: The weights.
        ema: EMA weights (runner checkpoints with EMA only).
        config: The runner's config (empty when the file does not hold one).
        curriculum: The curriculum as a dict, when recorded.
        epoch: Epochs of training behind the weights, when known.
        final_size: Final input size, when recorded (files of old versions may lack it; the
            analyses then derive it from ``config``).
        num_classes: Classes, when recorded.
        model_name: timm model name, when recorded.
        classes: Names of the classes the weights were trained on, when recorded.
    """

    path: Path
    kind: str
    model: dict[str, torch.Tensor]
    ema: Optional[dict[str, torch.Tensor]] = None
    config: dict[str, Any] = field(default_factory=dict)
    curriculum: Optional[dict[str, Any]] = None
    epoch: Optional[int] = None
    final_size: Optional[int] = None
    num_classes: Optional[int] = None
    model_name: Optional[str] = None
    classes: Optional[list[str]] = None


def checkpoint_epoch(ckpt: dict[str, Any], path: Optional[PathLike] = None) -> Optional[int]:
    """How many epochs of training a loaded checkpoint or snapshot holds.

    Args:
        ckpt: The loaded dict.
        path: Its file, whose name (``epoch_012.pt``) is the last resort.

    Returns:
        The epoch count, or ``None`` when nothing tells it.
    """
    if isinstance(ckpt.get("epoch"), (int, float)):
        return int(ckpt["epoch"])
    sampler = ckpt.get("sampler")
    if isinstance(sampler, dict) and isinstance(sampler.get("epoch"), (int, float)):
        return int(sampler["epoch"])
    history = ckpt.get("history")
    if isinstance(history, list) and history and isinstance(history[-1], dict) and "epoch" in history[-1]:
        return int(history[-1]["epoch"])
    return epoch_from_name(Path(path)) if path is not None else None


def epoch_from_name(path: Path) -> Optional[int]:
    """The epoch in a snapshot's file name (``epoch_012.pt`` -> 12), or ``None``."""
    match = _EPOCH_FILE.search(path.stem)
    return int(match.group(1)) if match else None


# safetensors metadata keys holding JSON: the model's extra constructor arguments, the class names
MODEL_KWARGS_META, CLASSES_META = "model_kwargs", "classes"


def weights_meta(model_kwargs: dict[str, Any], classes: Optional[Sequence[str]]) -> dict[str, str]:
    """The safetensors metadata that lets a model be rebuilt (constructor arguments) and its head judged (class names)."""
    meta = {MODEL_KWARGS_META: json.dumps(model_kwargs, sort_keys=True)} if model_kwargs else {}
    return {**meta, CLASSES_META: json.dumps(list(classes))} if classes else meta


def _read_safetensors(path: Path, header_only: bool) -> WeightsFile:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        state = {} if header_only else load_file(str(path))
    except Exception as err:  # noqa: BLE001 - any parse failure is a bad file for the user
        raise UserError(f"cannot read {path} as safetensors ({first_line(err)}); is the file complete?") from None
    number = {k: int(meta[k]) for k in ("num_classes", "final_size") if meta.get(k, "").isdigit()}
    config = {"model_kwargs": json.loads(meta[MODEL_KWARGS_META])} if MODEL_KWARGS_META in meta else {}
    classes = json.loads(meta[CLASSES_META]) if CLASSES_META in meta else None
    return WeightsFile(path, "safetensors", state, config=config, epoch=epoch_from_name(path), model_name=meta.get("model"), classes=classes, **number)


def read_weights_file(path: PathLike, *, header_only: bool = False) -> WeightsFile:
    """Read the weights (and whatever the file records about them) from any supported file.

    Args:
        path: A runner checkpoint or snapshot (``.pt``), a plain state dict (``.pt``/``.pth``),
            or a ``.safetensors`` file.
        header_only: Memory-map ``.pt`` files and skip safetensors tensors: a cheap look at the
            config, epoch and sizes (the tensors of a mapped file are still usable).

    Returns:
        The :class:`WeightsFile`.

    Raises:
        UserError: If the file is missing, unreadable or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path, header_only)
    ckpt = load_checkpoint(path, mmap=header_only)
    if isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict):
        config = dict(ckpt.get("config") or {}) if isinstance(ckpt.get("config"), dict) else {}
        return WeightsFile(
            path,
            "snapshot" if ckpt.get("snapshot") else "checkpoint",
            ckpt["model"],
            ema=ckpt.get("ema"),
            config=config,
            curriculum=ckpt.get("curriculum") or None,
            epoch=checkpoint_epoch(ckpt, path),
            final_size=ckpt["final_size"] if isinstance(ckpt.get("final_size"), int) else None,
            num_classes=ckpt.get("num_classes"),
            model_name=config.get("model"),
            classes=ckpt.get("classes"),
        )
    if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return WeightsFile(path, "state_dict", ckpt, epoch=epoch_from_name(path))
    raise UserError(f"{path} does not hold a state dict or an efficienttrain checkpoint")


# -- the directory -----------------------------------------------------------------------------
def remove_stale_temp_files(folder: Path) -> None:
    """Remove the ``.NAME.tmp-PID`` files of :func:`atomic_write` whose writer is gone (a kill mid-write)."""
    for tmp in folder.glob(".*.tmp-*"):
        m = _TEMP_FILE.match(tmp.name)
        if m and not _pid_alive(int(m.group(1))):
            tmp.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class RunDir:
    """The files of one run directory.

    Args:
        path: The run directory (need not exist yet).
    """

    CHECKPOINT = "last.pt"
    SUMMARY = "summary.json"
    METRICS_JSONL = "metrics.jsonl"
    METRICS_CSV = "metrics.csv"
    CONFIG = "config.yaml"
    CURRICULUM = "curriculum.yaml"
    MODEL = "model.safetensors"
    MODEL_EMA = "model_ema.safetensors"
    TENSORBOARD = "tb"
    MLFLOW_RUN = "mlflow_run_id.txt"  # the MLflow run a resumed run goes on logging to
    LOCK = ".efficienttrain.lock"
    # What a run writes before its first checkpoint: a folder holding only these (a start that was
    # stopped before it saved anything) may be started afresh without --overwrite.
    _STARTED = (CONFIG, CURRICULUM, METRICS_CSV, METRICS_JSONL, TENSORBOARD, MLFLOW_RUN, LOCK)
    # What a run writes later: the folder holds a run that a fresh start would replace.
    _SAVED = (CHECKPOINT, SUMMARY, MODEL, MODEL_EMA)

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._lock_fd: Optional[int] = None
        self._created = False  # whether claim() made the folder (a run that fails to start removes it again)
        self._had_lock = False  # whether claim() found a killed run's pid in the lock file: a run's folder

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint_path(self) -> Path:
        """``last.pt``."""
        return self.path / self.CHECKPOINT

    def snapshot_path(self, epoch: int) -> Path:
        """``epoch_NNN.pt`` of an epoch."""
        return self.path / f"epoch_{epoch:03d}.pt"

    def snapshots(self) -> list[Path]:
        """The snapshot files, in epoch order."""
        found = [p for p in self.path.glob("epoch_*.pt") if epoch_from_name(p) is not None]
        return sorted(found, key=lambda p: epoch_from_name(p) or 0)

    # -- owning the folder ---------------------------------------------------------------------
    def _is_saved_file(self, name: str) -> bool:
        return name in self._SAVED or bool(re.fullmatch(r"epoch_\d+\.pt", name))

    def _is_run_file(self, name: str) -> bool:
        return name in self._STARTED or self._is_saved_file(name) or bool(re.fullmatch(r"trace_rank\d+\.jsonl", name) or _TEMP_FILE.match(name))

    def check_fresh_start(self, overwrite: bool) -> None:
        """Refuse to start a new run in a folder that holds a run or files a run does not write.

        A folder that holds only what a run writes before its first checkpoint is accepted (a
        start that was stopped early). With ``overwrite``, a previous run's files are removed;
        files a run does not write are left alone either way. A file is the run's only in a run's
        folder (locked by a run before, or holding both ``config.yaml`` and ``curriculum.yaml``):
        elsewhere a file with a run file's name is the user's, and ``overwrite`` refuses to write over it.

        Raises:
            UserError: Naming what the folder holds and the choices (``--resume``, ``--overwrite``,
                another ``--output``).
        """
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise UserError(f"--output {self.path} is a file, not a folder; choose another --output")
        names = sorted(p.name for p in self.path.iterdir())
        run_folder = self._had_lock or {self.CONFIG, self.CURRICULUM} <= set(names)
        owned = [n for n in names if n == self.LOCK or _TEMP_FILE.match(n) or (run_folder and self._is_run_file(n))]
        saved = [n for n in owned if self._is_saved_file(n)]
        foreign = [n for n in names if n not in owned]
        if overwrite:
            clash = [n for n in foreign if self._is_run_file(n)]
            if clash:
                raise UserError(
                    f"{self.path} is not a run's folder, and a run would write over {', '.join(clash[:3])} there; "
                    "move those files, or choose another --output"
                )
            for name in owned:
                if name != self.LOCK:
                    _remove(self.path / name)
            return
        if self.CHECKPOINT in saved:
            raise UserError(f"{self.path} already holds a checkpoint; pass --resume to continue it, --overwrite to replace it, or choose another --output")
        if saved:
            raise UserError(f"{self.path} holds a run ({', '.join(saved[:3])}); pass --overwrite to replace it, or choose another --output")
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UserError(
                f"{self.path} holds files that a run does not write ({shown}); choose an empty or new --output, "
                "or pass --overwrite (files a run does not write are left alone)"
            )

    def claim(self) -> Optional[str]:
        """Take the folder's lock for this process and remove temporary files of writers that died.

        The lock is ``flock`` on :attr:`LOCK`: the kernel releases it when the process ends, however
        it ends, so a lock left by a killed run is taken over.

        Returns:
            A note when a stale lock file of a dead process was taken over, else ``None``.

        Raises:
            UserError: When another live process holds the lock (its pid is named).
        """
        import fcntl

        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--output {self.path} is a file, not a folder; choose another --output")
        try:
            self._created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create --output {self.path} ({err.strerror}); choose a writable place") from None
        lock = self.path / self.LOCK
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise UserError(f"cannot write in --output {self.path} ({err.strerror}); make it writable or choose another --output") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"another run (pid {holder}) is writing to {self.path}; wait for it to end, or choose another --output") from None
        before = os.pread(fd, 64, 0).decode(errors="replace").strip()
        self._had_lock = bool(before)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        self._remove_stale_temps()
        return f"took over the lock of pid {before}, which no longer runs" if before and before != str(os.getpid()) else None

    def release(self) -> None:
        """Release the lock taken by :meth:`claim` (the lock file stays, emptied).

        A run that failed before writing anything leaves no trace: a folder that :meth:`claim`
        made, and that holds only the lock, is removed again.
        """
        if self._lock_fd is None:
            return
        os.ftruncate(self._lock_fd, 0)  # an empty lock file: its holder ended cleanly (a pid left in it means a killed run)
        os.close(self._lock_fd)
        self._lock_fd = None
        if self._created and [p.name for p in self.path.iterdir()] == [self.LOCK]:
            (self.path / self.LOCK).unlink(missing_ok=True)
            self.path.rmdir()

    def _remove_stale_temps(self) -> None:
        remove_stale_temp_files(self.path)

    # -- writing ------------------------------------------------------------------------------
    def append_trace(self, rank: int, record: dict[str, Any]) -> None:
        """Add one record to ``trace_rank<rank>.jsonl`` (``--trace``: one line per training step, for tests and debugging)."""
        with open(self.path / f"trace_rank{rank}.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def prepare(self, config: dict[str, Any], curriculum_yaml: str) -> None:
        """Create the directory and write ``config.yaml`` and ``curriculum.yaml``."""
        import yaml

        self.path.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(_plain(config), sort_keys=False)
        atomic_write(self.path / self.CONFIG, lambda tmp: tmp.write_text(text))
        atomic_write(self.path / self.CURRICULUM, lambda tmp: tmp.write_text(curriculum_yaml))

    def save_checkpoint(self, checkpoint: Checkpoint) -> Path:
        """Write ``last.pt`` atomically."""
        return save_checkpoint(checkpoint.to_dict(), self.checkpoint_path)

    def save_snapshot(self, snapshot: Snapshot) -> Path:
        """Write ``epoch_NNN.pt``."""
        return save_checkpoint(snapshot.to_dict(), self.snapshot_path(snapshot.epoch))

    def write_summary(self, summary: Summary) -> Path:
        """Write ``summary.json``."""
        text = json.dumps(summary.to_dict(), indent=2)
        return atomic_write(self.path / self.SUMMARY, lambda tmp: tmp.write_text(text))

    def export_weights(self, state_dict: dict[str, torch.Tensor], metadata: dict[str, str], *, ema: bool = False) -> Path:
        """Export final weights as ``model.safetensors`` (or ``model_ema.safetensors``)."""
        return export_safetensors(state_dict, self.path / (self.MODEL_EMA if ema else self.MODEL), metadata)

    # -- reading ------------------------------------------------------------------------------
    def load_checkpoint(self) -> Checkpoint:
        """Read ``last.pt``.

        Raises:
            UserError: If it is missing, unreadable or incomplete.
        """
        return Checkpoint.from_dict(load_checkpoint(self.checkpoint_path))

    def summary(self) -> Optional[Summary]:
        """``summary.json``, or ``None`` when the run has not written one."""
        path = self.path / self.SUMMARY
        if not path.is_file():
            return None
        return Summary.from_dict(json.loads(path.read_text()))

    def completed(self) -> bool:
        """Whether the run's summary says it ran to the end."""
        summary = self.summary()
        return bool(summary and summary.completed)

    def history(self) -> list[MetricsRow]:
        """The per-epoch metric rows, as the type the runner writes them from.

        Raises:
            FileNotFoundError: If the run has no metrics.
        """
        path = self.path / self.METRICS_JSONL
        if not path.is_file():
            raise FileNotFoundError(f"no metrics.jsonl in {self.path}; is it an efficienttrain run directory?")
        return [MetricsRow.from_dict(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]

    def weight_files(self) -> list[Path]:
        """The files an analysis across training reads: snapshots in epoch order, else the final weights.

        ``last.pt`` is added after the snapshots when it is further along than the last one.

        Raises:
            UserError: If the directory holds none.
        """
        snapshots = self.snapshots()
        last = self.checkpoint_path
        if snapshots:
            if last.is_file():
                try:
                    last_epoch = read_weights_file(last, header_only=True).epoch
                except UserError:
                    last_epoch = None
                if last_epoch is not None and last_epoch > (epoch_from_name(snapshots[-1]) or 0):
                    snapshots.append(last)
            return snapshots
        for candidate in (last, self.path / self.MODEL):
            if candidate.is_file():
                return [candidate]
        raise UserError(
            f"no checkpoints in {self.path} (looked for epoch_*.pt, last.pt, model.safetensors); "
            "train with --snapshot-every 1 to keep per-epoch weights, or pass checkpoint files"
        )
