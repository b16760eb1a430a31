"""Where a run executes and how its processes agree: device, ranks, mixed precision, signals, workers.

* :func:`init_runtime` reads the ``torchrun`` environment, picks the device, starts the process
  group (with a bounded collective timeout, :func:`dist_timeout`), and resolves ``--amp``; the
  :class:`Runtime` it returns is all the loop needs to know.
* :meth:`Runtime.any_rank` is the one collective of a training step: every rank contributes its
  flags (a non-finite loss, a stop request) and every rank gets the same answers, so all take the
  same branch.
* :func:`stop_signal_handlers` routes SIGTERM/SIGINT to the loop, which saves a checkpoint at the
  next step boundary; data-loader workers ignore both (:func:`ignore_stop_signals`), and
  :func:`shutdown_loader_workers` ends them instead.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import math
import os
import signal
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from .. import _compat
from ..errors import UserError

__all__ = [
    "Runtime",
    "init_runtime",
    "dist_timeout",
    "stop_signal_handlers",
    "ignore_stop_signals",
    "track_loader",
    "shutdown_loader_workers",
]

_AMP_DTYPES: dict[str, Optional[torch.dtype]] = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Environment variable that sets how long a collective may wait for the other processes.
DIST_TIMEOUT_ENV = "EFFICIENTTRAIN_DIST_TIMEOUT_S"
#: Its default in seconds: NCCL's own default, and far below gloo's 30 minutes.
DEFAULT_DIST_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Runtime:
    """The process's place in the run.

    Attributes:
        device: Device this process trains on.
        rank: Global rank (0 when not distributed).
        world_size: Number of processes.
        amp: Mixed precision: ``none``, ``bf16`` or ``fp16``.
    """

    device: torch.device
    rank: int = 0
    world_size: int = 1
    amp: str = "none"

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, which writes the files and the logs."""
        return self.rank == 0

    @property
    def amp_dtype(self) -> Optional[torch.dtype]:
        """The autocast dtype, or ``None`` without mixed precision."""
        return _AMP_DTYPES[self.amp]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to :attr:`amp_dtype` (a no-op without mixed precision)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def any_rank(self, *flags: bool) -> tuple[bool, ...]:
        """For each flag, whether it is true on any rank: one collective for all of them.

        Every rank must call it at the same point with the same number of flags.
        """
        if self.world_size == 1:
            return tuple(bool(f) for f in flags)
        t = torch.tensor([1.0 if f else 0.0 for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return tuple(bool(v > 0) for v in t.tolist())

    def min_over_ranks(self, *values: int) -> tuple[int, ...]:
        """For each value, its smallest value over the ranks: one collective for all of them.

        Every rank must call it at the same point with the same number of values.
        """
        if self.world_size == 1 or not values:
            return tuple(int(v) for v in values)
        t = torch.tensor([float(v) for v in values], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return tuple(int(v) for v in t.tolist())

    def sync_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's buffers (batch-norm statistics), as DDP does before a forward."""
        if self.world_size > 1:
            for buf in model.buffers():
                dist.broadcast(buf, src=0)

    def synchronize(self) -> None:
        """Wait for the device (so that wall times include queued CUDA work)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was requested but no CUDA device is available; use --device cpu")
    return torch.device("cuda", local_rank) if device.type == "cuda" and device.index is None else device


def dist_timeout() -> datetime.timedelta:
    """How long a collective (or the start of the process group) may wait for the other processes.

    Read from the environment variable ``EFFICIENTTRAIN_DIST_TIMEOUT_S`` (seconds, default 600).
    When a process of the run dies on a machine that stays up, the others see its connections
    close and fail at once (and ``torchrun`` stops them); when a whole machine disappears, nothing
    closes, and only this timeout ends the wait (gloo's own default is 30 minutes). Raise it if a
    step can legitimately keep the other ranks waiting longer, e.g. rank 0 writing a very large
    checkpoint to slow storage while the others wait in the next step's collective.

    Returns:
        The timeout.

    Raises:
        UserError: If the variable is set but is not a positive number of seconds.
    """
    raw = os.environ.get(DIST_TIMEOUT_ENV, "").strip()
    if not raw:
        return datetime.timedelta(seconds=DEFAULT_DIST_TIMEOUT_S)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(
            f"{DIST_TIMEOUT_ENV}={raw!r} is not a positive number of seconds; unset it for the default ({DEFAULT_DIST_TIMEOUT_S:g})"
        )
    return datetime.timedelta(seconds=seconds)


def init_runtime(device: str = "auto", amp: str = "auto", threads: Optional[int] = None, deterministic: bool = False) -> Runtime:
    """Set up this process for training: device, process group, threads, determinism, AMP.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) this starts the process group (NCCL on CUDA, else
    gloo) with the timeout of :func:`dist_timeout` (``EFFICIENTTRAIN_DIST_TIMEOUT_S``, default
    600 s): a collective whose peers are gone fails after at most that long instead of hanging.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: ``auto`` (bf16, else fp16, on CUDA; off on CPU), ``none``, ``bf16`` or ``fp16``.
        threads: torch CPU threads (default: torch's choice).
        deterministic: Use deterministic algorithms.

    Returns:
        The :class:`Runtime`.

    Raises:
        UserError: If CUDA is requested but missing, or ``EFFICIENTTRAIN_DIST_TIMEOUT_S`` is invalid.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dev = _device(device, int(os.environ.get("LOCAL_RANK", "0")))
    if world_size > 1 and not dist.is_initialized():
        timeout = dist_timeout()  # a bad value is reported before anything is started
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", timeout=timeout)
    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if amp == "auto":
        amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if dev.type == "cuda" else "none"
    return Runtime(dev, rank, world_size, amp)


@contextlib.contextmanager
def stop_signal_handlers(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Route SIGTERM and SIGINT to ``handler`` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def ignore_stop_signals(_worker_id: int) -> None:
    """Data-loader worker initialiser: leave SIGINT/SIGTERM to the main process.

    A Ctrl-C or a scheduler's SIGTERM usually reaches the whole process group. If the workers died
    of it, the main process would fail on its next batch instead of saving a checkpoint at the next
    step boundary. The main process stops the workers itself (:func:`shutdown_loader_workers`),
    since they no longer die of the SIGTERM that ``multiprocessing`` sends at interpreter exit.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


_LOADERS: "weakref.WeakSet[DataLoader]" = weakref.WeakSet()
_AT_EXIT = threading.Lock()
_registered = False


def track_loader(loader: DataLoader) -> None:
    """Remember a loader whose workers ignore stop signals, so that they are ended at exit."""
    global _registered
    with _AT_EXIT:
        if not _registered:
            # Runs before multiprocessing's own exit handler, which would otherwise wait on them.
            atexit.register(shutdown_loader_workers)
            _registered = True
    _LOADERS.add(loader)


def shutdown_loader_workers(loaders: Optional[list[DataLoader]] = None) -> None:
    """Stop the (persistent) workers of data loaders by asking them to exit.

    Args:
        loaders: Loaders to stop (default: every loader passed to :func:`track_loader`).
    """
    for loader in list(loaders if loaders is not None else _LOADERS):
        _compat.shutdown_loader_workers(loader)
