"""Throw-away training steps that leave no trace, and the peak memory they reach.

A pre-flight step at the largest size of a curriculum finds out before the first epoch whether
the run fits in memory, and a step at each size compiles a ``torch.compile``-d model before its
stage starts. Both must leave the run exactly as if they had not happened, or a run with the
check would end with other weights than one without it. :func:`preserved_training_state` saves
what a step changes (parameters, buffers such as batch-norm statistics, gradients, optimizer
and grad-scaler state, and the global random generators) and puts it back.

:class:`MemoryMeter` measures a step's peak memory: CUDA's maximum allocated bytes on a GPU; on a
CPU the growth of the process's peak resident set (Linux resets the peak through
``/proc/self/clear_refs``; elsewhere the lifetime peak is used, a lower bound).
"""

from __future__ import annotations

import contextlib
import copy
import random
import resource
import sys
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch import nn

__all__ = ["preserved_training_state", "MemoryMeter"]

_MIB = float(1 << 20)


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


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: peak RSS := current RSS
        return True
    except OSError:
        return False


class MemoryMeter:
    """Peak memory of a block of work on one device, in MiB.

    On CUDA: ``torch.cuda.max_memory_allocated`` over the block (everything allocated: model,
    optimizer state, activations). On a CPU: how far the process's peak resident set rose above
    its resident set at the start of the block.

    Args:
        device: The device the work runs on.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss_growth"
        self._start_kib = 0

    def start(self) -> None:
        """Begin a measurement."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        _reset_peak_rss()
        self._start_kib = _status_kib("VmRSS") or 0

    def peak_mib(self) -> float:
        """Peak memory since :meth:`start`, in MiB."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / _MIB
        peak = _status_kib("VmHWM")
        if peak is None:
            # ru_maxrss is KiB on Linux and bytes on macOS; a lifetime peak.
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
        return max(0, peak - self._start_kib) / 1024.0
