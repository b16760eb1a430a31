"""Write an image folder as WebDataset shards: tar files of ``<key>.jpg``, ``<key>.cls``, ``<key>.json``.

``efficienttrain shards SRC OUT`` turns ``SRC/train/<class>/<image>`` (and the validation split)
into ``OUT/<split>/shard-000000.tar``, ... in the WebDataset layout that timm, OpenCLIP and the
``webdataset`` package read: each sample is consecutive tar members sharing a key, here the image
(``.jpg``), its label index (``.cls``, text) and its origin (``.json``: the path relative to the
split and the class name). Beside the shards, ``index.json`` records the class names, every
shard's sample count and the images that could not be read, so a reader knows an epoch's length
without opening a tar.

Samples are shuffled across the shards (a seeded permutation of the sorted file list): a reader
streams shards in order and can only mix samples within a buffer, so class-sorted shards would
give batches of one class. The split into shards is a pure function of the sorted file list, the
seed and the shard size, and each
shard is written through a temporary file and renamed, with a sidecar ``shard-NNNNNN.json`` that
records its count: a run that is stopped resumes where it was and writes the same shards. Images
that cannot be read (corrupt, or above the pixel limit) are named in the index and left out.
"""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from PIL import Image

from ..errors import BadImageError, UserError
from ..limits import MAX_IMAGE_PIXELS
from ..rundir import atomic_write, remove_stale_temp_files
from .datasets import CheckedImageFolder, validate_image_folder
from .decode import load_image
from .stream import FORMAT, INDEX, ShardIndex

__all__ = ["ShardIndex", "write_shards", "FORMAT"]



def write_shards(
    source: Union[str, Path],
    out: Union[str, Path],
    *,
    shard_size: int = 1000,
    max_side: Optional[int] = None,
    short_side: Optional[int] = None,
    quality: int = 90,
    val_split: str = "val",
    splits: Sequence[str] = ("train", "val"),
    seed: int = 0,
    max_pixels: int = MAX_IMAGE_PIXELS,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, ShardIndex]:
    """Write ``source``'s splits as shards under ``out`` (resuming a stopped run).

    Args:
        source: An image folder with ``train/`` and ``val_split/`` (the layout ``--data`` takes).
        out: Output folder; each split goes to ``out/<split>/`` (``val`` is always named ``val``).
        shard_size: Samples per shard (the last shard of a split may hold fewer).
        max_side: Shrink images whose longer side exceeds this (bicubic) and store them as JPEG.
        short_side: Shrink images whose shorter side exceeds this (bicubic), as ``--preload-max-size``
            does while preloading; with ``max_side`` too, the smaller image wins.
        quality: JPEG quality of images that are re-encoded (shrunk, or not JPEG to begin with).
        val_split: Name of the validation folder in ``source``.
        splits: Which splits to write (``train``, ``val``).
        seed: Seed of the permutation that spreads each split's images across its shards.
        max_pixels: Images above this many pixels count as unreadable.
        progress: Show a progress bar per split.
        log: Receives one line per split.

    Returns:
        Each written split's :class:`ShardIndex`.

    Raises:
        UserError: On a bad source, an output inside the source, a bad size, or an output folder
            that holds files these shards do not write.
    """
    source, out = Path(source), Path(out)
    if shard_size < 1 or any(side is not None and side < 8 for side in (max_side, short_side)) or not 1 <= quality <= 100:
        raise UserError(f"--shard-size must be at least 1, --max-side and --short-side at least 8, and --quality 1-100; got {shard_size}, {max_side}, {short_side}, {quality}")
    classes = validate_image_folder(source, val_split)
    if source.resolve() in (out.resolve(), *out.resolve().parents):
        raise UserError(f"the output {out} is inside the source {source}; write the shards elsewhere")
    written = {}
    for split in splits:
        folder = CheckedImageFolder(str(source / (val_split if split == "val" else split)))
        remap = {i: classes.index(name) for name, i in folder.class_to_idx.items()}
        samples = [(p, remap[t]) for p, t in folder.samples]
        random.Random(seed).shuffle(samples)
        written[split] = _write_split(samples, Path(folder.root), out / split, classes, _Encoding(max_side, quality, max_pixels, seed, short_side), shard_size, progress)
        index = written[split]
        log(f"{split}: {index.samples} images in {len(index.shards)} shards under {out / split}" + (f"; {len(index.bad_images)} unreadable, left out (listed in {INDEX})" if index.bad_images else ""))
    return written


