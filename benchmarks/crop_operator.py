"""Benchmark building the 1-D crop operator: the old dense (M, N, M) sum against the closed form.

For each size pair (default 224->160, 448->320, 512->384, 640->448, 1024->768) it builds the
``(out, in)`` float64 matrix of :func:`efficienttrain.frequency.crop_operator` in two ways:

* ``dense_reference``: the construction the package used before, a copy of which is kept below: a
  phase array of shape ``(out, in, out)``, O(in * out^2) time and memory. Skipped above 640 px,
  where it would need several GiB;
* the closed form now in ``efficienttrain.frequency.build_crop_matrix`` (uncached, so each call is a fresh build
  before every build, so each build is a real one), O(in * out).

Per way and size: the build time (median of ``--repeats`` builds, timed without tracing), and from
one extra build the peak of Python-traced memory (``tracemalloc``, which sees numpy's buffers) and
the growth of the process's peak resident set (``VmHWM`` reset through ``/proc/self/clear_refs``;
``null`` where the platform does not allow it). Each memory build runs in a fresh (spawned) process:
in a process that has already built and freed large arrays, the allocator keeps freed pages and
serves later allocations from them, which hides RSS growth. It also reports the max abs difference of the
closed form from the dense reference and from an independent FFT reference (the FFT crop of the
identity's rows, which is the operator's transpose).

Writes ``benchmarks/results/crop_operator.{md,json}`` with the git commit, the library versions and
the CPU model, and checks the targets: at 640->448 the closed form builds in <= 0.2 s with a
traced peak <= 64 MiB, and it agrees with the dense reference to <= 1e-6 everywhere.

Usage::

    python -m benchmarks.crop_operator [--repeats 7] [--dense-repeats 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from efficienttrain.frequency import build_crop_matrix, clear_operator_caches, low_frequency_crop_fft
from efficienttrain.provenance import git_state, machine_info, software_versions

SIZES = ((224, 160), (448, 320), (512, 384), (640, 448), (1024, 768))
# The dense reference needs (out * in * out) float64s several times over: ~2.9 GiB at 640->448, ~9 GiB at 1024->768.
DENSE_MAX_IN = 640
MiB = 2**20


def dense_reference(in_len: int, out_len: int) -> np.ndarray:
    """The operator as the package built it before the closed form (kept as the reference).

    Args:
        in_len: Input length ``N``.
        out_len: Output length ``M``.

    Returns:
        The ``(M, N)`` float64 matrix ``S[m, n] = (1/N) sum_k w_k cos(2 pi k (m/M - n/N))``.
    """
    if out_len == in_len:
        return np.eye(in_len, dtype=np.float64)
    half = out_len // 2
    freqs = np.arange(-half, half + 1, dtype=np.float64)
    weights = np.ones_like(freqs)
    if out_len % 2 == 0:
        # The unpaired Nyquist bin receives +M/2 and -M/2 with half weight each.
        weights[0] = weights[-1] = 0.5
    m = np.arange(out_len, dtype=np.float64)[:, None, None]
    n = np.arange(in_len, dtype=np.float64)[None, :, None]
    phase = 2.0 * np.pi * freqs * (m / out_len - n / in_len)
    return (weights * np.cos(phase)).sum(-1) / in_len


def closed_form(in_len: int, out_len: int) -> np.ndarray:
    """Build the package's operator afresh (uncached, so nothing is reused)."""
    return build_crop_matrix(in_len, out_len).numpy()


