"""Loader throughput per core, from WebDataset shards and from the folder they were written from.

At the paper's stage sizes for a 224-px final size (B = 160 and 224), it runs the real training
pipeline of each source in one process with one torch thread and counts CPU time
(``time.process_time``): images per CPU-second is images per second per core, a figure that a busy
shared machine disturbs much less than wall time. Each batch is keyed exactly as a run keys it
(``batch_keys``), with the RandAugment magnitude of m = 9, and goes through the source's own path:

* **folder**: ``CurriculumDataset.__getitems__`` over an ImageFolder (open, read and decode each file);
* **shards**: ``CurriculumStream.planned`` (read the tar front to back, then decode from memory).

Configurations: the standard order (decode, crop to 224, augment; the crop to ``B`` is on the
device and not timed), ``--reduced-decode``, and replay 2 (below the final size each loaded image
gives two samples). Rounds go through every cell, so a slow spell hits all of them; each cell is
the median of its rounds.

Usage::

    python -m benchmarks.make_loader_data --data ../shared/data/imagenette-dev --out runs/loader-data --splits train val
    efficienttrain shards runs/loader-data runs/loader-shards --shard-size 500
    python -m benchmarks.stream_loader --folder runs/loader-data --shards runs/loader-shards --images 512

Writes ``benchmarks/results/stream_loader.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Iterator

import torch

ROOT = Path(__file__).resolve().parent.parent
FINAL = 224
SIZES = (160, 224)
MAGNITUDE = 9.0
BATCH = 32
CONFIGS = {"standard": {}, "reduced decode": {"reduced_decode": True}, "replay 2": {"replay": 2}}


def _settings(size: int) -> Any:
    from efficienttrain.curricula import Settings

    return Settings(size, MAGNITUDE, 0, 1, 0.0)


def folder_batches(root: Path, plan: Any, size: int, batches: int) -> Iterator[Any]:
    """The folder's batches at ``size``: CurriculumDataset over an ImageFolder, keyed as a run keys them."""
    from torch.utils.data import default_collate

    from efficienttrain.data import CurriculumDataset, batch_keys, build_train_transform
    from efficienttrain.data.datasets import CheckedImageFolder
    from efficienttrain.data.decode import open_lazy

    folder = CheckedImageFolder(str(root / "train"), build_train_transform(FINAL, **plan.transform_options()))
    if plan.reduced_decode:
        folder.loader = open_lazy
    ds = CurriculumDataset(folder, plan=plan)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    fresh = BATCH // plan.uses_per_image(size, FINAL)
    for b in range(batches):
        keys = batch_keys(plan, order[b * fresh : (b + 1) * fresh], _settings(size), seed=0, epoch=0, final_size=FINAL)
        yield default_collate(ds.__getitems__(keys))


def shard_batches(root: Path, plan: Any, size: int, batches: int) -> Iterator[Any]:
    """The shards' batches at ``size``: the stream's planned batches, read front to back."""
    from efficienttrain.curricula import constant
    from efficienttrain.data import CurriculumStream, ShardSet, build_train_transform

    shards = ShardSet.open(str(root / "train"))
    shards.transform = build_train_transform(FINAL, **plan.transform_options())
    stream = CurriculumStream(shards, constant(1, FINAL), BATCH, plan=plan)
    yield from stream.planned([_settings(size)] * batches)


def time_cell(source: str, root: Path, config: dict[str, Any], size: int, images: int) -> dict[str, float]:
    """Images per CPU-second of one source, configuration and size (after one untimed warm-up batch)."""
    from efficienttrain.data import ShrinkPlan

    plan = ShrinkPlan(**config)
    make = folder_batches if source == "folder" else shard_batches
    batches = make(root, plan, size, 1 + max(1, images // BATCH))
    next(batches)  # warm-up: imports, caches, the first tar's header
    t0, n = time.process_time(), 0
    for x, _ in batches:
        n += len(x)
    seconds = time.process_time() - t0
    return {"images": n, "cpu_s": seconds, "images_per_cpu_s": n / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True, help="ImageFolder of full-size JPEGs (benchmarks/make_loader_data.py)")
    parser.add_argument("--shards", required=True, help="the same folder written by efficienttrain shards")
    parser.add_argument("--images", type=int, default=512, help="images timed per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    from efficienttrain.provenance import git_state, machine_info, software_versions

    roots = {"folder": Path(args.folder), "shards": Path(args.shards)}
    cells = [(source, name, size) for name in CONFIGS for size in SIZES for source in roots]
    rounds: dict[tuple[str, str, int], list[float]] = {cell: [] for cell in cells}
    for r in range(args.rounds):
        for source, name, size in cells:
            res = time_cell(source, roots[source], CONFIGS[name], size, args.images)
            rounds[(source, name, size)].append(res["images_per_cpu_s"])
            print(f"round {r + 1}: {source:<6} {name:<15} B={size}: {res['images_per_cpu_s']:.1f} images per CPU-second", flush=True)
    rows = [{"source": s, "config": n, "size": b, "images_per_cpu_s": statistics.median(v), "rounds": v} for (s, n, b), v in rounds.items()]
    record = {"final_size": FINAL, "batch": BATCH, "magnitude": MAGNITUDE, "images_per_cell": args.images, "rows": rows,
              "git": git_state(), "machine": machine_info(), "versions": software_versions()}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stream_loader.json").write_text(json.dumps(record, indent=1))
    (out / "stream_loader.md").write_text(table(rows, args))
    print(table(rows, args))


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The markdown table the docs quote: images per second per core, folder against shards."""
    get = {(r["source"], r["config"], r["size"]): r["images_per_cpu_s"] for r in rows}
    lines = [
        f"Images per second per core (CPU time, one torch thread; median of {args.rounds} rounds of {args.images} images), final size {FINAL}, m = {MAGNITUDE:g}.",
        "",
        "| configuration | B | folder | shards | shards / folder |",
        "|---|---|---|---|---|",
    ]
    for name in CONFIGS:
        for size in SIZES:
            f, s = get[("folder", name, size)], get[("shards", name, size)]
            lines.append(f"| {name} | {size} | {f:.1f} | {s:.1f} | {s / f:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
