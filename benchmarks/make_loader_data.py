"""Make the data-loader benchmark set: Imagenette-dev upscaled to ImageNet's typical size.

Decoding cost depends on the stored image size, and Imagenette-dev stores 224-px images, far
smaller than ImageNet's (typically 500 x 375). This script resizes every image of a split to
``--size`` (default 500 x 375, bicubic; the square images are stretched to 4:3, which matters
for decoding cost and not for the loader measurements) and re-encodes it as JPEG at
``--quality`` (default 90). The output is an ImageFolder with the same classes; it is a
benchmark input, not part of the repository.

Usage::

    python -m benchmarks.make_loader_data --data ../shared/data/imagenette-dev --out runs/loader-data
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ImageFolder with train/ and val/ (Imagenette-dev)")
    parser.add_argument("--out", required=True, help="where to write the upscaled ImageFolder")
    parser.add_argument("--size", type=int, nargs=2, default=(500, 375), metavar=("W", "H"))
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    args = parser.parse_args()
    src, out = Path(args.data), Path(args.out)
    t0, count = time.perf_counter(), 0
    for split in args.splits:
        files = sorted(p for p in (src / split).rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
        if not files:
            raise SystemExit(f"no images under {src / split}; pass --data DIR with {split}/<class>/<image>")
        for path in files:
            target = out / split / path.parent.name / (path.stem + ".JPEG")
            if target.is_file():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as img:
                img.convert("RGB").resize(tuple(args.size), Image.Resampling.BICUBIC).save(target, "JPEG", quality=args.quality)
            count += 1
        print(f"{split}: {len(files)} images", flush=True)
    print(f"wrote {count} images to {out} in {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
