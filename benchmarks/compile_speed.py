"""torch.compile against eager at every stage size, and what it does to EfficientTrain's speedup.

For one model it

1. compiles the model once for the curriculum (:func:`efficienttrain.compile_for_curriculum`: one
   static graph per size) and times the first step at each size: the compile time;
2. times a bare training step (forward, backward, optimizer step on random tensors; the measured
   cost model, :func:`efficienttrain.cost.measured_cost`) of the eager and of the compiled model at
   every size, in alternating rounds (eager, compiled, eager, ...), and takes each size's median
   over the rounds, so that a slow spell of a shared machine hits both alike;
3. reports per size the compiled/eager speedup, and for the EfficientTrain schedule the speedup
   over the baseline (same epochs at the final size) that the step times predict, eager on both
   sides and compiled on both sides. For a run of ``--epochs`` epochs of ``--train-images``
   images it also adds the compile time (EfficientTrain compiles every stage size, the baseline
   only the final one) and reports the end-to-end ratio.

Writes ``benchmarks/results/compile_speed.{md,json}`` with the commit, versions and CPU.

Usage::

    python -m benchmarks.compile_speed [--model resnet10t] [--final-size 112] [--batch-size 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from efficienttrain import compile_for_curriculum, create_curriculum
from efficienttrain.cost import curriculum_cost, measured_cost
from efficienttrain.models import create_model
from efficienttrain.provenance import git_state, machine_info, software_versions

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet10t")
    p.add_argument("--final-size", type=int, default=112)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="alternating eager/compiled rounds")
    p.add_argument("--steps", type=int, default=5, help="timed steps per size and round")
    p.add_argument("--epochs", type=float, default=8, help="run length for the end-to-end ratio")
    p.add_argument("--train-images", type=int, default=8474, help="training images (Imagenette-dev's train split by default)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "compile_speed"))
    return p.parse_args()


def compile_times(compiled: Any, sizes: list[int], batch_size: int) -> dict[int, float]:
    """Seconds of the first step (forward and backward) at each size: compiling dominates it."""
    out = {}
    for size in sorted(sizes, reverse=True):
        x = torch.randn(batch_size, 3, size, size)
        t0 = time.perf_counter()
        compiled.module(x).float().sum().backward()
        out[size] = time.perf_counter() - t0
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    cur = create_curriculum("efficienttrain", args.epochs, args.final_size)
    sizes = cur.sizes
    torch.manual_seed(0)
    eager = create_model(args.model, num_classes=10, img_size=args.final_size)
    twin = create_model(args.model, num_classes=10, img_size=args.final_size)
    twin.load_state_dict(eager.state_dict())
    compiled = compile_for_curriculum(twin, cur)
    first_step = compile_times(compiled, sizes, args.batch_size)
    print("compile (first step) s:", {s: round(t, 1) for s, t in first_step.items()}, flush=True)
    rounds: dict[str, list[dict[int, float]]] = {"eager": [], "compiled": []}
    for r in range(args.rounds):
        for name, model in (("eager", eager), ("compiled", compiled.module)):
            rounds[name].append(measured_cost(model, sizes, batch_size=args.batch_size, steps=args.steps, warmup=1))
            print(f"round {r + 1} {name}: " + ", ".join(f"{s}: {v * 1e3:.2f}" for s, v in rounds[name][-1].items()) + " ms/img", flush=True)
    per_img = {name: {s: statistics.median(rnd[s] for rnd in rs) for s in sizes} for name, rs in rounds.items()}
    speedup = {name: curriculum_cost(cur, lambda s, t=t: t[s], kind="measured").speedup for name, t in per_img.items()}
    images = args.epochs * args.train_images
    et_compute = {name: curriculum_cost(cur, lambda s, t=t: t[s]).relative_cost * images * t[args.final_size] for name, t in per_img.items()}
    base_compute = {name: images * t[args.final_size] for name, t in per_img.items()}
    end_to_end = {
        "eager": base_compute["eager"] / et_compute["eager"],
        "compiled": (base_compute["compiled"] + first_step[args.final_size]) / (et_compute["compiled"] + sum(first_step.values())),
    }
    return {
        # Paths relative to the repository, so that the record names no machine's directories.
        "config": {**vars(args), "out": str(Path(args.out).resolve().relative_to(ROOT)) if Path(args.out).resolve().is_relative_to(ROOT) else Path(args.out).name},
        "sizes": sizes,
        "ms_per_image": {name: {str(s): v * 1e3 for s, v in t.items()} for name, t in per_img.items()},
        "rounds_ms_per_image": {name: [{str(s): v * 1e3 for s, v in rnd.items()} for rnd in rs] for name, rs in rounds.items()},
        "compile_first_step_s": {str(s): t for s, t in first_step.items()},
        "graphs": compiled.graphs,
        "et_speedup_step_model": speedup,
        "run_seconds": {"baseline": base_compute, "efficienttrain": et_compute},
        "et_speedup_end_to_end": end_to_end,
        "commit": git_state()[0],
        "dirty": git_state()[1],
        "versions": software_versions(),
        "machine": machine_info(),
        "threads": torch.get_num_threads(),
    }


def markdown(res: dict[str, Any]) -> str:
    cfg = res["config"]
    eager, comp = res["ms_per_image"]["eager"], res["ms_per_image"]["compiled"]
    lines = [
        f"`python -m benchmarks.compile_speed --model {cfg['model']} --final-size {cfg['final_size']} --batch-size {cfg['batch_size']} "
        f"--rounds {cfg['rounds']}`: commit {str(res['commit'])[:10]}{' (dirty)' if res['dirty'] else ''}, torch {res['versions'].get('torch')}, "
        f"{res['machine'].get('cpu_model')}, {res['threads']} threads. Bare training step (forward, backward, SGD step, random tensors), "
        f"median over {cfg['rounds']} alternating eager/compiled rounds of {cfg['steps']} steps. Compiled with "
        f"`compile_for_curriculum` (inductor, static shapes): {res['graphs']} graphs for {len(res['sizes'])} sizes.",
        "",
        "| size | eager ms/img | compiled ms/img | compiled speedup | compile (first step) s |",
        "|---|---|---|---|---|",
    ]
    for s in res["sizes"]:
        lines.append(f"| {s} | {eager[str(s)]:.3f} | {comp[str(s)]:.3f} | {eager[str(s)] / comp[str(s)]:.2f}x | {res['compile_first_step_s'][str(s)]:.1f} |")
    sp, e2e, secs = res["et_speedup_step_model"], res["et_speedup_end_to_end"], res["run_seconds"]
    lines += [
        "",
        "| EfficientTrain over the baseline (same epochs) | eager on both sides | compiled on both sides |",
        "|---|---|---|",
        f"| predicted by the step times | {sp['eager']:.2f}x | {sp['compiled']:.2f}x |",
        f"| {cfg['epochs']:g} epochs of {cfg['train_images']} images, compile time included (ET compiles {len(res['sizes'])} sizes, "
        f"the baseline 1) | {e2e['eager']:.2f}x | {e2e['compiled']:.2f}x |",
        f"| step compute of that run, baseline / ET (s) | {secs['baseline']['eager']:.0f} / {secs['efficienttrain']['eager']:.0f} "
        f"| {secs['baseline']['compiled']:.0f} / {secs['efficienttrain']['compiled']:.0f} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    res = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    text = markdown(res)
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
