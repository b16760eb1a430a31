"""Measure the data loader's CPU time per image at each stage size, before and after shrinking its work.

For a 224-px final size (the paper's setting) on full-size JPEGs (make them with
``benchmarks/make_loader_data.py``), it times one training image through the worker pipeline of
``CurriculumDataset`` in a single process (``time.process_time``, all threads counted, one torch
thread), at the stage sizes of the EfficientTrain schedule (160, 192, 224) and the RandAugment
magnitude each stage has in the middle of its span. Configurations:

* ``standard``: decode in full, random-resized crop to 224, flip, RandAugment, normalise, erase;
  the crop to ``B`` happens later on the device (not timed here): the same work at every ``B``;
* ``reduced decode``: the same, with the JPEG decoded at 1/2, 1/4 or 1/8 scale when the crop's
  region allows (``--reduced-decode``);
* ``augment at B``: the low-frequency crop to ``B`` right after the random-resized crop, so
  RandAugment and the rest run at ``B`` (``--shrink-at before-augment``);
* ``augment at B + reduced decode``;
* ``resize to B + reduced decode``: the random-resized crop resizes straight to ``B`` (a resampling
  ``--crop-op``), and the decode scale is chosen for ``B``;
* ``... + replay k``: with ``--replay k``, each loaded image gives ``k`` training samples below the
  final size (the extra ones a fresh random crop and flip of the first): the cost per training
  sample. At the final size there is no replay.

Each cell also reports how many of the images were decoded at reduced scale.

Usage::

    python -m benchmarks.loader_cost --data runs/loader-data --images 300

Writes ``benchmarks/results/loader_cost.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Optional

import torch

ROOT = Path(__file__).resolve().parent.parent
SIZES = (160, 192, 224)
FINAL = 224
EPOCHS = 300


def make_plan(*, reduced: bool, augment_at: Optional[str], replay: int = 1) -> Any:
    """The run's ShrinkPlan for one configuration (augmentation at B shrinks in the workers, before RandAugment)."""
    from efficienttrain.data import ShrinkPlan

    return ShrinkPlan("before-augment" if augment_at else "device", augment_at or "lowfreq", reduced, replay)


def make_dataset(root: Path, plan: Any) -> Any:
    from efficienttrain.data import CurriculumDataset, build_train_transform
    from efficienttrain.data.datasets import CheckedImageFolder
    from efficienttrain.data.decode import open_lazy

    folder = CheckedImageFolder(str(root / "train"), build_train_transform(FINAL, **plan.transform_options()))
    if plan.reduced_decode:
        folder.loader = open_lazy
    return CurriculumDataset(folder, plan=plan)


