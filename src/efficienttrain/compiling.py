"""``torch.compile`` for a curriculum: one static-shape graph per stage size, none of them eager.

A curriculum changes the input size a few times per run. Compiled naively, a model either
recompiles with dynamic shapes (slower kernels for every size) or, after dynamo's recompile limit
(8 by default, shared by every model of the same class in the process), silently runs eagerly.
:func:`compile_for_curriculum` compiles with static shapes (``dynamic=False``: one specialised
graph per size, the fastest kernels), gives the region its own recompile limit that covers the
schedule's sizes with room to spare, and counts the graphs the backend compiles, so that a caller
can tell a size that compiled from one that fell back to eager.

Drop-in use::

    compiled = compile_for_curriculum(model, curriculum)
    for x, y in loader:
        x = crop_batch(x, sampler.settings(epoch, step))
        loss = criterion(compiled.module(x), y)
        ...

The first call at each new size compiles (tens of seconds on a CPU, less on a GPU); later calls
at that size reuse the graph. :func:`efficienttrain.dryrun.preserved_training_state` lets a loop
run a throw-away step at every size before training, so that no stage starts with a stall.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Union

import torch
from torch import nn

from . import _compat
from .curricula import Curriculum

__all__ = ["COMPILE_MODES", "CompiledModel", "compile_for_curriculum"]

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

# Graphs a run may need besides one per training size: a stage boundary inside a gradient
# accumulation window, DDP's no_sync, a last partial batch.
_SPARE_GRAPHS = 8


@dataclass
class CompiledModel:
    """A model compiled by :func:`compile_for_curriculum`, and what has been compiled so far.

    Attributes:
        module: The compiled module; call it instead of the model. It shares the model's
            parameters, so checkpoints and ``state_dict`` of the original model are unchanged.
        sizes: The input sizes the curriculum will use.
        mode: The ``torch.compile`` mode.
        backend: The ``torch.compile`` backend.
        recompile_limit: Graphs this region may compile before dynamo runs it eagerly.
        graphs: Graphs inductor has compiled for this module (several per size when the model
            has graph breaks or runs under DDP, whose optimizer splits graphs at buckets).
    """

    module: nn.Module
    sizes: tuple[int, ...]
    mode: str
    backend: str
    recompile_limit: int
    graphs: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _count(self) -> None:
        with self._lock:
            self.graphs += 1


def compile_for_curriculum(
    model: nn.Module, sizes: Union[Curriculum, Iterable[int]], *, mode: str = "default", backend: str = "inductor"
) -> CompiledModel:
    """Compile ``model`` with one static graph per input size of a curriculum.

    Args:
        model: The model (or its DDP wrapper) to compile; it is not modified.
        sizes: A :class:`~efficienttrain.curricula.Curriculum`, or the input sizes it uses.
        mode: A ``torch.compile`` mode, one of :data:`COMPILE_MODES` (inductor only).
        backend: A ``torch.compile`` backend; ``aot_eager`` traces and runs the graphs without
            generating code (quick, for debugging a model's graphs and for tests).

    Returns:
        The :class:`CompiledModel`.

    Raises:
        ValueError: On an unknown mode or backend, or no sizes.
    """
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}; choose one of {', '.join(COMPILE_MODES)}")
    size_list = tuple(sorted(set(sizes.sizes if isinstance(sizes, Curriculum) else (int(s) for s in sizes))))
    if not size_list:
        raise ValueError("compile_for_curriculum needs at least one input size")
    inner = _compat.compile_backend(backend, mode)
    limit = len(size_list) + _SPARE_GRAPHS
    compiled = CompiledModel(module=model, sizes=size_list, mode=mode, backend=backend, recompile_limit=limit)

    def counting_backend(graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        compiled._count()
        return inner(graph, example_inputs)

    compiled.module = torch.compile(model, backend=counting_backend, dynamic=False, **_compat.compile_limit_kwargs(limit))
    return compiled
