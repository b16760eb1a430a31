"""Measure the training loop's efficiency: measured speedup of EfficientTrain over the baseline,
divided by the speedup the cost model predicts.

For one model and dataset it

1. times a bare training step (forward, backward, optimizer step on random tensors) at every size
   of the schedule: the *measured* cost model, which predicts the speedup of the compute alone;
2. trains the baseline and EfficientTrain for the same epochs with the recipe runner, alternating
   ``--pairs`` times (baseline, EfficientTrain, baseline, ...), and takes each run's training wall
   time (evaluation excluded);
3. reports the median measured speedup and its ratio to the measured-cost and the pixel-cost
   predictions.

An efficiency of 1.0 means the loop turns every saved FLOP-second into saved wall time. What it
cannot save on this machine is the data pipeline, which decodes and augments at the final size on
the same two cores, so it is also reported separately (loader throughput).

Usage::

    python -m benchmarks.loop_efficiency [--data demo|DIR] [--model resnet10t] [--final-size 112] [--epochs 6] [--pairs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo", help="demo, or an ImageFolder directory")
    parser.add_argument("--model", default="resnet10t")
    parser.add_argument("--final-size", type=int, default=112)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--per-class", type=int, default=300, help="demo images per class")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--runs", default="runs/loop_efficiency")
    args = parser.parse_args()

    from efficienttrain.cost import curriculum_cost, measured_cost
    from efficienttrain.curricula import efficienttrain
    from efficienttrain.runner.config import make_config
    from efficienttrain.runner.loop import Trainer

    common = {
        "data": args.data,
        "model": args.model,
        "final_size": args.final_size,
        "epochs": args.epochs,
        "demo_per_class": args.per_class,
        "demo_image_size": args.final_size,
        "workers": args.workers,
        "progress": False,
        "safetensors": False,
        "preload": args.data != "demo",
        "preload_max_size": int(args.final_size * 1.25) if args.data != "demo" else None,
    }
    cur = efficienttrain(args.epochs, args.final_size)
    batch = make_config(dict(common), preset="cpu").batch_size
    print(f"timing bare training steps at sizes {cur.sizes} (batch {batch})", flush=True)
    step = measured_cost(args.model, cur.sizes, batch_size=batch, steps=8, warmup=3)
    predicted_measured = curriculum_cost(cur, lambda b: step[b]).speedup
    predicted_pixel = curriculum_cost(cur).speedup
    print(f"predicted speedup: measured-step model {predicted_measured:.3f}x, pixel model {predicted_pixel:.3f}x", flush=True)

    root = Path(args.runs) / time.strftime("%Y%m%d-%H%M%S")
    times: dict[str, list[float]] = {"baseline": [], "efficienttrain": []}
    loader_rate = []
    for i in range(args.pairs):
        for label, curriculum in (("baseline", "none"), ("efficienttrain", "efficienttrain")):
            cfg = make_config({**common, "curriculum": curriculum, "output": str(root / f"{label}-{i}"), "name": f"{label}-{i}"}, preset="cpu")
            trainer = Trainer(cfg, log=lambda _m: None)
            result = trainer.run()
            times[label].append(result.train_time)
            print(f"pair {i + 1}: {label} train time {result.train_time:.1f}s, top-1 {result.final_top1:.2f}%", flush=True)
            if label == "baseline" and i == 0:
                t0, n = time.perf_counter(), 0
                trainer.parts.sampler.set_epoch(0)
                for x, _ in trainer.parts.train_loader:
                    n += x.shape[0]
                loader_rate.append(n / (time.perf_counter() - t0))
    speedups = [b / e for b, e in zip(times["baseline"], times["efficienttrain"])]
    measured = statistics.median(speedups)
    res = {
        "model": args.model,
        "data": args.data if args.data == "demo" else Path(args.data).name,
        "final_size": args.final_size,
        "epochs": args.epochs,
        "batch_size": batch,
        "workers": args.workers,
        "torch_threads": torch.get_num_threads(),
        "step_seconds_per_image": {str(k): v for k, v in step.items()},
        "predicted_speedup_measured_steps": predicted_measured,
        "predicted_speedup_pixels": predicted_pixel,
        "train_times": times,
        "speedups": speedups,
        "measured_speedup_median": measured,
        "efficiency_vs_measured_steps": measured / predicted_measured,
        "efficiency_vs_pixels": measured / predicted_pixel,
        "loader_images_per_s": loader_rate[0] if loader_rate else None,
        "date": time.strftime("%Y-%m-%d"),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "loop_efficiency.json").write_text(json.dumps(res, indent=2))
    lines = [
        f"Loop efficiency: {args.model} at {args.final_size} px on {res['data']}, {args.epochs} epochs, batch {batch}, "
        f"{args.workers} loader worker(s), {res['torch_threads']} torch threads; {args.pairs} alternating pairs.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| bare step, ms/image at {', '.join(str(s) for s in cur.sizes)} | {', '.join(f'{step[s] * 1e3:.2f}' for s in cur.sizes)} |",
        f"| predicted speedup, measured-step model | {predicted_measured:.3f}x |",
        f"| predicted speedup, pixel model | {predicted_pixel:.3f}x |",
        f"| baseline train time per run (s) | {', '.join(f'{t:.1f}' for t in times['baseline'])} |",
        f"| EfficientTrain train time per run (s) | {', '.join(f'{t:.1f}' for t in times['efficienttrain'])} |",
        f"| measured speedup per pair | {', '.join(f'{s:.3f}' for s in speedups)} |",
        f"| **efficiency vs measured-step model** (median) | **{res['efficiency_vs_measured_steps']:.3f}** |",
        f"| efficiency vs pixel model | {res['efficiency_vs_pixels']:.3f} |",
        f"| data loader alone (images/s) | {res['loader_images_per_s']:.0f} |",
    ]
    (out / "loop_efficiency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
