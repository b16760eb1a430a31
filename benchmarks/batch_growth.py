"""What larger early batches (``--batch-growth``) buy in wall time: interleaved rounds of real steps.

One run is set up (model, data, loader, curriculum) and its sampler cut two ways: ``base`` (every
batch at ``--batch-size``) and ``grown`` (``--batch-growth K``). In every round and at every stage
size, each arm trains real steps from the run's own loader, starting at the stage's first batch,
for about ``--images`` images; the order of the arms alternates from round to round (A B, B A, ...),
so that a slow spell of a shared machine falls on both alike. A round's time per image at each size,
times the images the schedule trains at that size (the same in both arms), gives that round's
training time of the whole schedule for each arm, and their ratio. The report gives the median
ratio, its range over the rounds, and each stage's time per image.

Usage::

    python -m benchmarks.batch_growth --data ../shared/data/imagenette-dev --setting resnet10t --epochs 8
    python -m benchmarks.batch_growth --data ../shared/data/imagenette-dev --setting vit-small --epochs 16

Writes ``benchmarks/results/batch_growth-<setting>.{md,json}``. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def settings_for(name: str) -> tuple[dict[str, Any], str]:
    """The run settings and preset of a named setting: the experiments' main resnet10t, or the vit-small preset in fp32."""
    from benchmarks.experiments import IMAGENETTE

    if name == "resnet10t":
        return dict(IMAGENETTE), "cpu"
    if name == "vit-small":
        # fp32: a CPU without native bf16 runs the preset's auto precision in fp32 (--amp auto).
        return {k: v for k, v in IMAGENETTE.items() if k not in ("model", "lr")} | {"amp": "none"}, "vit-small"
    raise SystemExit(f"unknown setting {name!r}: resnet10t or vit-small")


def stage_starts(sampler: Any, sizes: list[int]) -> dict[int, tuple[int, int]]:
    """For each size, the (epoch, step) of its first batch in the epoch where it trains the most batches."""
    best: dict[int, tuple[int, int, int]] = {}
    for epoch in range(sampler.curriculum.num_epochs):
        steps = [sampler.settings(epoch, s).size for s in range(sampler.batches_in_epoch(epoch))]
        for size in sizes:
            count = steps.count(size)
            if count and count > best.get(size, (0, 0, 0))[0]:
                best[size] = (count, epoch, steps.index(size))
    return {size: (epoch, step) for size, (_, epoch, step) in best.items()}


def time_per_image(trainer: Any, epoch: int, start: int, images: int) -> tuple[float, int]:
    """Seconds per image of real training steps from ``start`` on (after one untimed batch), and the batch used."""
    from efficienttrain.runner.optim import GrowthStep
    from efficienttrain.runner.state import EpochTally, RunState

    parts = trainer.parts
    sampler = parts.sampler
    size = sampler.settings(epoch, start).size
    sampler.set_epoch(epoch, start)
    state, tally = RunState(), EpochTally(last_size=parts.curriculum.final_size)
    batches = iter(parts.train_loader)

    def step(s: int) -> int:
        x, y = next(batches)
        growth = GrowthStep(sampler.lr_scale(epoch, s), sampler.schedule_steps(epoch, s)) if sampler.growth.active else None
        trainer.train_step(state, s, x, y, sampler.settings(epoch, s), tally, growth=growth)
        return int(x.shape[0])

    step(start)  # the loader's start and the first step's allocations are not timed
    done, s, t0 = 0, start + 1, time.perf_counter()
    while done < images and s < sampler.batches_in_epoch(epoch) and sampler.settings(epoch, s).size == size:
        done += step(s)
        s += 1
    parts.runtime.synchronize()
    seconds = time.perf_counter() - t0
    return seconds / max(done, 1), sampler.batch_size_at(epoch, start + 1)


