"""Predict a curriculum's speedup before training: is the model or the data loader the limit?

For every size of the curriculum, :func:`probe` measures three things with the run's own
config (model, optimizer, transform, workers, crop):

* the **step**: crop (when the device shrinks images), forward, backward and update of the real
  model on the loader's batches, timed apart from the wait for each batch;
* the **loader**: images per second of the real data pipeline, with the configured workers, at
  that stage's settings (RandAugment magnitude, the size when the workers shrink images, and the
  replayed views), with the batches keyed by the run's own :func:`~efficienttrain.data.batch_keys`;
* the two **together**: real training steps fed by the real loader, crop included.

A stage's time per image is predicted two ways: ``pipelined``, the slower of the step and
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
from ..data.sampler import BatchGrowth, batch_keys
from ..data.worker import SampleKey
from ..data.shrink import ShrinkPlan
from ..data.stream import CurriculumStream
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
        batch: Images in each timed batch (the base batch, or the stage's grown one under ``--batch-growth``).
    """

    size: int
    epochs: float
    step_s: float
    loader_s: float
    together_s: float
    batch: int = 0

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


def curriculum_speedup(time_per_image: dict[int, float], epochs: dict[int, float], final_size: int) -> float:
    """Training at ``final_size`` throughout over the curriculum: each size's time per image, weighted by its epochs."""
    return time_per_image[final_size] * sum(epochs.values()) / sum(epochs[size] * t for size, t in time_per_image.items())


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
        round_speedups: The ``together`` prediction from each round alone: the probe's own spread.
        images_per_epoch: Images an epoch trains on each process (whole batches, as the sampler yields them).
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
    round_speedups: list[float] = field(default_factory=list)
    images_per_epoch: int = 0

    def _speedup(self, attr: str) -> float:
        return curriculum_speedup({p.size: getattr(p, attr) for p in self.sizes}, {p.size: p.epochs for p in self.sizes}, self.final_size)

    @property
    def spread(self) -> Optional[tuple[float, float]]:
        """The lowest and highest round's ``together`` speedup (``None`` with fewer than two rounds)."""
        return (min(self.round_speedups), max(self.round_speedups)) if len(self.round_speedups) >= 2 else None

    @property
    def can_tell(self) -> bool:
        """Whether the rounds agree on the sign of the effect: their range does not reach 1.0x."""
        spread = self.spread
        return spread is not None and (spread[0] > 1.0 or spread[1] < 1.0)

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
            "round_speedups": self.round_speedups, "can_tell": self.can_tell,
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
        spread = self.spread
        rounds = f" (rounds: {spread[0]:.2f}x-{spread[1]:.2f}x)" if spread else ""
        lines.append(
            f"predicted speedup: {sp['together']:.2f}x measured together{rounds}, {sp['pipelined']:.2f}x pipelined (slower of step and loader), "
            f"{sp['bare_step']:.2f}x from the step alone; pixel model {self.pixel_speedup:.2f}x"
        )
        if not self.can_tell:
            why = f"the rounds range from {spread[0]:.2f}x to {spread[1]:.2f}x, across 1.0x" if spread else "one round cannot show its own spread"
            lines.append(f"cannot tell whether the curriculum is faster here: {why}; measure longer (--batches, --rounds) on a quieter machine")
        return "\n".join(lines + self.notes)


class _PlannedSampler(Sampler[list[SampleKey]]):
    """One batch per entry of a plan of settings, keyed exactly as the run's sampler keys them (replay
    included), of the size the run's sampler gives that stage (its grown batch under ``--batch-growth``)."""

    def __init__(self, n: int, batch_size: int, settings: list[Settings], plan: ShrinkPlan, final_size: int, seed: int, growth: BatchGrowth) -> None:
        self.n, self.batch_size, self.settings = n, batch_size, settings
        self.plan, self.final_size, self.seed, self.growth = plan, final_size, seed, growth

    def __iter__(self) -> Iterator[list[SampleKey]]:
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        at = 0
        for settings in self.settings:
            fresh = self.growth.batch(settings.size, self.batch_size) // self.plan.uses_per_image(settings.size, self.final_size)
            idx = [order[(at + k) % self.n] for k in range(fresh)]
            at += fresh
            yield batch_keys(self.plan, idx, settings, seed=self.seed, epoch=0, final_size=self.final_size)

    def __len__(self) -> int:
        return len(self.settings)


def _stage_settings(curriculum: Curriculum, size: int) -> tuple[Settings, float]:
    """Settings in the middle of the first stage at ``size``, and the epochs spent at that size."""
    stages = [s for s in curriculum.stages if s.size == size]
    first = stages[0]
    return curriculum((first.start + first.end) / 2), sum(s.epochs for s in stages)


def _loader(trainer: Any, settings: list[Settings]) -> DataLoader:
    """The run's dataset and workers, fed one batch per entry of ``settings``."""
    cfg = trainer.cfg
    dataset = trainer.parts.train_loader.dataset
    workers = cfg.resolved_workers()
    extra = {"worker_init_fn": ignore_stop_signals} if workers else {}
    if isinstance(dataset, CurriculumStream):  # shards: the stream's workers form the planned batches
        return DataLoader(dataset.planned(settings, cfg.seed), batch_size=None, num_workers=workers, **extra)
    run_sampler = trainer.parts.sampler
    sampler = _PlannedSampler(len(dataset), cfg.batch_size, settings, trainer.parts.plan, run_sampler.curriculum.final_size, cfg.seed, run_sampler.growth)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, **extra)


@dataclass(frozen=True)
class _Batch:
    """One batch of the probe's plan: its size, round, and what it is for (``warm``, ``warm-step``, ``loader`` or ``train``)."""

    size: int
    round: int
    use: str