def time_config(root: Path, size: int, magnitude: float, n: int, *, reduced: bool, augment_at: Optional[str], replay: int = 1) -> dict[str, float]:
    """CPU ms per training sample of one configuration at one stage size (no replay at the final size).

    The samples are keyed by the library's own ``batch_keys`` under the configuration's plan, so a
    replayed view costs here what it costs in a run (a fresh crop of the sample loaded for its index).
    """
    from efficienttrain.curricula import Settings
    from efficienttrain.data import batch_keys
    from efficienttrain.data.decode import ReducedDecodeRandomResizedCrop
    from efficienttrain.data import worker

    plan = make_plan(reduced=reduced, augment_at=augment_at, replay=replay)
    ds = make_dataset(root, plan)
    settings = Settings(size, magnitude, 0, 1, 0.0)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    fresh = max(1, n // plan.uses_per_image(size, FINAL))
    for key in batch_keys(plan, order[-5:], settings, seed=0, epoch=0, final_size=FINAL):  # warm-up: imports, caches, operators
        ds[key]
    loads, views = [], []
    loaded: dict = {}
    for key in batch_keys(plan, order[:fresh], settings, seed=0, epoch=0, final_size=FINAL):
        t0 = time.process_time()
        if key.view:  # the library's batch step makes the view from the sample loaded for its index
            worker.replay([key], loaded, ds.__getitem__)
            views.append(time.process_time() - t0)
        else:
            loaded[(key.index, key.seed)] = ds[key]
            loads.append(time.process_time() - t0)
    crops = [t for t in ds.dataset.transform.transforms if isinstance(t, ReducedDecodeRandomResizedCrop)]
    reduced_share = 1.0 - crops[0].factors.get(1, 0) / max(sum(crops[0].factors.values()), 1) if crops else 0.0
    return {
        "load_ms": 1e3 * statistics.fmean(loads),
        "view_ms": 1e3 * statistics.fmean(views) if views else 0.0,
        "per_sample_ms": 1e3 * (sum(loads) + sum(views)) / (len(loads) + len(views)),
        "reduced_share": reduced_share,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ImageFolder of full-size JPEGs (benchmarks/make_loader_data.py)")
    parser.add_argument("--images", type=int, default=1000, help="images timed per configuration and size")
    parser.add_argument("--replay", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over all configurations; each cell is the median of its rounds")
    parser.add_argument("--magnitude", type=float, default=9.0, help="RandAugment magnitude at every size (RandAugment's cost depends on it); "
                        "negative: each stage's own, from the middle of its span")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    from efficienttrain.curricula import efficienttrain
    from efficienttrain.provenance import git_state, machine_info, software_versions

    cur = efficienttrain(EPOCHS, FINAL)
    magnitude = {s.size: (cur((s.start + s.end) / 2).magnitude if args.magnitude < 0 else args.magnitude) for s in cur.stages}
    configs = [
        ("standard", dict(reduced=False, augment_at=None)),
        ("reduced decode", dict(reduced=True, augment_at=None)),
        ("augment at B", dict(reduced=False, augment_at="lowfreq")),
        ("augment at B + reduced decode", dict(reduced=True, augment_at="lowfreq")),
        ("resize to B + reduced decode", dict(reduced=True, augment_at="bicubic")),
        (f"resize to B + reduced decode + replay {args.replay}", dict(reduced=True, augment_at="bicubic", replay=args.replay)),
    ]
    rounds: dict[str, dict[int, list[dict[str, float]]]] = {name: {size: [] for size in SIZES} for name, _ in configs}
    for r in range(args.repeats):
        # Rounds go through every configuration, so that a slow spell of the shared machine hits all of them.
        for name, kw in configs:
            for size in SIZES:
                res = time_config(Path(args.data), size, magnitude[size], args.images, **kw)
                rounds[name][size].append(res)
                print(f"round {r + 1}: {name:<45} B={size}: {res['per_sample_ms']:.2f} ms per sample (load {res['load_ms']:.2f}, "
                      f"view {res['view_ms']:.2f}, {100 * res['reduced_share']:.0f}% decoded at reduced scale)", flush=True)
    results = {name: {size: {**min(rs, key=lambda x: abs(x["per_sample_ms"] - statistics.median(y["per_sample_ms"] for y in rs))),
                             "rounds_ms": [x["per_sample_ms"] for x in rs]}  # fmt: skip
                      for size, rs in by_size.items()}
               for name, by_size in rounds.items()}
    base = results["standard"][FINAL]["per_sample_ms"]
    lines = [
        f"Loader CPU time per training sample (ms, one process, one torch thread; {args.images} images of {Path(args.data).name}, "
        f"final size {FINAL}; RandAugment magnitude: "
        + ", ".join(f"{s}: {m:.1f}" for s, m in magnitude.items())
        + f"). Median of {args.repeats} rounds. In brackets: relative to the standard pipeline at 224; after the slash: the share of images "
        "decoded at reduced scale.",
        "",
        "| configuration | " + " | ".join(f"B = {s}" for s in SIZES) + " |",
        "|---|" + "---|" * len(SIZES),
    ]
    for name, by_size in results.items():
        cells = [f"{by_size[s]['per_sample_ms']:.2f} ({by_size[s]['per_sample_ms'] / base:.2f}x) / {100 * by_size[s]['reduced_share']:.0f}%" for s in SIZES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "loader_cost.md").write_text("\n".join(lines) + "\n")
    (out / "loader_cost.json").write_text(
        json.dumps(
            {"images": args.images, "repeats": args.repeats, "final_size": FINAL, "magnitude": magnitude, "results": results, "date": time.strftime("%Y-%m-%d"),
             "git_commit": git_state()[0], "versions": software_versions(), "machine": machine_info()},  # fmt: skip
            indent=2,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