def images_per_size(sampler: Any) -> dict[int, int]:
    """Images the whole schedule trains at each size (on this process)."""
    out: dict[int, int] = {}
    for epoch in range(sampler.curriculum.num_epochs):
        for s in range(sampler.batches_in_epoch(epoch)):
            size = sampler.settings(epoch, s).size
            out[size] = out.get(size, 0) + sampler.batch_size_at(epoch, s)
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The interleaved rounds; returns the record."""
    from efficienttrain.data.sampler import BatchGrowth
    from efficienttrain.runner import Trainer
    from efficienttrain.runner.config import make_config

    settings, preset = settings_for(args.setting)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config({**settings, "data": args.data, "epochs": args.epochs, "output": tmp, "preflight": False, "seed": 0}, preset=preset)
        trainer = Trainer(cfg, log=lambda _m: None).setup()
        trainer.parts.run_dir.release()
        sampler, cur = trainer.parts.sampler, trainer.parts.curriculum
        arms = {"base": BatchGrowth(), "grown": BatchGrowth.for_curriculum(cur, cfg.batch_size, args.growth, cfg.batch_quantum())}
        sizes = sorted(cur.sizes)
        images = images_per_size(sampler)
        times: dict[str, dict[int, list[float]]] = {arm: {size: [] for size in sizes} for arm in arms}
        batch: dict[str, dict[int, int]] = {arm: {} for arm in arms}
        for r in range(args.rounds):
            for size in sizes:
                for arm in list(arms) if r % 2 == 0 else list(arms)[::-1]:
                    sampler.set_growth(arms[arm])
                    epoch, start = stage_starts(sampler, [size])[size]
                    t, b = time_per_image(trainer, epoch, start, args.images)
                    times[arm][size].append(t)
                    batch[arm][size] = b
                    print(f"round {r + 1}/{args.rounds}  {size} px  {arm:5s}  batch {b:4d}  {1e3 * t:.2f} ms/image", flush=True)
    totals = {arm: [sum(images[s] * times[arm][s][r] for s in sizes) for r in range(args.rounds)] for arm in arms}
    ratios = [a / b for a, b in zip(totals["base"], totals["grown"])]
    return {
        "setting": args.setting, "epochs": args.epochs, "growth": args.growth, "batch_size": cfg.batch_size, "images_per_round": args.images,
        "rounds": args.rounds, "sizes": sizes, "images_per_size": {str(s): images[s] for s in sizes},
        "batch": {arm: {str(s): b for s, b in v.items()} for arm, v in batch.items()},
        "ms_per_image": {arm: {str(s): [1e3 * t for t in v[s]] for s in sizes} for arm, v in times.items()},
        "train_time_s": totals, "ratio_per_round": ratios, "ratio_median": statistics.median(ratios),
    }  # fmt: skip


def markdown(rec: dict[str, Any]) -> str:
    """The report's table."""
    lines = [
        f"Larger early batches, {rec['setting']} at {rec['epochs']:g} epochs (EfficientTrain), --batch-growth {rec['growth']:g}, base batch "
        f"{rec['batch_size']}: real training steps fed by the run's loader, {rec['rounds']} interleaved rounds of about "
        f"{rec['images_per_round']} images per stage and arm.",
        "",
        "| size | images in the schedule | batch (base / grown) | ms per image, base | ms per image, grown |",
        "|---|---|---|---|---|",
    ]
    for s in rec["sizes"]:
        k = str(s)
        base, grown = rec["ms_per_image"]["base"][k], rec["ms_per_image"]["grown"][k]
        lines.append(
            f"| {s} | {rec['images_per_size'][k]} | {rec['batch']['base'][k]} / {rec['batch']['grown'][k]} | "
            f"{statistics.median(base):.2f} ({min(base):.2f}-{max(base):.2f}) | {statistics.median(grown):.2f} ({min(grown):.2f}-{max(grown):.2f}) |"
        )
    r = rec["ratio_per_round"]
    lines += [
        "",
        f"Training time of the schedule, base over grown: **{rec['ratio_median']:.3f}x** (median of {len(r)} rounds; range {min(r):.3f}-{max(r):.3f}x).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="an image folder with train/ and val/ (e.g. imagenette-dev)")
    parser.add_argument("--setting", default="resnet10t", choices=("resnet10t", "vit-small"))
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--growth", type=float, default=4.0, help="--batch-growth of the grown arm")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--images", type=int, default=640, help="images timed per stage, arm and round")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    from efficienttrain.provenance import git_state, machine_info, software_versions

    rec = measure(args)
    commit, dirty = git_state()
    rec.update(git_commit=commit, git_dirty=dirty, machine=machine_info(), versions=software_versions())
    stem = Path(args.results) / f"batch_growth-{args.setting}"
    stem.with_suffix(".json").write_text(json.dumps(rec, indent=1))
    stem.with_suffix(".md").write_text(markdown(rec))
    print(markdown(rec))


if __name__ == "__main__":
    main()
