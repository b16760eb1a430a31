"""Algorithm 1 (the greedy schedule search) and a budget-constrained variant.

**Algorithm 1.** Training is split into ``N`` equal stages, all at the final size to begin with.
Going from stage ``N-1`` back to stage 1, the search lowers the size of stage ``i`` *and of every
stage before it* to the smallest candidate ``B`` for which a proxy run still reaches the baseline
accuracy ``a0`` (minus a tolerance); later stages keep the sizes already found. The minimisation
is a linear search that walks the candidates downwards from the size of stage ``i + 1`` and stops
at the first one that misses the target, so, if accuracy does not rise as sizes shrink, it finds
the smallest feasible size with as few trials as possible.

**Budgeted variant** (in the style of EfficientTrain++). The total cost is fixed instead: every
stage costs ``budget / N`` final-size epochs, so a stage at size ``B`` lasts
``(final / B)^2 * budget / N`` epochs. Going from stage 1 forward, each stage tries every
candidate no larger than the next stage's size and keeps the one with the best accuracy.

Every trial goes through an ``evaluate(sizes) -> accuracy`` callable; :class:`RunnerEvaluator`
trains a proxy model with the recipe runner. Trials are cached in a JSON log, so a search that
is interrupted and started again re-uses the finished ones.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from ..cost import curriculum_cost
from ..curricula import Curriculum, budgeted_staircase, staircase

__all__ = [
    "Trial",
    "SearchLog",
    "SearchResult",
    "greedy_search",
    "budgeted_search",
    "staircase",  # re-exported from efficienttrain.curricula, where it lives
    "budgeted_staircase",
]

Evaluator = Callable[[tuple[int, ...]], float]


@dataclass
class Trial:
    """One evaluated schedule."""

    sizes: list[int]
    accuracy: float
    relative_cost: float
    seconds: float = 0.0
    note: str = ""


@dataclass
class SearchLog:
    """Trials cached on disk as JSON, keyed by the stage sizes.

    Args:
        path: JSON file (created on the first trial); ``None`` keeps the log in memory.
        fingerprint: Description of the search settings; a log made with other settings is
            refused instead of silently mixed in.
    """

    path: Optional[Path]
    fingerprint: dict[str, Any] = field(default_factory=dict)
    trials: dict[str, Trial] = field(default_factory=dict)
    baseline: Optional[float] = None

    @staticmethod
    def key(sizes: Sequence[int]) -> str:
        return "-".join(str(int(s)) for s in sizes)

    @classmethod
    def open(cls, path: Union[str, Path, None], fingerprint: dict[str, Any]) -> "SearchLog":
        """Load the log at ``path`` if it exists (checking its fingerprint), else start one.

        Raises:
            ValueError: If the file exists but was made with different search settings.
        """
        if path is None:
            return cls(None, fingerprint)
        path = Path(path)
        log = cls(path, fingerprint)
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"search log {path} was made with other settings ({data.get('fingerprint')}); use a new --log file or the same settings"
                )
            log.baseline = data.get("baseline")
            log.trials = {k: Trial(**v) for k, v in data.get("trials", {}).items()}
        return log

    def save(self) -> None:
        """Write the log atomically."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(
            json.dumps({"fingerprint": self.fingerprint, "baseline": self.baseline, "trials": {k: asdict(t) for k, t in self.trials.items()}}, indent=2)
        )
        tmp.replace(self.path)


@dataclass
class SearchResult:
    """What a search found."""

    sizes: list[int]
    curriculum: Curriculum
    baseline_accuracy: float
    trials: list[Trial]
    cached: int

    def table(self) -> str:
        """The trials in the order they were run, as text."""
        lines = [f"{'#':>3}  {'sizes':<32} {'top-1':>7} {'cost':>6}  note", "-" * 62]
        for i, t in enumerate(self.trials, start=1):
            lines.append(f"{i:>3}  {str(t.sizes):<32} {t.accuracy:>6.2f}% {t.relative_cost:>6.3f}  {t.note}")
        return "\n".join(lines)


def _equal_stage_cost(final_size: int, epochs: float) -> Callable[[Sequence[int]], float]:
    def cost(sizes: Sequence[int]) -> float:
        return curriculum_cost(staircase(sizes, epochs, final_size)).relative_cost

    return cost


def _check(n_stages: int, candidates: Sequence[int], final_size: int) -> list[int]:
    if n_stages < 2:
        raise ValueError(f"the search needs at least 2 stages, got {n_stages}")
    cands = sorted({int(c) for c in candidates})
    if not cands or cands[0] <= 0:
        raise ValueError("candidate sizes must be positive integers")
    if cands[-1] > final_size:
        raise ValueError(f"candidate size {cands[-1]} is above the final size {final_size}")
    return [c for c in cands if c < final_size]


class _Runner:
    """Runs trials through the cache and reports them."""

    def __init__(self, evaluate: Evaluator, log: SearchLog, cost: Callable[[Sequence[int]], float], report: Callable[[str], None]) -> None:
        self.evaluate = evaluate
        self.log = log
        self.cost = cost
        self.report = report
        self.order: list[Trial] = []
        self.cached = 0

    def __call__(self, sizes: Sequence[int], note: str = "") -> Trial:
        key = SearchLog.key(sizes)
        if key in self.log.trials:
            trial = self.log.trials[key]
            self.cached += 1
            self.report(f"trial {len(self.order) + 1}: {list(sizes)} -> {trial.accuracy:.2f}% (cached)")
        else:
            self.report(f"trial {len(self.order) + 1}: {list(sizes)} ...")
            t0 = time.perf_counter()
            acc = float(self.evaluate(tuple(int(s) for s in sizes)))
            trial = Trial(list(int(s) for s in sizes), acc, self.cost(sizes), time.perf_counter() - t0)
            self.log.trials[key] = trial
            self.log.save()
            self.report(f"trial {len(self.order) + 1}: {list(sizes)} -> {acc:.2f}% ({trial.seconds:.0f}s)")
        trial = Trial(**{**asdict(trial), "note": note})
        self.order.append(trial)
        return trial


