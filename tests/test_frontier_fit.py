"""The frontier fit of benchmarks/frontier.py: monotone, exact through its points, honest at its ends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from .conftest import load_benchmark


@pytest.fixture(scope="module")
def fit():
    return load_benchmark("frontier.py")


def test_isotonic_pools_violators(fit):
    assert fit.isotonic([1, 3, 2, 4]).tolist() == [1, 2.5, 2.5, 4]
    assert fit.isotonic([5, 4, 3]).tolist() == [4, 4, 4]
    assert fit.isotonic([1, 2, 3]).tolist() == [1, 2, 3]


@pytest.mark.parametrize("seed", range(5))
def test_pchip_passes_through_points_never_falls_and_inverts(fit, seed):
    rng = np.random.default_rng(seed)
    compute = np.cumsum(rng.uniform(0.5, 3.0, 5))
    acc = np.cumsum(rng.uniform(0.0, 10.0, 5)) + 40
    curve = fit.MonotoneCurve(compute, acc)
    assert [curve(c) for c in compute] == pytest.approx(acc.tolist(), abs=1e-9)
    dense = [curve(c) for c in np.linspace(compute[0], compute[-1], 2000)]
    assert all(b >= a - 1e-9 for a, b in zip(dense, dense[1:]))
    assert min(dense) >= acc[0] - 1e-9 and max(dense) <= acc[-1] + 1e-9  # no overshoot
    for c in np.linspace(compute[0], compute[-1], 17)[1:-1]:
        target = curve(c)
        found = curve.inverse(target)
        assert curve(found) == pytest.approx(target, abs=1e-6) and found <= c + 1e-6  # the least compute


def test_straight_line_in_log_compute_is_reproduced(fit):
    compute = [1.0, 2.0, 4.0, 8.0]
    acc = [60.0 + 5 * math.log2(c) for c in compute]
    curve = fit.MonotoneCurve(compute, acc)
    assert curve.inverse(67.5) == pytest.approx(2 ** 1.5, rel=1e-9)
    linear = fit.MonotoneCurve(compute, acc, kind="linear")
    assert linear.inverse(67.5) == pytest.approx(3.0, rel=1e-9)  # halfway between 2 and 4 in compute


def test_reach_reports_bounds_outside_the_points(fit):
    curve = fit.MonotoneCurve([4.0, 8.0, 12.0], [70.0, 75.0, 77.0])
    inside = fit.reach(curve, 75.0, 5.0)
    assert (inside.how, inside.speedup) == ("interpolated", pytest.approx(8.0 / 5.0))
    assert fit.reach(curve, 65.0, 2.0) == fit.Reach(4.0, 2.0, "below")
    assert fit.reach(curve, 80.0, 6.0) == fit.Reach(12.0, 2.0, "above")


def test_bootstrap_collapses_without_noise_and_spreads_with_it(fit):
    control = [(4.0, [70.0] * 3), (8.0, [75.0] * 3), (12.0, [77.0] * 3)]
    flat = fit.interval(fit.bootstrap(control, [75.0, 75.0, 75.0], 5.0, n=200))
    assert flat.low == pytest.approx(1.6) and flat.high == pytest.approx(1.6) and flat.below == flat.above == 0
    noisy = [(4.0, [69.0, 70.0, 71.0]), (8.0, [74.0, 75.0, 76.5]), (12.0, [76.0, 77.0, 78.0])]
    a = fit.interval(fit.bootstrap(noisy, [74.0, 75.0, 76.0], 5.0, n=500, seed=1))
    b = fit.interval(fit.bootstrap(noisy, [74.0, 75.0, 76.0], 5.0, n=500, seed=1))
    assert a == b and a.low < 1.6 < a.high and "90% interval" in a.text()
