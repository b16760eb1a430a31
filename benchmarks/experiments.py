"""Run the evidence experiments of docs/results.md: baseline vs EfficientTrain and the ablations.

Every run goes through the public runner (``efficienttrain.runner.Trainer``) with the same recipe;
only the curriculum-related settings differ. Runs are sequential (their wall times are compared),
each logs as it goes to ``<out>/<run>/``, and a run whose ``summary.json`` says it completed is
skipped, so the script can be stopped and started again.

Usage::

    python benchmarks/experiments.py --data ../shared/data/imagenette-dev --group main
    python benchmarks/experiments.py --data ../shared/data/imagenette-dev --group ablations
    python benchmarks/experiments.py --data /tmp/cifar10 --group cifar

Groups: ``tune`` (baseline learning rates), ``main`` (baseline and EfficientTrain, 2 seeds),
``ablations`` (down-sampling, linear ramp, crop only, EfficientTrain++), ``long`` (EfficientTrain
for 1.5x the epochs), ``cifar`` (baseline and EfficientTrain on CIFAR-10). Then run
``benchmarks/report.py`` to write the tables and plots.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

# Settings shared by every Imagenette run: resnet18 at 64 px on the CPU preset (batch 64, AdamW),
# images decoded once and shrunk to an 80-px shorter side while loading.
IMAGENETTE = {
    "model": "resnet18",
    "final_size": 64,
    "preload": True,
    "preload_max_size": 80,
    "epochs": 30,
    "progress": False,
    "safetensors": False,
}
CIFAR = {
    "data": "cifar10-folder",
    "model": "resnet18",
    "final_size": 32,
    "preload": True,
    "epochs": 30,
    "val_split": "test",
    "progress": False,
    "safetensors": False,
}

BEST_LR = 2e-3  # chosen by the 'tune' group (see docs/results.md)


def groups(epochs: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The experiments, by group: (run name, config overrides)."""
    long_epochs = int(round(epochs * 1.5))
    etpp_budget = int(round(epochs / 1.5))
    return {
        "tune": [(f"tune-baseline-lr{lr:g}", {"curriculum": "none", "lr": lr, "epochs": 12}) for lr in (1e-3, 2e-3, 4e-3)],
        "main": [
            (name, {"curriculum": cur, "seed": seed, "lr": BEST_LR})
            for seed in (0, 1)
            for name, cur in ((f"baseline-s{seed}", "none"), (f"efficienttrain-s{seed}", "efficienttrain"))
        ],
        "ablations": [
            ("ablation-downsample-bilinear", {"curriculum": "efficienttrain", "crop_op": "bilinear", "lr": BEST_LR}),
            ("ablation-linear-ramp", {"curriculum": "linear", "lr": BEST_LR}),
            ("ablation-crop-only", {"curriculum": "efficienttrain", "magnitude": "constant", "lr": BEST_LR}),
            (f"efficienttrain++-budget{etpp_budget}", {"curriculum": "efficienttrain++", "epochs": etpp_budget, "lr": BEST_LR}),
        ],
        "long": [(f"efficienttrain-{long_epochs}ep", {"curriculum": "efficienttrain", "epochs": long_epochs, "lr": BEST_LR})],
        "cifar": [
            (name, {"curriculum": cur, "seed": 0, "lr": BEST_LR})
            for name, cur in (("cifar-baseline-s0", "none"), ("cifar-efficienttrain-s0", "efficienttrain"))
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ImageFolder dataset (imagenette-dev, or CIFAR-10 extracted as JPEGs)")
    parser.add_argument("--group", required=True, nargs="+")
    parser.add_argument("--out", default="runs/evidence", help="where the runs are written")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the main comparison")
    parser.add_argument("--only", nargs="*", default=None, help="run only these run names")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run")
    parser.add_argument("--workers", type=int, default=None, help="data-loader workers per run")
    args = parser.parse_args()

    from efficienttrain.runner.config import make_config
    from efficienttrain.runner.loop import Trainer

    table = groups(args.epochs)
    unknown = [g for g in args.group if g not in table]
    if unknown:
        parser.error(f"unknown group(s) {unknown}; choose from {list(table)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for group in args.group:
        base = dict(CIFAR if group == "cifar" else IMAGENETTE)
        base["data"] = args.data
        base["epochs"] = args.epochs
        for name, overrides in table[group]:
            if args.only and name not in args.only:
                continue
            run_dir = out / name
            summary = run_dir / "summary.json"
            if summary.is_file() and json.loads(summary.read_text()).get("completed"):
                print(f"[{time.strftime('%H:%M:%S')}] skip {name}: already complete", flush=True)
                continue
            values = {**base, **overrides, "output": str(run_dir), "name": name}
            if args.threads:
                values["threads"] = args.threads
            if args.workers is not None:
                values["workers"] = args.workers
            values["resume"] = (run_dir / "last.pt").is_file()
            print(f"[{time.strftime('%H:%M:%S')}] start {name}: {overrides}", flush=True)
            result = Trainer(make_config(values, preset="cpu")).run()
            print(f"[{time.strftime('%H:%M:%S')}] done {name}: top-1 {result.final_top1:.2f}% in {result.train_time:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