def _plan(sizes: list[int], per_round: int, warmup: int, rounds: int, prefetched: int) -> list[_Batch]:
    """Rounds over the sizes. At each size: ``warmup`` batches that train in the first round only
    (a size's first steps are slow); then the ``prefetched`` batches the workers made while the
    previous steps ran, taken untimed; ``per_round`` batches timed as the loader alone makes them;
    then ``per_round`` trained."""
    out = []
    for r in range(rounds):
        for size in sizes:
            out += [_Batch(size, r, "warm-step" if r == 0 else "warm")] * warmup + [_Batch(size, r, "warm")] * prefetched
            out += [_Batch(size, r, "loader")] * per_round + [_Batch(size, r, "train")] * per_round
    return out


Times = dict[int, tuple[list[float], list[float], list[float]]]


def _measure_rounds(trainer: Any, sizes: list[int], batches: int, warmup: int, rounds: int) -> tuple[Times, list[dict[int, float]]]:
    """Every size's step, loader-alone and together seconds per batch, and each round's median together time per size.

    One loader serves the whole plan (its workers start once); each step is timed apart from the
    wait for its batch, and each batch is trained at most once, so the probe's time goes into
    repeated rounds, whose spread it reports.
    """
    cur, parts = trainer.parts.curriculum, trainer.parts
    workers = trainer.cfg.resolved_workers()
    prefetched = 2 * workers  # DataLoader's default prefetch_factor of 2 batches a worker
    plan = _plan(sizes, max(1, math.ceil(batches / max(rounds, 1))), warmup, max(rounds, 1), prefetched)
    settings = {size: _stage_settings(cur, size)[0] for size in sizes}
    times: Times = {size: ([], [], []) for size in sizes}
    together: list[dict[int, list[float]]] = [{size: [] for size in sizes} for _ in range(max(rounds, 1))]
    state, tally = RunState(), EpochTally()
    it = iter(_loader(trainer, [settings[b.size] for b in plan]))
    for i, b in enumerate(plan):
        t0 = time.perf_counter()
        xb, yb = next(it)
        t1 = time.perf_counter()
        if b.use in ("loader", "warm"):
            times[b.size][1].extend([t1 - t0] if b.use == "loader" else [])
            continue
        trainer.train_step(state, i, xb, yb, settings[b.size], tally, update=(i + 1) % trainer.cfg.accum_steps == 0)
        parts.runtime.synchronize()
        if b.use == "train":
            t2 = time.perf_counter()
            times[b.size][0].append(t2 - t1)
            times[b.size][2].append(t2 - t0)
            together[b.round][b.size].append(t2 - t0)
    del it
    return times, [{size: statistics.median(v) for size, v in r.items()} for r in together]


def probe(cfg: TrainConfig, *, batches: int = 3, warmup: int = 1, rounds: int = 3, log: Any = print) -> ProbeReport:
    """Measure the step, the loader and both together at every size of the curriculum.

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
        trainer.parts.run_dir.release()  # a throw-away folder: nothing else will write there
        cur = trainer.parts.curriculum
        sizes = sorted(cur.sizes)
        growth = _fit_growth(trainer, log)
        times, round_together = _measure_rounds(trainer, sizes, batches, warmup, rounds)
        rows = []
        bs = trainer.cfg.batch_size
        for size in sizes:
            batch = growth.batch(size, bs)
            step_s, loader_s, together_s = (statistics.median(t) / batch for t in times[size])
            rows.append(SizeProbe(size, _stage_settings(cur, size)[1], step_s, loader_s, together_s, batch))
            log(f"  B={size} x {batch}: step {step_s * 1e3:.2f}, loader {loader_s * 1e3:.2f}, together {together_s * 1e3:.2f} ms/image")
        epochs = {row.size: row.epochs for row in rows}
        per_image = [{size: t / growth.batch(size, bs) for size, t in by.items()} for by in round_together]
        round_speedups = [curriculum_speedup(by, epochs, cur.final_size) for by in per_image]
        if cur.final_size not in cur.sizes:  # pragma: no cover - a curriculum always ends at its final size
            raise ValueError("the curriculum does not end at its final size")
        notes = []
        if growth.active:
            grown = ", ".join(f"{size} px x {batch}" for size, batch in sorted(growth.batches.items()))
            notes.append(f"note: --batch-growth: the stages below the final size are timed at their grown batches ({grown}; base {bs})")
        if trainer.cfg.resolved_workers() == 0:
            notes.append("note: with --workers 0 the main process loads the data, so the loader never overlaps the step")
        from ..provenance import git_state, machine_info, software_versions

        commit, dirty = git_state()
        provenance = {"git_commit": commit, "git_dirty": dirty, "versions": software_versions(), "machine": machine_info()}
        return ProbeReport(
            cfg.model, cur.final_size, trainer.cfg.resolved_workers(), torch.get_num_threads(), rows, cur.to_dict(), curriculum_cost(cur).speedup, notes, provenance,
            round_speedups, trainer.parts.sampler.steps_per_epoch * bs,
        )


def _fit_growth(trainer: Any, log: Any) -> BatchGrowth:
    """Under ``--batch-growth``, the grown batches the run's pre-flight would fit here (halved where
    a step runs out of memory), so that the probe times the batches the run will train."""
    from .preflight import DrySteps

    if trainer.cfg.batch_growth > 1:
        fit = dataclasses.replace(trainer.cfg, preflight=True, compile_warmup=False)
        DrySteps(fit, trainer.parts, log).preflight()
    return trainer.parts.sampler.growth
