"""Compare two source trees' training wall time in alternating rounds (A, B, A, B, ...).

A refactor should leave the loop's speed alone, and identical runs on a shared machine differ by
about 12% in wall time, so one run of each proves nothing. This trains the same short run with
each tree's ``src/`` in turn, round after round, for each listed mode, and reports each run's
training wall time (``summary.json``'s ``train_time_s``, evaluation excluded) and the median of
the per-round ratios B / A.

Usage::

    python -m benchmarks.ab_timing --a OLD_CHECKOUT --b NEW_CHECKOUT [--rounds 8] [--out FILE.json]

Each checkout is a clone of this repository at the commit to time (``git worktree add`` makes
one); both run with this interpreter, so they share the installed dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = [
    "train", "--preset", "cpu", "--model", "resnet10t", "--data", "demo", "--demo-per-class", "40", "--demo-val-per-class", "2",
    "--demo-image-size", "64", "--epochs", "3", "--batch-size", "32", "--workers", "1", "--no-preflight", "--no-progress", "--no-safetensors",
]  # fmt: skip
MODES = {"device": ["--shrink-at", "device"], "workers-replay2": ["--shrink-at", "workers", "--replay", "2"]}


def time_run(src: Path, mode: list[str], out: Path) -> float:
    """Training wall time of one run with ``src`` first on the import path."""
    env = dict(os.environ, PYTHONPATH=str(src))
    subprocess.run([sys.executable, "-m", "efficienttrain", *RUN, *mode, "--output", str(out)], env=env, check=True, capture_output=True)
    return float(json.loads((out / "summary.json").read_text())["train_time_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, type=Path, help="checkout A (the baseline)")
    parser.add_argument("--b", required=True, type=Path, help="checkout B (the change)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None, help="write the times and ratios here (JSON)")
    args = parser.parse_args()
    times: dict[str, dict[str, list[float]]] = {mode: {"a": [], "b": []} for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for side, root in (("a", args.a), ("b", args.b)):
                for mode, flags in MODES.items():
                    seconds = time_run(root / "src", flags, Path(tmp) / f"{side}-{mode}-{r}")
                    times[mode][side].append(seconds)
                    print(f"round {r + 1} {side} {mode}: {seconds:.2f} s", flush=True)
    report = {}
    for mode, t in times.items():
        ratios = [b / a for a, b in zip(t["a"], t["b"])]
        report[mode] = {**t, "median_a": statistics.median(t["a"]), "median_b": statistics.median(t["b"]), "median_ratio_b_over_a": statistics.median(ratios),
                        "ratio_range": [min(ratios), max(ratios)]}  # fmt: skip
        print(f"{mode}: median A {report[mode]['median_a']:.2f} s, B {report[mode]['median_b']:.2f} s; per-round B/A median {statistics.median(ratios):.3f} "
              f"(range {min(ratios):.3f}-{max(ratios):.3f}, {len(ratios)} rounds)")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        commits = {side: _commit(root) for side, root in (("a", args.a), ("b", args.b))}
        args.out.write_text(json.dumps({"commits": commits, "run": RUN, "modes": report}, indent=1))


def _commit(root: Path) -> str:
    """The checkout's commit (short hash, ``+dirty`` with uncommitted changes)."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    main()