def _kib_field(name: str) -> Optional[int]:
    """A ``kB`` field of ``/proc/self/status`` in bytes, or ``None`` off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the process's peak RSS (``VmHWM``) to its current RSS; False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_memory(build: Callable[[], np.ndarray]) -> tuple[float, Optional[float]]:
    """Peak traced memory and peak RSS growth of one build, in MiB.

    Args:
        build: Builds one operator.

    Returns:
        ``(tracemalloc peak, RSS growth)``; the growth is ``None`` where the peak RSS cannot be reset.
    """
    gc.collect()
    rss_ok = _reset_peak_rss()
    rss_before = _kib_field("VmRSS")
    tracemalloc.start()
    try:
        result = build()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    hwm = _kib_field("VmHWM")
    del result
    growth = (hwm - rss_before) / MiB if rss_ok and hwm is not None and rss_before is not None else None
    return peak / MiB, growth


def _memory_worker(kind: str, in_len: int, out_len: int) -> tuple[float, Optional[float]]:
    """Run :func:`measure_memory` for one construction (in a spawned child process)."""
    build = dense_reference if kind == "old" else closed_form
    return measure_memory(lambda: build(in_len, out_len))


def measure_memory_fresh(kind: str, in_len: int, out_len: int) -> tuple[float, Optional[float]]:
    """:func:`measure_memory` in a new process, so that earlier builds' freed pages cannot absorb the growth.

    Args:
        kind: ``"old"`` (the dense reference) or ``"new"`` (the closed form).
        in_len: Input length.
        out_len: Output length.

    Returns:
        ``(tracemalloc peak, RSS growth)`` in MiB, as :func:`measure_memory`.
    """
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_memory_worker, (kind, in_len, out_len))


def measure_time(build: Callable[[], np.ndarray], repeats: int) -> float:
    """Median wall time of ``repeats`` builds, in seconds (no tracing active)."""
    samples = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        build()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def fft_reference(in_len: int, out_len: int) -> np.ndarray:
    """The operator from the FFT crop: cropping the rows of the identity gives ``S^T``."""
    eye = torch.eye(in_len, dtype=torch.float64)
    return low_frequency_crop_fft(eye, (in_len, out_len)).T.numpy()


def run_case(in_len: int, out_len: int, repeats: int, dense_repeats: int) -> dict:
    """Measure both constructions at one size pair."""
    new_peak, new_rss = measure_memory_fresh("new", in_len, out_len)
    new_time = measure_time(lambda: closed_form(in_len, out_len), repeats)
    ours = closed_form(in_len, out_len)
    case: dict = {
        "size": f"{in_len}->{out_len}",
        "new": {"build_s": new_time, "tracemalloc_peak_mib": new_peak, "rss_growth_mib": new_rss, "repeats": repeats},
        "old": None,
        "max_abs_diff_vs_dense": None,
        "max_abs_diff_vs_fft": float(np.abs(ours - fft_reference(in_len, out_len)).max()),
    }
    if in_len <= DENSE_MAX_IN:
        old_peak, old_rss = measure_memory_fresh("old", in_len, out_len)
        old_time = measure_time(lambda: dense_reference(in_len, out_len), dense_repeats)
        case["old"] = {"build_s": old_time, "tracemalloc_peak_mib": old_peak, "rss_growth_mib": old_rss, "repeats": dense_repeats}
        case["max_abs_diff_vs_dense"] = float(np.abs(ours - dense_reference(in_len, out_len)).max())
    clear_operator_caches()
    return case


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="builds timed per size for the closed form")
    parser.add_argument("--dense-repeats", type=int, default=3, help="builds timed per size for the dense reference (seconds each)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    load_start = list(os.getloadavg())
    cases = []
    for in_len, out_len in SIZES:
        case = run_case(in_len, out_len, args.repeats, args.dense_repeats)
        cases.append(case)
        print(json.dumps(case), flush=True)
    load_end = list(os.getloadavg())

    at_640 = next(c for c in cases if c["size"] == "640->448")
    worst_dense = max(c["max_abs_diff_vs_dense"] for c in cases if c["max_abs_diff_vs_dense"] is not None)
    checks = [
        {"target": "640->448 closed-form build <= 0.2 s", "value": at_640["new"]["build_s"], "met": at_640["new"]["build_s"] <= 0.2},
        {
            "target": "640->448 closed-form tracemalloc peak <= 64 MiB",
            "value": at_640["new"]["tracemalloc_peak_mib"],
            "met": at_640["new"]["tracemalloc_peak_mib"] <= 64,
        },
        {
            "target": "max abs diff (closed form vs dense) <= 1e-6, all sizes with a dense build",
            "value": worst_dense,
            "met": worst_dense <= 1e-6,
        },
    ]
    commit, dirty = git_state()
    meta = {
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": software_versions(),
        "machine": machine_info(),
        "load_average_1_5_15_start": load_start,
        "load_average_1_5_15_end": load_end,
        "date": time.strftime("%Y-%m-%d"),
        "repeats": args.repeats,
        "dense_repeats": args.dense_repeats,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "crop_operator.json").write_text(json.dumps({"meta": meta, "cases": cases, "checks": checks}, indent=2))

    versions, machine = meta["versions"], meta["machine"]
    lines = [
        f"Building the 1-D crop operator (float64, cache cleared before each build): old dense (M, N, M) sum vs closed form. "
        f"Build time is the median of {args.dense_repeats} (old) / {args.repeats} (new) builds; peak memory is from one more build. "
        f"Commit {(commit or '?')[:10]}{' (dirty)' if dirty else ''}, torch {versions['torch']}, numpy {versions['numpy']}, "
        f"{machine['cpu_model']} ({machine['cpu_count']} cores), load average {load_start[0]:.2f} at start / {load_end[0]:.2f} at end, "
        f"{meta['date']}. Peak memory is measured in a fresh process per build. "
        f"The old construction is skipped above {DENSE_MAX_IN} px (it needs several GiB).",
        "",
        "| size | old build (s) | old peak, tracemalloc (MiB) | old RSS growth (MiB) | new build (ms) | new peak, tracemalloc (MiB) "
        "| new RSS growth (MiB) | speed-up | max abs diff vs old | max abs diff vs FFT |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        old, new = c["old"] or {}, c["new"]
        speedup = f"{old['build_s'] / new['build_s']:.0f}x" if old else "-"
        lines.append(
            f"| {c['size']} | {_fmt(old.get('build_s'), '.2f')} | {_fmt(old.get('tracemalloc_peak_mib'), '.0f')} "
            f"| {_fmt(old.get('rss_growth_mib'), '.0f')} | {new['build_s'] * 1e3:.1f} | {new['tracemalloc_peak_mib']:.1f} "
            f"| {_fmt(new['rss_growth_mib'], '.1f')} | {speedup} | {_fmt(c['max_abs_diff_vs_dense'], '.1e')} "
            f"| {c['max_abs_diff_vs_fft']:.1e} |"
        )
    lines += ["", "| target | value | met |", "|---|---|---|"]
    for ch in checks:
        val = f"{ch['value']:.2e}" if ch["value"] < 1e-2 else f"{ch['value']:.3g}"
        lines.append(f"| {ch['target']} | {val} | {'yes' if ch['met'] else 'NO'} |")
    (out / "crop_operator.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
