"""Predict a curriculum's speedup before training: is the model or the data loader the limit?

For every size of the curriculum, :func:`probe` measures three things with the run's own
config (model, optimizer, transform, workers, crop):

* the **bare step**: forward, backward and update of the real model on batches already at size
  ``B`` (no loading, no crop);
* the **loader**: images per second of the real data pipeline, with the configured workers, at
  that stage's settings (RandAugment magnitude, the size when the workers shrink images, and the
  replayed views), with the batches keyed by the run's own :func:`~efficienttrain.data.batch_keys`;
* the two **together**: real training steps fed by the real loader, crop included.

A stage's time per image is predicted two ways: ``pipelined``, the slower of the bare step and
the loader (what a GPU with a CPU loader approaches, where the two run on separate hardware), and
``together``, as measured (what a machine delivers where the loader and the model share cores,
such as a CPU-only one). The report names each stage's bottleneck and, where the loader is the
limit, the worker count that would remove it. Nothing is written to the run's output directory.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import torch
from torch.utils.data import DataLoader, Sampler

from ..curricula import Curriculum, Settings
from ..data.sampler import SampleKey, batch_keys
from ..data.shrink import ShrinkPlan
from .config import TrainConfig
from .distributed import ignore_stop_signals
from .state import EpochTally, RunState

__all__ = ["SizeProbe", "ProbeReport", "probe"]


@dataclass
class SizeProbe:
    """What one size of the curriculum costs, per image.

    Attributes:
        size: Input size ``B``.
        epochs: Epochs the curriculum spends at this size.
        step_s: Bare training step, seconds per image.
        loader_s: Data pipeline alone, seconds per image (with the configured workers).
        together_s: Training fed by the loader, seconds per image.
    """

    size: int
    epochs: float
    step_s: float
    loader_s: float
    together_s: float

    @property
    def pipelined_s(self) -> float:
        """The slower of the step and the loader."""
        return max(self.step_s, self.loader_s)

    @property
    def bottleneck(self) -> str:
        """``model`` or ``loader``."""
        return "loader" if self.loader_s > self.step_s else "model"

    def workers_needed(self, workers: int) -> Optional[int]:
        """Workers at which the loader would keep up with the step (``None`` if it already does)."""
        if self.loader_s <= self.step_s:
            return None
        return math.ceil(max(workers, 1) * self.loader_s / self.step_s)


@dataclass
class ProbeReport:
    """The probe's measurements and predictions.

    Attributes:
        model: timm model name.
        final_size: Final size.
        workers: Data-loader workers.
        threads: torch threads.
        sizes: One :class:`SizeProbe` per size, smallest first.
        curriculum: The curriculum as a dict.
        pixel_speedup: The pixel cost model's prediction.
        notes: Remarks printed under the table.
        provenance: Git commit, library versions and CPU of the measurement.
    """

    model: str
    final_size: int
    workers: int
    threads: int
    sizes: list[SizeProbe]
    curriculum: dict[str, Any]
    pixel_speedup: float
    notes: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def _speedup(self, attr: str) -> float:
        by_size = {p.size: getattr(p, attr) for p in self.sizes}
        total_epochs = sum(p.epochs for p in self.sizes)
        return by_size[self.final_size] * total_epochs / sum(p.epochs * by_size[p.size] for p in self.sizes)

    @property
    def predicted_speedup(self) -> dict[str, float]:
        """Speedup over training at the final size throughout, per prediction."""
        return {"pipelined": self._speedup("pipelined_s"), "together": self._speedup("together_s"), "bare_step": self._speedup("step_s")}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the measurements, bottlenecks, worker hints and predictions."""
        rows = []
        for p in self.sizes:
            rows.append({**dataclasses.asdict(p), "pipelined_s": p.pipelined_s, "bottleneck": p.bottleneck, "workers_needed": p.workers_needed(self.workers)})
        return {
            "model": self.model, "final_size": self.final_size, "workers": self.workers, "threads": self.threads,
            "sizes": rows, "predicted_speedup": self.predicted_speedup, "pixel_speedup": self.pixel_speedup,
            "curriculum": self.curriculum, "notes": self.notes, "provenance": self.provenance,
        }  # fmt: skip

    def table(self) -> str:
        """A text table of the stages and the predicted speedups."""
        head = f"{'B':>5} {'epochs':>7} {'step':>9} {'loader':>9} {'together':>9}  bottleneck  workers to keep up"
        lines = [f"per-image times in ms; loader with {self.workers} worker(s), {self.threads} torch threads", head, "-" * len(head)]
        for p in self.sizes:
            need = p.workers_needed(self.workers)
            lines.append(
                f"{p.size:>5} {p.epochs:>7.2f} {p.step_s * 1e3:>9.2f} {p.loader_s * 1e3:>9.2f} {p.together_s * 1e3:>9.2f}  "
                f"{p.bottleneck:<10}  {need if need else '-'}"
            )
        sp = self.predicted_speedup
        lines.append(
            f"predicted speedup: {sp['together']:.2f}x measured together, {sp['pipelined']:.2f}x pipelined (slower of step and loader), "
            f"{sp['bare_step']:.2f}x from the bare step alone; pixel model {self.pixel_speedup:.2f}x"
        )
        return "\n".join(lines + self.notes)


