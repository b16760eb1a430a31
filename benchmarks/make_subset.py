"""Make a class-balanced subset of an ImageFolder split (hard links where possible, else copies).

Used for the transfer check (CIFAR-10 with 500 training images a class and its full test split),
and for pilots that must never see the validation set: ``--holdout N`` moves the last N training
images of every class (by name) into a ``pilot-val/`` split, which a pilot then scores on
(``--val-split pilot-val``).

Usage::

    tar xzf ../shared/data/cifar10-jpg.tar.gz -C runs/cifar10
    python -m benchmarks.make_subset --data runs/cifar10/<folder> --out runs/cifar10-5k --per-class 500 --full test
    python -m benchmarks.make_subset --data ../shared/data/imagenette-dev --out runs/pilot --per-class 100000 --holdout 80 --full
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ImageFolder root with train/ (and the --full splits)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--per-class", type=int, default=500, help="training images kept per class (the first ones by name)")
    parser.add_argument("--full", nargs="*", default=["test"], help="splits copied whole")
    parser.add_argument("--holdout", type=int, default=0, help="training images a class moved to pilot-val/ (the last ones by name)")
    args = parser.parse_args()
    src, out = Path(args.data), Path(args.out)
    classes = sorted(p for p in (src / "train").iterdir() if p.is_dir())
    if not classes:
        raise SystemExit(f"no class folders under {src / 'train'}")
    for c in classes:
        files = sorted(c.iterdir())
        if args.holdout >= len(files):
            raise SystemExit(f"--holdout {args.holdout} leaves no training images in {c.name} ({len(files)} images)")
        kept, held = (files[: len(files) - args.holdout], files[len(files) - args.holdout :]) if args.holdout else (files, [])
        for f in kept[: args.per_class]:
            link(f, out / "train" / c.name / f.name)
        for f in held:
            link(f, out / "pilot-val" / c.name / f.name)
    for split in args.full:
        for f in sorted((src / split).rglob("*")):
            if f.is_file():
                link(f, out / split / f.relative_to(src / split))
    held = f", {args.holdout} a class held out in pilot-val/" if args.holdout else ""
    print(f"wrote {out}: up to {args.per_class} training images for each of {len(classes)} classes{held}, and {', '.join(args.full) or 'no split'} in full")


if __name__ == "__main__":
    main()
