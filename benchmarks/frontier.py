"""Compute (or time) to reach an accuracy on a control's frontier, and a bootstrap over seeds for it.

A control trained at a few lengths gives points (training compute, mean top-1). Between them the
frontier is drawn as a monotone curve in log-compute: the means are first made non-decreasing
(pool-adjacent-violators, so that a noisy dip cannot make the curve fall), then joined by a
monotone piecewise-cubic Hermite interpolant (PCHIP, with Fritsch-Carlson slopes), which never
overshoots its points. A straight line in compute between neighbouring points is the cross-check.

The speedup of a run over the control is the control's compute to the run's accuracy divided by
the run's compute. Where the run's accuracy lies outside the control's points the speedup is a
bound: ``below`` (the control's shortest run is already better: an upper bound) or ``above`` (the
control's longest run does not reach it: a lower bound).

:func:`bootstrap` resamples the seeds of every point with replacement, refits, and returns the
speedups; its percentiles give the interval. The validation images are the same in every run, so
their sampling error is not in this interval; report it next to it.

Pure numpy; :mod:`report` and the tests import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

__all__ = ["isotonic", "MonotoneCurve", "Reach", "reach", "bootstrap", "Interval", "interval"]


def isotonic(y: Sequence[float]) -> np.ndarray:
    """The non-decreasing sequence closest to ``y`` in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in y:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, n2 = blocks.pop()
            m1, n1 = blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, n in blocks])


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson slopes: zero at a flat or turning point, a weighted harmonic mean elsewhere."""
    h = np.diff(x)
    delta = np.diff(y) / h
    d = np.zeros_like(y)
    if len(x) == 2:
        return np.full_like(y, delta[0])
    for k in range(1, len(x) - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    for end, (dk, dn, hk, hn) in ((0, (delta[0], delta[1], h[0], h[1])), (-1, (delta[-1], delta[-2], h[-1], h[-2]))):
        slope = ((2 * hk + hn) * dk - hk * dn) / (hk + hn)
        if slope * dk <= 0:
            slope = 0.0
        elif dk * dn < 0 and abs(slope) > abs(3 * dk):
            slope = 3 * dk
        d[end] = slope
    return d


class MonotoneCurve:
    """Top-1 as a non-decreasing function of compute, through the control's points.

    Args:
        compute: Training compute of each point (any positive unit).
        acc: Mean top-1 of each point.
        kind: ``pchip`` (monotone cubic in log-compute) or ``linear`` (straight lines in compute).
    """

    def __init__(self, compute: Sequence[float], acc: Sequence[float], kind: str = "pchip") -> None:
        if kind not in ("pchip", "linear"):
            raise ValueError(f"kind must be pchip or linear, got {kind!r}")
        order = np.argsort(compute)
        self.compute = np.asarray(compute, dtype=float)[order]
        if len(self.compute) < 2 or np.any(np.diff(self.compute) <= 0) or self.compute[0] <= 0:
            raise ValueError("a frontier needs at least two points with distinct positive compute")
        self.kind = kind
        self.x = np.log(self.compute) if kind == "pchip" else self.compute
        self.y = isotonic(np.asarray(acc, dtype=float)[order])
        self.d = _pchip_slopes(self.x, self.y) if kind == "pchip" else np.diff(self.y) / np.diff(self.x)

    def _segment(self, k: int, t: float) -> float:
        h = self.x[k + 1] - self.x[k]
        if self.kind == "linear":
            return float(self.y[k] + self.d[k] * t * h)
        t2, t3 = t * t, t * t * t
        return float((2 * t3 - 3 * t2 + 1) * self.y[k] + (t3 - 2 * t2 + t) * h * self.d[k] + (-2 * t3 + 3 * t2) * self.y[k + 1] + (t3 - t2) * h * self.d[k + 1])

    def __call__(self, compute: float) -> float:
        """Top-1 at ``compute`` (clamped to the points' range)."""
        x = math.log(compute) if self.kind == "pchip" else compute
        x = min(max(x, self.x[0]), self.x[-1])
        k = min(int(np.searchsorted(self.x, x, side="right")) - 1, len(self.x) - 2)
        return self._segment(k, (x - self.x[k]) / (self.x[k + 1] - self.x[k]))

    def inverse(self, acc: float) -> Optional[float]:
        """The least compute at which the curve reaches ``acc``; ``None`` outside its range."""
        if acc < self.y[0] or acc > self.y[-1]:
            return None
        k = int(np.searchsorted(self.y, acc, side="left"))
        if k == 0:
            return float(self.compute[0])
        lo, hi = 0.0, 1.0  # the segment k-1 rises monotonically to acc: bisect on it
        for _ in range(60):
            mid = (lo + hi) / 2
            if self._segment(k - 1, mid) < acc:
                lo = mid
            else:
                hi = mid
        x = self.x[k - 1] + hi * (self.x[k] - self.x[k - 1])
        return float(math.exp(x) if self.kind == "pchip" else x)


@dataclass(frozen=True)
class Reach:
    """The control's compute to a run's accuracy, and the run's speedup.

    Attributes:
        control_compute: The control's compute to reach the accuracy (its bound where ``how`` is
            not ``interpolated``).
        speedup: ``control_compute / run_compute``.
        how: ``interpolated``; ``below`` (the control's least point already beats the run: the
            speedup is an upper bound); ``above`` (its largest point does not reach the run: a
            lower bound).
    """

    control_compute: float
    speedup: float
    how: str


def reach(curve: MonotoneCurve, acc: float, run_compute: float) -> Reach:
    """The speedup of a run with accuracy ``acc`` after ``run_compute`` over the control's curve."""
    c = curve.inverse(acc)
    if c is not None:
        return Reach(c, c / run_compute, "interpolated")
    if acc < curve.y[0]:
        return Reach(float(curve.compute[0]), float(curve.compute[0]) / run_compute, "below")
    return Reach(float(curve.compute[-1]), float(curve.compute[-1]) / run_compute, "above")


def bootstrap(
    control: Sequence[tuple[float, Sequence[float]]], run_accs: Sequence[float], run_compute: float, *, kind: str = "pchip", n: int = 4000, seed: int = 0
) -> list[Reach]:
    """Speedups over seeds resampled with replacement, independently at every point.

    Args:
        control: ``(compute, top-1 of each seed)`` for each control point.
        run_accs: The run's top-1 for each seed.
        run_compute: The run's compute.
        kind: The curve (:class:`MonotoneCurve`).
        n: Resamples.
        seed: Seed of the resampling.

    Returns:
        One :class:`Reach` per resample.
    """
    rng = np.random.default_rng(seed)
    xs = [c for c, _ in control]
    out = []
    for _ in range(n):
        means = [float(np.mean(rng.choice(np.asarray(a, dtype=float), size=len(a)))) for _, a in control]
        acc = float(np.mean(rng.choice(np.asarray(run_accs, dtype=float), size=len(run_accs))))
        out.append(reach(MonotoneCurve(xs, means, kind), acc, run_compute))
    return out


@dataclass(frozen=True)
class Interval:
    """A percentile interval of bootstrapped speedups, with how many resamples were bounds."""

    low: float
    high: float
    level: float
    below: float
    above: float

    def text(self) -> str:
        """e.g. ``90% interval 1.21x-1.63x`` (plus the share of bounds, when any)."""
        lo = f"<= {self.low:.2f}x" if self.below > (1 - self.level) / 2 else f"{self.low:.2f}x"
        hi = f">= {self.high:.2f}x" if self.above > (1 - self.level) / 2 else f"{self.high:.2f}x"
        bounds = f"; {self.below:.0%} of resamples below the control's points, {self.above:.0%} above" if self.below or self.above else ""
        return f"{self.level:.0%} interval {lo}-{hi}{bounds}"


def interval(reaches: Sequence[Reach], level: float = 0.9) -> Interval:
    """The central ``level`` percentile interval of the speedups (bounds counted as their value)."""
    values = np.array([r.speedup for r in reaches])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    share = lambda how: sum(r.how == how for r in reaches) / len(reaches)  # noqa: E731
    return Interval(float(low), float(high), level, share("below"), share("above"))
