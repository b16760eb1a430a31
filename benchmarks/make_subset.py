"""Make a class-balanced subset of an ImageFolder split (hard links where possible, else copies).

Used for the transfer check: CIFAR-10 with 500 training images a class and its full test split.

Usage::

    tar xzf ../shared/data/cifar10-jpg.tar.gz -C runs/cifar10
    python benchmarks/make_subset.py --data runs/cifar10/<folder> --out runs/cifar10-5k --per-class 500 --full test
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
    args = parser.parse_args()
    src, out = Path(args.data), Path(args.out)
    classes = sorted(p for p in (src / "train").iterdir() if p.is_dir())
    if not classes:
        raise SystemExit(f"no class folders under {src / 'train'}")
    for c in classes:
        for f in sorted(c.iterdir())[: args.per_class]:
            link(f, out / "train" / c.name / f.name)
    for split in args.full:
        for f in sorted((src / split).rglob("*")):
            if f.is_file():
                link(f, out / split / f.relative_to(src / split))
    print(f"wrote {out}: {args.per_class} training images for each of {len(classes)} classes, and {', '.join(args.full)} in full")


if __name__ == "__main__":
    main()
