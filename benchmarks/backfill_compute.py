"""Count the training compute of run records made before ``summary.json`` kept it, or counted it wrongly.

For every record under ``--runs`` whose ``summary.json`` has no ``compute`` (and, with
``--recount``, every record whose count names an older counter than
:data:`efficienttrain.runner.compute.COUNTER`: counts made before attention was counted say
"matmul and convolution FLOPs" and undercount a ViT by up to a sixth), the run's parts are
rebuilt from its ``config.yaml`` (with ``--data`` as the dataset; nothing is trained and the record
is not changed) and counted by :func:`efficienttrain.runner.compute.recount`, the code a run uses
to count itself. The result goes to ``compute.json`` beside the record, with the commit and
versions that counted it; ``benchmarks/report.py`` reads it in place of the summary's.

Usage::

    python -m benchmarks.backfill_compute --runs benchmarks/results/runs --data ../shared/data/imagenette-dev --match 'const-*' 'et-*' 'ramp-*'
    python -m benchmarks.backfill_compute --runs benchmarks/results/runs --data ../shared/data/imagenette-dev --recount --match 'vit-*' 'mae-*'
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from pathlib import Path

from efficienttrain.errors import UserError
from efficienttrain.provenance import git_state, software_versions
from efficienttrain.rundir import RunDir
from efficienttrain.runner.compute import COUNTER, recount
from efficienttrain.runner.config import load_config

COMPUTE_FILE = "compute.json"


def backfill(run: Path, data: str, stale: bool = False) -> bool:
    """Write ``compute.json`` for one record without a count (or, if ``stale``, with an older counter's); True if written."""
    summary = RunDir(run).summary()
    if summary is None:
        return False
    extra = run / COMPUTE_FILE
    current = json.loads(extra.read_text())["compute"] if extra.is_file() else summary.compute
    if current and not (stale and current.get("counter") != COUNTER):
        return False
    cfg = load_config(run / RunDir.CONFIG, {"data": data})
    commit, dirty = git_state()
    record = {"compute": recount(cfg), "counted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git_commit": commit, "git_dirty": dirty,
              "versions": software_versions(), "data": Path(data).name}  # fmt: skip
    extra.write_text(json.dumps(record, indent=2))
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="folder of run records")
    parser.add_argument("--data", required=True, help="the dataset the runs trained on")
    parser.add_argument("--match", nargs="*", default=["*"], help="only records whose name matches one of these patterns")
    parser.add_argument("--recount", action="store_true", help="also recount records counted by an older counter (before attention was counted)")
    args = parser.parse_args()
    runs = sorted(p for p in Path(args.runs).iterdir() if p.is_dir() and any(fnmatch.fnmatch(p.name, m) for m in args.match))
    failed = 0
    for run in runs:
        start = time.perf_counter()
        try:
            written = backfill(run, args.data, args.recount)
        except UserError as err:  # e.g. a pilot trained on a split --data lacks: the others still get counted
            print(f"{run.name}: not counted: {err}", file=sys.stderr, flush=True)
            failed += 1
            continue
        if written:
            flops = json.loads((run / COMPUTE_FILE).read_text())["compute"]["train_flops"]
            print(f"{run.name}: {flops / 1e15:.3f} PFLOP ({time.perf_counter() - start:.0f} s)", flush=True)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