@dataclass(frozen=True)
class _Encoding:
    """How images are stored: shrunk to ``max_side`` (or not), the JPEG quality of re-encoded ones, the pixel limit, the shuffle's seed."""

    max_side: Optional[int]
    quality: int
    max_pixels: int
    seed: int
    short_side: Optional[int] = None

    def record(self) -> dict[str, Any]:
        """What a shard's sidecar records, so that a rerun with other options rewrites it."""
        return {"max_side": self.max_side, "short_side": self.short_side, "quality": self.quality, "max_pixels": self.max_pixels, "seed": self.seed}

    def scale(self, size: tuple[int, int]) -> float:
        """The factor an image of ``size`` is shrunk by (1: kept as it is)."""
        factors = [1.0]
        if self.max_side is not None:
            factors.append(self.max_side / max(size))
        if self.short_side is not None:
            factors.append(self.short_side / min(size))
        return min(factors)


def _write_split(samples: list[tuple[str, int]], root: Path, folder: Path, classes: list[str], enc: _Encoding, shard_size: int, progress: bool) -> ShardIndex:
    """Write one split's shards (those not already complete) and its index."""
    _check_output(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(folder)  # partial shards of a killed writer would fill the disk twice
    chunks = [samples[i : i + shard_size] for i in range(0, len(samples), shard_size)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(samples), desc=f"sharding {folder.name}", unit="img")
    index = ShardIndex(classes, max_side=enc.max_side, shuffle_seed=enc.seed)
    for n, chunk in enumerate(chunks):
        name = f"shard-{n:06d}"
        done = _read_sidecar(folder / f"{name}.json", enc)
        if done is None or not (folder / f"{name}.tar").is_file():
            done = _write_shard(folder / f"{name}.tar", chunk, n * shard_size, root, classes, enc)
        index.shards.append({"name": f"{name}.tar", "samples": done["samples"]})
        index.bad_images += done["bad_images"]
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    _atomic_text(folder / INDEX, json.dumps(index.to_dict(), indent=1))
    return index


def _check_output(folder: Path) -> None:
    """Refuse an output split folder that holds files the shards do not write (they are never touched)."""
    if not folder.is_dir():
        return
    ours = [p.name for p in folder.iterdir() if p.name == INDEX or (p.name.startswith("shard-") and p.suffix in (".tar", ".json")) or ".tmp-" in p.name]
    others = sorted({p.name for p in folder.iterdir()} - set(ours))
    if others:
        raise UserError(f"{folder} holds files that are not shards ({', '.join(others[:3])}); choose an empty or a shards output folder")
    if (folder / INDEX).is_file():
        ShardIndex.read(folder)  # an index of another layout is refused, not replaced


def _read_sidecar(path: Path, enc: _Encoding) -> Optional[dict[str, Any]]:
    """A finished shard's record, if it was written with this encoding (else the shard is written again)."""
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) and "samples" in data and data.get("encoding") == enc.record() else None
    except (OSError, ValueError):
        return None


def _write_shard(path: Path, chunk: list[tuple[str, int]], first_key: int, root: Path, classes: list[str], enc: _Encoding) -> dict[str, Any]:
    """Write one tar (through a temporary file) and its sidecar; returns the sidecar's content."""
    bad: list[str] = []

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w") as tar:
            for offset, (image_path, label) in enumerate(chunk):
                relative = os.path.relpath(image_path, root)
                try:
                    data = _encoded(image_path, enc)
                except BadImageError:
                    bad.append(relative)
                    continue
                key = f"{first_key + offset:09d}"
                meta = json.dumps({"path": relative, "class": classes[label]}).encode()
                for suffix, payload in (("jpg", data), ("cls", str(label).encode()), ("json", meta)):
                    info = tarfile.TarInfo(f"{key}.{suffix}")
                    info.size, info.mtime = len(payload), 0  # no clock in the bytes: a rerun writes the same file
                    tar.addfile(info, io.BytesIO(payload))

    atomic_write(path, write)
    count = len(chunk) - len(bad)
    sidecar = {"samples": count, "bad_images": bad, "encoding": enc.record()}
    _atomic_text(path.with_suffix(".json"), json.dumps(sidecar))
    return sidecar


def _encoded(path: str, enc: _Encoding) -> bytes:
    """The bytes stored for an image: the file itself when it is a JPEG small enough, else a re-encoded JPEG."""
    img = load_image(path, enc.max_pixels)  # the pixel limit and decode errors, as training reads them
    raw = Path(path).read_bytes()
    is_jpeg = raw[:3] == b"\xff\xd8\xff"
    scale = enc.scale(img.size)
    if is_jpeg and scale >= 1:
        return raw
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=enc.quality)
    return buf.getvalue()


def _atomic_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))