def greedy_search(
    evaluate: Evaluator,
    *,
    n_stages: int,
    candidates: Sequence[int],
    final_size: int,
    epochs: float,
    baseline_accuracy: Optional[float] = None,
    tolerance: float = 0.0,
    log: Optional[SearchLog] = None,
    report: Callable[[str], None] = print,
) -> SearchResult:
    """Algorithm 1: minimise each stage's size, last stage first, keeping accuracy >= a0 - tol.

    Args:
        evaluate: Trains a proxy with the given per-stage sizes and returns its accuracy.
        n_stages: ``N``, the number of equal stages.
        candidates: Sizes to consider (those >= ``final_size`` are ignored).
        final_size: Final input size.
        epochs: ``T``; only used to build the returned curriculum.
        baseline_accuracy: ``a0``; when ``None`` it is measured with all stages at the final size.
        tolerance: Allowed drop below ``a0`` (accuracy points).
        log: Trial cache (default: in memory).
        report: Receives progress lines.

    Returns:
        The :class:`SearchResult` with the sizes found and the curriculum.

    Raises:
        ValueError: On fewer than 2 stages or invalid candidates.
    """
    cands = _check(n_stages, candidates, final_size)
    log = log or SearchLog(None)
    run = _Runner(evaluate, log, _equal_stage_cost(final_size, epochs), report)
    sizes = [final_size] * n_stages
    if baseline_accuracy is None:
        baseline_accuracy = log.baseline if log.baseline is not None else run(sizes, "baseline a0").accuracy
    log.baseline = baseline_accuracy
    log.save()
    target = baseline_accuracy - tolerance
    report(f"baseline a0 = {baseline_accuracy:.2f}%, target >= {target:.2f}%")
    for i in range(n_stages - 2, -1, -1):  # 0-based stage i = paper's N-1 ... 1
        best = sizes[i + 1]
        for b in sorted((c for c in cands if c < sizes[i + 1]), reverse=True):
            trial_sizes = [b] * (i + 1) + sizes[i + 1 :]
            trial = run(trial_sizes, f"stage {i + 1}: B={b}")
            if trial.accuracy >= target:
                best = b
                trial.note += " ok"
            else:
                trial.note += " below target"
                break
        sizes[: i + 1] = [best] * (i + 1)
        report(f"stage {i + 1}: B = {best} -> {sizes}")
    cur = staircase(sizes, epochs, final_size)
    return SearchResult(sizes, cur, baseline_accuracy, run.order, run.cached)


def budgeted_search(
    evaluate: Evaluator,
    *,
    n_stages: int,
    candidates: Sequence[int],
    final_size: int,
    budget: float,
    log: Optional[SearchLog] = None,
    report: Callable[[str], None] = print,
) -> SearchResult:
    """Fixed total cost: pick each stage's size, first stage first, by the best accuracy.

    Each stage costs ``budget / N`` epochs at the final size whatever its size, so a smaller
    size buys more epochs. Sizes never shrink as training goes on: stage ``i`` considers only
    candidates between the size chosen for stage ``i - 1`` and the final size.

    Args:
        evaluate: Trains a proxy with the given sizes (as a :func:`budgeted_staircase`) and returns its accuracy.
        n_stages: Number of stages.
        candidates: Sizes to consider.
        final_size: Final input size (the last stage always uses it).
        budget: Total cost in epochs at the final size.
        log: Trial cache.
        report: Receives progress lines.

    Returns:
        The :class:`SearchResult`; ``baseline_accuracy`` is that of the all-final-size schedule.
    """
    cands = _check(n_stages, candidates, final_size)
    log = log or SearchLog(None)
    # Every budgeted trial costs the budget; the column shows the cost relative to training for
    # the same number of epochs at the final size, i.e. how many more epochs the budget bought.
    run = _Runner(evaluate, log, lambda sz: curriculum_cost(budgeted_staircase(sz, budget, final_size)).relative_cost, report)
    sizes = [final_size] * n_stages
    base = run(sizes, "all at final size")
    log.baseline = base.accuracy
    log.save()
    best_acc = base.accuracy
    for i in range(n_stages - 1):
        best_b = sizes[i]
        floor = sizes[i - 1] if i > 0 else 0  # sizes never shrink as training goes on
        for b in sorted((c for c in cands if floor <= c < sizes[i]), reverse=True):
            trial = run(sizes[:i] + [b] + sizes[i + 1 :], f"stage {i + 1}: B={b}")
            if trial.accuracy > best_acc:
                best_acc, best_b = trial.accuracy, b
        sizes[i] = best_b
        report(f"stage {i + 1}: B = {best_b} -> {sizes} ({best_acc:.2f}%)")
    cur = budgeted_staircase(sizes, budget, final_size)
    return SearchResult(sizes, cur, base.accuracy, run.order, run.cached)

