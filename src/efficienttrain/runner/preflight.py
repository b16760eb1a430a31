"""Throw-away training steps of a run: the pre-flight at the largest size, and compiling each size.

A curriculum trains its smallest sizes first, so a batch that fits at 160 px can run out of
memory at the final size after 60% of the run. :class:`DrySteps` runs one full training step
(forward, backward, optimizer update) on random images at a given size, measures its time and
peak memory, and undoes it (:func:`~efficienttrain.dryrun.preserved_training_state`): a run ends
with the same weights with or without these steps.

* The pre-flight (default on, ``--no-preflight`` skips it) runs before the first epoch at every
  stage size, largest first, so that an out-of-memory error comes at once, as a one-line
  :class:`~efficienttrain.errors.UserError` that names the size, the batch and the fix. Under
  ``--compile`` it runs at the largest size and the stages grown by ``--batch-growth`` only (each
  step compiles a graph), unless ``--compile-warmup`` asks for every size.
* Under ``--compile`` the loop runs one before the first batch of each size not yet compiled, so
  that compiling happens outside the timed training steps and its time is recorded apart.
* Under ``--batch-growth`` a stage's step takes its grown batch. Where that runs out of memory,
  or on a GPU takes more than :data:`GROWTH_MEMORY_MARGIN` times the final size's peak, the
  pre-flight halves the stage's factor and tries again, down to the base batch (a resumed run
  keeps its checkpoint's factors, and only checks them).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import torch

from ..dryrun import MemoryMeter, preserved_training_state
from ..errors import UserError
from .build import TrainingParts
from .config import TrainConfig

__all__ = ["DryStep", "DrySteps", "GROWTH_MEMORY_MARGIN"]

# A grown batch of (final/B)^2 images at B holds the pixels of a base batch at the final size; its
# activations take about as much memory, and a little more where the model's fixed costs (norm
# statistics, the head) scale with the batch. 25% above the final size's peak allows that and no more.
GROWTH_MEMORY_MARGIN = 1.25


@dataclass
class DryStep:
    """One throw-away step.

    Attributes:
        size: Input size.
        batch: Images in the step (the per-process batch).
        seconds: Wall time of the step (with ``--compile``: compiling plus one step).
        peak_mib: Peak memory of the step (see :class:`~efficienttrain.dryrun.MemoryMeter`).
        graphs: Graphs compiled during the step (``--compile`` only).
    """

    size: int
    batch: int
    seconds: float
    peak_mib: float
    graphs: int = 0


@dataclass
class DrySteps:
    """The throw-away steps of one process of a run, and what they measured.

    Args:
        cfg: The run's config.
        parts: The run's parts.
        log: Receives one line per step.
        should_stop: Asked before each pre-flight step: a stop signal is honoured between steps,
            not after all of them.
    """

    cfg: TrainConfig
    parts: TrainingParts
    log: Callable[[str], None]
    should_stop: Callable[[], bool] = lambda: False
    done: dict[int, DryStep] = field(default_factory=dict)
    eager_sizes: list[int] = field(default_factory=list)
    warned_graphs: int = 0
    meter: MemoryMeter = field(init=False)

    def __post_init__(self) -> None:
        self.meter = MemoryMeter(self.parts.runtime.device)

    def preflight(self) -> None:
        """The steps before the first epoch: see the module docstring."""
        cfg = self.cfg
        sizes = sorted(set(self.parts.curriculum.sizes), reverse=True)
        if cfg.compile and not cfg.compile_warmup:
            # Each step compiles a graph, so only the largest size runs, and the grown stages: their
            # batches must be fitted before the epochs are cut (the loop then skips compiling them).
            sizes = [s for i, s in enumerate(sizes) if i == 0 or self._batch(s) != cfg.batch_size] if cfg.preflight else []
        elif not cfg.preflight and not cfg.compile_warmup:
            sizes = []
        fixed = self.parts.resume is not None  # a resume keeps the factors its batches were cut with
        for size in sizes:
            if self.should_stop():
                return
            if fixed or self._batch(size) == self.cfg.batch_size:
                self.run(size, reason="pre-flight")
            else:
                self._fit_growth(size)
        if not fixed and cfg.batch_growth > 1:
            self._agree_on_growth()

    def _agree_on_growth(self) -> None:
        """Under DDP, every rank takes the smallest grown batch any rank fitted: all must cut the epochs alike."""
        sampler, base, cur = self.parts.sampler, self.cfg.batch_size, self.parts.curriculum
        sizes = sorted(s for s in cur.sizes if s < cur.final_size)  # the same list on every rank, grown or not
        agreed = self.parts.runtime.min_over_ranks(*(sampler.growth.batch(s, base) for s in sizes))
        growth = sampler.growth
        for size, batch in zip(sizes, agreed):
            growth = growth.with_batch(size, batch, base)
        if growth != sampler.growth:
            sampler.set_growth(growth)

    def _batch(self, size: int) -> int:
        """The batch of a step at ``size``: the base batch, or the stage's grown one (``--batch-growth``)."""
        return self.parts.sampler.growth.batch(size, self.cfg.batch_size)

    def _fit_growth(self, size: int) -> None:
        """The pre-flight step at a grown stage: halve its factor until the step fits in memory."""
        sampler = self.parts.sampler
        final = self.done.get(self.parts.curriculum.final_size)
        base, quantum = self.cfg.batch_size, self.cfg.batch_quantum()
        before = self._graphs()
        while True:
            batch = self._batch(size)
            try:
                step = self._step(size)
            except (torch.OutOfMemoryError, RuntimeError) as err:
                if not _out_of_memory(err):
                    raise
                if batch == base:
                    raise UserError(self._oom_message(size)) from None
                step = None
            on_gpu = self.parts.runtime.device.type == "cuda"
            too_big = step is None or (on_gpu and final is not None and step.peak_mib > GROWTH_MEMORY_MARGIN * final.peak_mib)
            if not too_big or batch == base:
                break
            smaller = max(base, batch // 2 // quantum * quantum)
            sampler.set_growth(sampler.growth.with_batch(size, smaller, base))
            why = "ran out of memory" if step is None else f"took {step.peak_mib:.0f} MiB, over {GROWTH_MEMORY_MARGIN:g}x the final size's {final.peak_mib:.0f} MiB"
            self.log(f"pre-flight: batch {batch} at {size} px {why}; that stage trains batches of {smaller} instead")
            if on_gpu:
                torch.cuda.empty_cache()
        self._record(step, before, "pre-flight")

    def before_step(self, size: int) -> float:
        """Under ``--compile``, compile ``size`` if it is new; returns the seconds spent."""
        if self.parts.compiled is None or size in self.done:
            return 0.0
        return self.run(size, reason="compile").seconds

    def run(self, size: int, reason: str) -> DryStep:
        """One throw-away step at ``size``, logged and recorded."""
        before = self._graphs()
        return self._record(self._guarded(size, lambda: self._step(size)), before, reason)

    def _graphs(self) -> int:
        """Graphs compiled so far (0 without ``--compile``)."""
        return self.parts.compiled.graphs if self.parts.compiled is not None else 0

    def _record(self, step: DryStep, graphs_before: int, reason: str) -> DryStep:
        """Keep and log a throw-away step; under ``--compile``, with the graphs compiled since ``graphs_before``."""
        if self.parts.compiled is not None:
            step.graphs = self._graphs() - graphs_before
            if step.graphs == 0:
                self.eager_sizes.append(step.size)
        self.done[step.size] = step
        self.log(self._line(step, reason))
        return step

    def seconds(self, size: int, amp: str) -> float:
        """The wall time of one throw-away step at ``size`` in precision ``amp`` (``none``, ``bf16``, ``fp16``); not recorded."""
        return self._guarded(size, lambda: self._step(size, amp)).seconds

    def _guarded(self, size: int, step: Callable[[], DryStep]) -> DryStep:
        """``step()``, with running out of memory turned into the one-line error that names the fix."""
        try:
            return step()
        except (torch.OutOfMemoryError, RuntimeError) as err:
            if not _out_of_memory(err):
                raise
            raise UserError(self._oom_message(size)) from None

    def _step(self, size: int, amp: Optional[str] = None) -> DryStep:
        parts, cfg = self.parts, self.cfg
        runtime, objective, optim = parts.runtime, parts.objective, parts.optim
        if amp is not None:
            runtime = dataclasses.replace(runtime, amp=amp)
        batch = self._batch(size)
        # A private generator: the run's own random streams are not touched (and are restored anyway).
        gen = torch.Generator().manual_seed(size)
        x = torch.randn(batch, 3, size, size, generator=gen).to(runtime.device)
        y = torch.randint(0, max(parts.data.num_classes, 1), (batch,), generator=gen).to(runtime.device)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        self.meter.start()
        t0 = time.perf_counter()
        with preserved_training_state(parts.model, optim.optimizer, optim.scaler):
            if objective.mixup is not None:
                x, y = objective.mixup(x, y)
            with runtime.autocast():
                loss = objective.loss(parts.train_model, x, y)
            optim.backward(loss)
            if optim.scaler is not None:
                optim.scaler.step(optim.optimizer)
                optim.scaler.update()
            else:
                optim.optimizer.step()
            runtime.synchronize()
            peak = self.meter.peak_mib()
        return DryStep(size, batch, time.perf_counter() - t0, peak)

    def _oom_message(self, size: int) -> str:
        if self.parts.runtime.device.type == "cuda":
            torch.cuda.empty_cache()
        batch = self._batch(size)
        largest = "the curriculum's largest stage" if batch == self.cfg.batch_size else "its batch as --batch-growth grew it"
        return (
            f"out of memory in one training step at {size} px with batch {batch} per process ({largest}); "
            f"lower --batch-size (e.g. {max(1, batch // 2)}) and keep the effective batch with --accum-steps {2 * self.cfg.accum_steps}"
        )

    def _line(self, step: DryStep, reason: str) -> str:
        what = "compiled" if reason == "compile" or self.parts.compiled is not None else "one training step"
        extra = f", {step.graphs} graph(s)" if self.parts.compiled is not None else ""
        eager = " - NOT compiled: this size runs eagerly (dynamo's recompile limit?)" if self.parts.compiled is not None and step.graphs == 0 else ""
        return f"{reason}: {what} at {step.size} px x batch {step.batch}: {step.seconds:.2f} s{extra}, peak memory {step.peak_mib:.0f} MiB ({self.meter.kind}){eager}"

    def graphs_during_training(self) -> int:
        """Graphs compiled by training steps instead of throw-away steps (0 when all went as planned)."""
        compiled = self.parts.compiled
        return 0 if compiled is None else compiled.graphs - sum(d.graphs for d in self.done.values())

    def check_recompiles(self, epoch: int) -> None:
        """Log once per new batch of graphs that training steps compiled (each one stalled a step)."""
        extra = self.graphs_during_training()
        if extra > self.warned_graphs:
            self.log(
                f"warning: torch.compile compiled {extra - self.warned_graphs} graph(s) inside training steps by epoch {epoch + 1} "
                "(a shape or mode the per-size compile did not cover); their time counts as training time"
            )
            self.warned_graphs = extra

    def record(self) -> dict[str, Any]:
        """Peak memory per size and every step, for ``summary.json``."""
        return {
            "memory_kind": self.meter.kind,
            "peak_memory_mib": {str(s): round(d.peak_mib, 1) for s, d in sorted(self.done.items())},
            "steps": [asdict(d) for _, d in sorted(self.done.items())],
        }

    def compile_record(self) -> Optional[dict[str, Any]]:
        """Under ``--compile``: graphs, time spent compiling (apart from training time), eager sizes."""
        compiled = self.parts.compiled
        if compiled is None:
            return None
        return {
            "mode": compiled.mode,
            "backend": compiled.backend,
            "recompile_limit": compiled.recompile_limit,
            "graphs": compiled.graphs,
            "graphs_during_training": self.graphs_during_training(),
            "compile_time_s": round(sum(d.seconds for d in self.done.values()), 3),
            "eager_sizes": sorted(self.eager_sizes),
        }


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is a device (CUDA) or host (CPU allocator) out-of-memory error."""
    return isinstance(err, torch.OutOfMemoryError) or "can't allocate memory" in str(err)