class _FixedSettingsSampler(Sampler[list[SampleKey]]):
    """Batches that all carry one stage's settings, keyed exactly as the run's sampler keys them (replay included)."""

    def __init__(self, n: int, batch_size: int, batches: int, settings: Settings, plan: ShrinkPlan, final_size: int, seed: int) -> None:
        self.n, self.batch_size, self.batches = n, batch_size, batches
        self.settings, self.plan, self.final_size, self.seed = settings, plan, final_size, seed

    def __iter__(self) -> Iterator[list[SampleKey]]:
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        fresh = self.batch_size // self.plan.uses_per_image(self.settings.size, self.final_size)
        for b in range(self.batches):
            idx = [order[(b * fresh + k) % self.n] for k in range(fresh)]
            yield batch_keys(self.plan, idx, self.settings, seed=self.seed, epoch=0, final_size=self.final_size)

    def __len__(self) -> int:
        return self.batches


def _stage_settings(curriculum: Curriculum, size: int) -> tuple[Settings, float]:
    """Settings in the middle of the first stage at ``size``, and the epochs spent at that size."""
    stages = [s for s in curriculum.stages if s.size == size]
    first = stages[0]
    return curriculum((first.start + first.end) / 2), sum(s.epochs for s in stages)


def _loader(trainer: Any, settings: Settings, batches: int) -> DataLoader:
    cfg = trainer.cfg
    dataset = trainer.parts.train_loader.dataset
    run_sampler = trainer.parts.sampler
    sampler = _FixedSettingsSampler(len(dataset), cfg.batch_size, batches, settings, run_sampler.plan, run_sampler.curriculum.final_size, cfg.seed)
    workers = cfg.resolved_workers()
    extra = {"worker_init_fn": ignore_stop_signals} if workers else {}
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, **extra)


def _measure(trainer: Any, settings: Settings, batches: int, warmup: int) -> tuple[list[float], list[float], list[float]]:
    """Seconds per batch of the bare step, the loader, and both together at ``settings`` (after ``warmup`` batches each)."""
    cfg, parts = trainer.cfg, trainer.parts
    bs = cfg.batch_size
    state, tally = RunState(), EpochTally()
    x = torch.randn(bs, 3, settings.size, settings.size)
    y = torch.randint(0, parts.data.num_classes, (bs,))
    step_times: list[float] = []
    for i in range(warmup + batches):
        t0 = time.perf_counter()
        trainer.train_step(state, i, 10**9, x, y, settings, tally)
        parts.runtime.synchronize()
        if i >= warmup:
            step_times.append(time.perf_counter() - t0)
    loader_times: list[float] = []
    together_times: list[float] = []
    for times, train in ((loader_times, False), (together_times, True)):
        it = iter(_loader(trainer, settings, warmup + batches))
        for i in range(warmup + batches):
            t0 = time.perf_counter()
            xb, yb = next(it)
            if train:
                trainer.train_step(state, i, 10**9, xb, yb, settings, tally)
                parts.runtime.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        del it
    return step_times, loader_times, together_times


def probe(cfg: TrainConfig, *, batches: int = 12, warmup: int = 3, rounds: int = 3, log: Any = print) -> ProbeReport:
    """Measure the bare step, the loader and both together at every size of the curriculum.

    The measurements go round the sizes ``rounds`` times (each round a share of the batches), so
    that a slow spell of a shared machine falls on every size alike, and the median per size is used.

    Args:
        cfg: The training config to probe (its output settings are ignored: nothing is written there).
        batches: Timed batches per measurement and size, over all rounds.
        warmup: Untimed batches before each measurement.
        rounds: Rounds over the sizes.
        log: Receives a line per size as it is measured.

    Returns:
        The :class:`ProbeReport`.
    """
    from ..cost import curriculum_cost
    from .loop import Trainer

    with tempfile.TemporaryDirectory(prefix="efficienttrain-probe-") as tmp:
        quiet = dataclasses.replace(cfg, output=tmp, name="probe", resume=False, safetensors=False, tensorboard=False, snapshot_every=0, plot=None, trace=False)
        trainer = Trainer(quiet, log=lambda _msg: None).setup()
        cur = trainer.parts.curriculum
        sizes = sorted(cur.sizes)
        times: dict[int, tuple[list[float], list[float], list[float]]] = {size: ([], [], []) for size in sizes}
        per_round = max(1, math.ceil(batches / max(rounds, 1)))
        for _ in range(max(rounds, 1)):
            for size in sizes:
                for acc, new in zip(times[size], _measure(trainer, _stage_settings(cur, size)[0], per_round, warmup)):
                    acc.extend(new)
        rows = []
        bs = trainer.cfg.batch_size
        for size in sizes:
            step_s, loader_s, together_s = (statistics.median(t) / bs for t in times[size])
            rows.append(SizeProbe(size, _stage_settings(cur, size)[1], step_s, loader_s, together_s))
            log(f"  B={size}: step {step_s * 1e3:.2f}, loader {loader_s * 1e3:.2f}, together {together_s * 1e3:.2f} ms/image")
        if cur.final_size not in cur.sizes:  # pragma: no cover - a curriculum always ends at its final size
            raise ValueError("the curriculum does not end at its final size")
        notes = []
        if trainer.cfg.resolved_workers() == 0:
            notes.append("note: with --workers 0 the main process loads the data, so the loader never overlaps the step")
        from ..provenance import git_state, machine_info, software_versions

        commit, dirty = git_state()
        provenance = {"git_commit": commit, "git_dirty": dirty, "versions": software_versions(), "machine": machine_info()}
        return ProbeReport(
            cfg.model, cur.final_size, trainer.cfg.resolved_workers(), torch.get_num_threads(), rows, cur.to_dict(), curriculum_cost(cur).speedup, notes, provenance
        )
