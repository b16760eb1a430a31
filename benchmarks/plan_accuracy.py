"""How well ``efficienttrain plan`` predicts training time: predicted against measured, run by run.

For each model and length, it plans EfficientTrain at that length (the plan's own measurement on
this machine), then trains exactly that schedule and compares the plan's predicted training time
with the run's measured training wall time (``summary.json``'s ``train_time_s``, evaluation
excluded). Runs go one at a time; run it on a quiet machine (the evidence of issue 35 paused the
other jobs for it).

Usage::

    python -m benchmarks.plan_accuracy --data demo --out benchmarks/results/runs

Writes ``benchmarks/results/plan_accuracy.{md,json}`` and one run record per run under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The demo data at 64 px: 20 images per class (200), batch 32, one loader worker.
COMMON: dict[str, Any] = {
    "data": "demo", "demo_per_class": 20, "demo_val_per_class": 5, "demo_image_size": 64, "batch_size": 32, "workers": 1,
    "progress": False, "safetensors": False, "seed": 0,
}  # fmt: skip
MODELS: dict[str, dict[str, Any]] = {
    "resnet10t": {"model": "resnet10t"},
    "convnext_atto": {"model": "convnext_atto"},
    "vit-small": {"preset": "vit-small"},
}
LENGTHS = (4, 8)


def one(model: str, epochs: int, out: Path) -> dict[str, Any]:
    """Plan, then train, one model at one length; returns the prediction and the measurement."""
    from efficienttrain.runner.config import make_config
    from efficienttrain.runner.loop import Trainer
    from efficienttrain.runner.plan import make_plan

    settings = dict(MODELS[model])
    preset = settings.pop("preset", "cpu")
    name = f"plan-{model}-{epochs}ep"
    cfg = make_config({**COMMON, **settings, "epochs": epochs, "output": str(out / name), "name": name, "overwrite": True}, preset=preset)
    plan = make_plan(cfg, epochs=epochs, batches=3, log=lambda _m: None)
    predicted = plan.chosen.seconds
    result = Trainer(cfg, curriculum=plan.chosen.curriculum).run()
    measured = json.loads((out / name / "summary.json").read_text())["train_time_s"]
    row = {"run": name, "model": model, "epochs": epochs, "predicted_s": predicted, "measured_s": measured, "error": predicted / measured - 1, "top1": result.final_top1}
    print(f"{name}: predicted {predicted:.1f} s, measured {measured:.1f} s ({100 * row['error']:+.1f}%)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/plan-accuracy", help="where the run records go")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    from efficienttrain.provenance import git_state, machine_info, software_versions

    out = Path(args.out)
    rows = [one(model, epochs, out) for model in MODELS for epochs in LENGTHS]
    median_abs = statistics.median(abs(r["error"]) for r in rows)
    record = {"rows": rows, "median_abs_error": median_abs, "settings": COMMON, "git": git_state(), "machine": machine_info(), "versions": software_versions()}
    results = Path(args.results)
    (results / "plan_accuracy.json").write_text(json.dumps(record, indent=1))
    lines = [
        "Predicted (efficienttrain plan) against measured training time, EfficientTrain on the demo data at 64 px, batch 32, one worker; each run alone.",
        "",
        "| run | predicted (s) | measured (s) | error |",
        "|---|---|---|---|",
        *[f"| {r['run']} | {r['predicted_s']:.1f} | {r['measured_s']:.1f} | {100 * r['error']:+.1f}% |" for r in rows],
        "",
        f"Median absolute error: {100 * median_abs:.1f}% over {len(rows)} runs.",
    ]
    (results / "plan_accuracy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
