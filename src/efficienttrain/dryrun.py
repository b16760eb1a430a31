"""Throw-away training steps that leave no trace, and the peak memory they reach.

A pre-flight step at the largest size of a curriculum finds out before the first epoch whether
the run fits in memory, and a step at each size compiles a ``torch.compile``-d model before its
stage starts. Both must leave the run exactly as if they had not happened, or a run with the
check would end with other weights than one without it. :func:`preserved_training_state` saves
what a step changes (parameters, buffers such as batch-norm statistics, gradients, optimizer
and grad-scaler state, and the global random generators) and puts it back.

:class:`MemoryMeter` measures a step's peak memory: CUDA's maximum allocated bytes on a GPU; on a
CPU the growth of the process's resident set. Linux resets the kernel's peak (``VmHWM``) through
``/proc/self/clear_refs``; some sandboxes accept that write and ignore it, so the reset is
checked, and where it did not take a thread samples ``VmRSS`` every few milliseconds instead
(which can miss a peak shorter than the interval; the ``kind`` says which was used).
"""

from __future__ import annotations

import contextlib
import copy
import random
import resource
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import nn

__all__ = ["preserved_training_state", "MemoryMeter"]

_MIB = float(1 << 20)
_RESET_SLACK_KIB = 8 << 10  # pages the reset itself may touch


@contextlib.contextmanager
def preserved_training_state(
    model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None, scaler: Optional[Any] = None
) -> Iterator[None]:
    """Run the block, then restore the model, optimizer, scaler and random generators.

    Args:
        model: The model; parameters, buffers and ``.grad`` are restored in place, so an
            optimizer (and a compiled or DDP wrapper) keeps referring to the same tensors.
        optimizer: An optimizer whose state (moments, step counts) is restored.
        scaler: A ``torch.amp.GradScaler`` whose scale is restored.
    """
    weights = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    opt_state = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    scaler_state = copy.deepcopy(scaler.state_dict()) if scaler is not None else None
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        with torch.no_grad():
            model.load_state_dict(weights)
            for p, g in zip(model.parameters(), grads):
                p.grad = g
        if optimizer is not None:
            optimizer.load_state_dict(opt_state)
        if scaler is not None:
            scaler.load_state_dict(scaler_state)


def _status_kib(key: str) -> Optional[int]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _max_rss_kib() -> int:
    # ru_maxrss is KiB on Linux and bytes on macOS.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak resident set to the current one; False where that did not take."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: peak RSS := current RSS
    except OSError:
        return False
    peak, now = _status_kib("VmHWM"), _status_kib("VmRSS")
    # A sandbox may accept the write and keep the old peak, or keep no peak at all.
    return peak is not None and now is not None and abs(peak - now) <= _RESET_SLACK_KIB


class _RssSampler:
    """A daemon thread that records the largest ``VmRSS`` seen until stopped."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.max_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="efficienttrain-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_kib = max(self.max_kib, _status_kib("VmRSS") or 0)
            self._stop.wait(self.interval_s)

    def start(self) -> "_RssSampler":
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.max_kib


class MemoryMeter:
    """Peak memory of a block of work on one device, in MiB.

    On CUDA: ``torch.cuda.max_memory_allocated`` over the block (everything allocated: model,
    optimizer state, activations); ``kind`` is ``cuda_max_allocated``. On a CPU: how far the
    process's resident set rose above its level at the start of the block, read from the kernel's
    reset peak (``cpu_peak_rss_growth``) or, where that reset does not take, from a sampling
    thread (``cpu_sampled_rss_growth``).

    Args:
        device: The device the work runs on.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss_growth"
        self._start_kib = 0
        self._sampler: Optional[_RssSampler] = None

    def start(self) -> None:
        """Begin a measurement."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        rss = _status_kib("VmRSS")
        if rss is None:  # no /proc (macOS): the lifetime peak, whose growth is a lower bound
            self.kind, self._start_kib, self._sampler = "cpu_lifetime_peak_growth", _max_rss_kib(), None
            return
        self._start_kib = rss
        if _reset_peak_rss():
            self.kind = "cpu_peak_rss_growth"
            self._sampler = None
        else:
            self.kind = "cpu_sampled_rss_growth"
            self._sampler = _RssSampler().start()

    def peak_mib(self) -> float:
        """Peak memory since :meth:`start`, in MiB; ends a sampled measurement."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / _MIB
        if self.kind == "cpu_lifetime_peak_growth":
            return max(0, _max_rss_kib() - self._start_kib) / 1024.0
        now = _status_kib("VmRSS") or 0
        if self._sampler is not None:
            peak = max(self._sampler.stop(), now)
            self._sampler = None
        else:
            peak = max(_status_kib("VmHWM") or 0, now)
        return max(0, peak - self._start_kib) / 1024.0
