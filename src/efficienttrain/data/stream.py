"""Streamed data: WebDataset tar shards, read in order inside the loader workers, with the curriculum intact.

A map-style dataset lets the batch sampler pick any sample, so the curriculum's settings travel
to the workers with the indices (:mod:`efficienttrain.data.sampler`). A stream of tar shards can
only be read front to back, so here each worker forms whole batches itself, and every batch is
still a pure function of ``(seed, epoch, step)``:

1. **The epoch's order.** The shards are permuted by ``(seed, epoch)``, the same on every rank.
   Their samples, in that order, form one sequence; rank ``r`` of ``R`` takes a contiguous range
   of it, so the shards need not divide evenly and every rank has the same number of batches
   (:attr:`CurriculumStream.steps_per_epoch`, from the sample counts alone).
2. **Lanes.** A rank's range is cut into ``lanes`` contiguous slices; lane ``l`` feeds the
   batches ``step = l, l + lanes, ...``, each batch taking its fresh samples (``batch / replay``)
   in turn. A slice is read as groups of whole shard pieces of at least ``shuffle_buffer``
   samples, each group permuted by its own seed.
3. **Workers.** The loader asks its workers for batches in turn, so worker ``w`` serves the
   steps ``start + w, start + w + W, ...``, taking each from its lane. With as many lanes as
   workers (the default) each worker reads one slice once; with another worker count a resumed
   run is still exact, and a worker reads the groups of each lane it touches.
4. **Settings.** A batch's keys are :meth:`CurriculumSchedule.keys` of its fresh samples, and a
   worker loads them with :class:`~efficienttrain.data.worker.CurriculumDataset`, exactly as for
   a folder: the magnitude, the size, ``--shrink-at`` and replay.

**Resume is exact at any step.** A batch's samples depend only on ``(seed, epoch, lanes, step)``.
A resumed worker skips the groups its lane consumed before the step without opening them and
re-reads at most one group (``shuffle_buffer`` samples, rounded up to whole shard pieces) to
find its place; nothing is replayed or skipped.

The position reaches persistent workers through a small shared tensor, written by
:meth:`CurriculumStream.set_epoch` before each epoch's iterator starts.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence, Union

import torch
from torch.utils.data import Dataset, IterableDataset, default_collate, get_worker_info

from ..curricula import Curriculum, Settings
from ..errors import BadImageError, UserError
from ..limits import MAX_IMAGE_PIXELS
from .decode import load_image, open_lazy
from .sampler import CurriculumSchedule, batch_keys, check_batch_size, replicas_and_rank
from .shrink import ShrinkPlan
from .worker import CurriculumDataset, sample_seed
from .transforms import StageTransforms

__all__ = ["ShardIndex", "Shard", "ShardSet", "RawSample", "CurriculumStream", "PlannedStream", "EvalStream", "expand_braces", "read_shard", "holds_shards", "is_shard_source", "is_url"]

IMAGE_SUFFIXES = ("jpg", "jpeg", "png", "webp", "ppm", "bmp", "tif", "tiff")
LABEL_KEYS = ("label", "cls", "class_idx", "target")
FORMAT = "efficienttrain-shards/1"
INDEX = "index.json"


def expand_braces(pattern: str) -> list[str]:
    """Expand a WebDataset brace pattern: ``a-{000..009}.tar`` (zero-padded ranges) and ``{x,y}``.

    Args:
        pattern: The pattern; several brace groups multiply.

    Returns:
        The names, in order.

    Raises:
        UserError: On an unbalanced brace or a descending range.
    """
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        if "{" in pattern or "}" in pattern:
            raise UserError(f"unbalanced brace in the shard pattern {pattern!r}")
        return [pattern]
    head, body, tail = pattern[: match.start()], match.group(1), pattern[match.end() :]
    numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if numeric:
        lo, hi = numeric.groups()
        if int(hi) < int(lo):
            raise UserError(f"the range {{{body}}} in {pattern!r} counts down; write {{{hi}..{lo}}}")
        width = len(lo) if lo.startswith("0") else 0
        options = [str(i).zfill(width) for i in range(int(lo), int(hi) + 1)]
    else:
        options = body.split(",")
    return [name for option in options for name in expand_braces(head + option + tail)]


def holds_shards(folder: Path) -> bool:
    """Whether ``folder`` is one split's shards: it has a shard index or ``.tar`` files."""
    return folder.is_dir() and ((folder / INDEX).is_file() or any(p.suffix == ".tar" for p in folder.iterdir()))


def is_shard_source(spec: str) -> bool:
    """Whether ``--data`` names shards: a ``.tar`` file, a brace pattern of them, a split's folder of them, a folder whose ``train/`` holds them, or a URL."""
    if "{" in spec and ".tar" in spec or spec.endswith(".tar") or is_url(spec):
        return True
    folder = Path(spec).expanduser()
    return holds_shards(folder) or holds_shards(folder / "train")


class RawSample(NamedTuple):
    """One sample as a shard stores it.

    Attributes:
        key: Its key in the tar (the member name up to the first dot).
        image: The encoded image.
        label: Its class index.
        position: Its place in the shard, from 0.
    """

    key: str
    image: bytes
    label: int
    position: int


def read_shard(path: str, start: int = 0, stop: Optional[int] = None) -> Iterator[RawSample]:
    """The samples ``start <= position < stop`` of a shard, in order (earlier ones are skipped unread).

    A sample is the consecutive members that share a key: an image (``.jpg``, ``.png``, ...) and a
    label (``.cls`` as text, or a ``.json`` with a ``label``/``cls`` field).

    Raises:
        UserError: If the tar cannot be read, or a sample has no image or no label.
    """
    key, parts, position = None, {}, -1
    response = _urlopen(path) if is_url(path) else None  # a URL is read as a stream, front to back
    try:
        with tarfile.open(fileobj=response, mode="r|") if response is not None else tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                folder, base = os.path.split(member.name)
                stem, _, suffix = base.partition(".")
                if f"{folder}/{stem}" != key:
                    if key is not None and position >= start:
                        yield _sample(path, key, parts, position)
                    key, parts, position = f"{folder}/{stem}", {}, position + 1
                    if stop is not None and position >= stop:
                        return
                if position >= start:
                    handle = tar.extractfile(member)
                    parts[suffix.lower()] = handle.read() if handle is not None else b""
            if key is not None and position >= start and (stop is None or position < stop):
                yield _sample(path, key, parts, position)
    except (tarfile.TarError, EOFError, OSError, http.client.HTTPException) as err:  # IncompleteRead: a connection dropped mid-shard
        raise UserError(f"cannot read the shard {path} ({err}); rewrite it (efficienttrain shards) or remove it from --data") from None
    finally:
        if response is not None:
            response.close()


URL_TIMEOUT_S = 60.0


def is_url(spec: str) -> bool:
    """Whether ``spec`` is an ``http://`` or ``https://`` address."""
    return spec.startswith(("http://", "https://"))


def _urlopen(url: str) -> Any:
    """An open HTTP response for ``url``.

    Raises:
        UserError: If the address cannot be reached or answers with an error.
    """
    import urllib.error
    import urllib.request

    try:
        return urllib.request.urlopen(url, timeout=URL_TIMEOUT_S)
    except (urllib.error.URLError, OSError, ValueError) as err:  # HTTPError is a URLError
        reason = getattr(err, "reason", None) or err
        raise UserError(f"cannot reach {url} ({reason}); check the address and the network, or copy the shards to local disk") from None


def _sample(path: str, key: str, parts: dict[str, bytes], position: int) -> RawSample:
    image = next((parts[s] for s in IMAGE_SUFFIXES if s in parts), None)
    if image is None:
        raise UserError(f"sample {key!r} in {path} has no image ({', '.join(IMAGE_SUFFIXES)}); rewrite the shard")
    return RawSample(key.lstrip("/"), image, _label(path, key, parts), position)


def _label(path: str, key: str, parts: dict[str, bytes]) -> int:
    try:
        if "cls" in parts:
            return int(parts["cls"].decode().strip())
        if "json" in parts:
            meta = json.loads(parts["json"])
            found = [meta[k] for k in LABEL_KEYS if isinstance(meta, dict) and isinstance(meta.get(k), int)]
            if found:
                return int(found[0])
    except (ValueError, UnicodeDecodeError):
        pass
    raise UserError(f"sample {key.lstrip('/')!r} in {path} has no label: give it a .cls member (the class index as text) or a .json with an integer 'label'")


@dataclass
class ShardIndex:
    """``OUT/<split>/index.json``: what a reader needs before opening a shard.

    Attributes:
        classes: Class names, by label index.
        shards: ``{"name", "samples"}`` for every shard, in order.
        bad_images: Source paths (relative to the split) left out because they could not be read.
        max_side: The longest side images were shrunk to (``None``: the original sizes).
        shuffle_seed: Seed of the permutation of the sorted file list across the shards.
        format: The layout's name and version.
    """

    classes: list[str]
    shards: list[dict[str, Any]] = field(default_factory=list)
    bad_images: list[str] = field(default_factory=list)
    max_side: Optional[int] = None
    shuffle_seed: Optional[int] = None
    format: str = FORMAT

    @property
    def samples(self) -> int:
        """Samples over all shards (an epoch's length)."""
        return sum(int(s["samples"]) for s in self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "classes": self.classes, "samples": self.samples, "shards": self.shards, "bad_images": self.bad_images, "max_side": self.max_side, "shuffle_seed": self.shuffle_seed}

    @classmethod
    def read(cls, folder: Union[str, Path]) -> "ShardIndex":
        """Read a split's index.

        Raises:
            UserError: If the folder has no index of this layout.
        """
        path = f"{str(folder).rstrip('/')}/{INDEX}" if is_url(str(folder)) else Path(folder) / INDEX
        response = _urlopen(path) if isinstance(path, str) else None  # an unreachable address is its own error
        try:
            data = json.loads(response.read() if response is not None else path.read_text())
        except (OSError, ValueError):
            raise UserError(f"no readable shard index at {path}; write the shards with: efficienttrain shards SRC OUT") from None
        finally:
            if response is not None:
                response.close()
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{path} is not an index of efficienttrain shards ({FORMAT})")
        return cls(list(data["classes"]), list(data["shards"]), list(data.get("bad_images") or []), data.get("max_side"), data.get("shuffle_seed"))


@dataclass(frozen=True)
class Shard:
    """One tar file and how many samples it holds."""

    path: str
    samples: int


class ShardSet:
    """The shards of one split: what a reader knows before opening a tar.

    Args:
        shards: The shards, in their stored order (a sample's index counts through them in it).
        classes: Class names by label index.
        transform: The split's image transform (the run sets it, as for a folder dataset).
        bad_images: Images the shard writer left out, by source path (from its index).
    """

    def __init__(self, shards: Sequence[Shard], classes: list[str], transform: Optional[Callable] = None, bad_images: Sequence[str] = ()) -> None:
        self.shards = list(shards)
        self.classes = list(classes)
        self.transform = transform
        self.bad_images = list(bad_images)
        self.offsets = [0]
        for shard in self.shards:
            self.offsets.append(self.offsets[-1] + shard.samples)

    def __len__(self) -> int:
        return self.offsets[-1]

    def digest(self) -> str:
        """SHA-256 of the shards' names and counts (the data's identity for a resume)."""
        h = hashlib.sha256()
        for shard in self.shards:
            h.update(f"{os.path.basename(shard.path)}\0{shard.samples}\n".encode())
        return h.hexdigest()

    @classmethod
    def open(cls, spec: str) -> "ShardSet":
        """The shards ``spec`` names: a folder (with ``index.json`` or ``*.tar``), a ``.tar``, or a brace pattern.

        Without an index the tars are scanned once for their counts and labels.

        Raises:
            UserError: On a missing or empty shard, a folder without shards, or a sample without a label.
        """
        if is_url(spec):
            return cls._from_url(spec)
        folder = Path(spec).expanduser()
        if "{" not in spec and folder.is_dir() and (folder / INDEX).is_file():
            return cls._from_index(folder)
        if "{" not in spec and folder.is_dir():
            paths = sorted(str(p) for p in folder.iterdir() if p.suffix == ".tar")
            if not paths:
                raise UserError(f"no .tar shards in {folder}; write them with: efficienttrain shards SRC OUT")
        else:
            paths = [str(Path(p).expanduser()) for p in expand_braces(spec)]
            beside = {str(Path(p).parent) for p in paths}
            if len(beside) == 1 and (Path(next(iter(beside))) / INDEX).is_file():
                return cls._from_index(Path(next(iter(beside))), names=[os.path.basename(p) for p in paths])
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise UserError(f"shard not found: {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "") + "; check the --data pattern")
        scans = [_scan(p) for p in paths]
        top = max(labels for _, labels in scans)
        return cls([Shard(p, count) for p, (count, _) in zip(paths, scans)], [str(i) for i in range(top + 1)])

    @classmethod
    def _from_url(cls, spec: str) -> "ShardSet":
        """Shards at an address: a folder URL with an ``index.json``, or a pattern of tars beside one (an index is needed: counting would download every shard)."""
        if "{" not in spec and not spec.endswith(".tar"):
            base, names = spec.rstrip("/"), None
        else:
            urls = expand_braces(spec)
            base, names = urls[0].rsplit("/", 1)[0], [u.rsplit("/", 1)[1] for u in urls]
        index = ShardIndex.read(base)
        counts = {s["name"]: int(s["samples"]) for s in index.shards}
        unknown = [n for n in names or () if n not in counts]
        if unknown:
            raise UserError(f"{base}/{INDEX} does not list {unknown[0]}; a URL pattern needs the shards' index beside them")
        shards = [Shard(f"{base}/{n}", counts[n]) for n in names or counts]
        empty = [s.path for s in shards if s.samples < 1]
        if empty:
            raise UserError(f"the shard {empty[0]} holds no samples; write the shards again or leave it out of the pattern")
        return cls(shards, index.classes, bad_images=index.bad_images)

    @classmethod
    def _from_index(cls, folder: Path, names: Optional[list[str]] = None) -> "ShardSet":
        """The shards an index lists (or those of ``names`` among them), with its class names."""
        index = ShardIndex.read(folder)
        counts = {s["name"]: int(s["samples"]) for s in index.shards}
        unknown = [n for n in names or () if n not in counts]
        if unknown:
            missing = not (folder / unknown[0]).is_file()
            raise UserError(f"shard not found: {folder / unknown[0]}; check the --data pattern" if missing else f"{folder / INDEX} does not list {unknown[0]}; write the shards again")
        shards = [Shard(str(folder / n), counts[n]) for n in (names or counts)]
        missing = [s.path for s in shards if not os.path.isfile(s.path)]
        if missing:
            raise UserError(f"shard not found: {missing[0]} (listed in {folder / INDEX}); rewrite the shards with efficienttrain shards")
        empty = [s.path for s in shards if s.samples < 1]
        if empty:
            raise UserError(f"the shard {empty[0]} holds no samples; rewrite the shards or remove it")
        return cls(shards, index.classes, bad_images=index.bad_images)


def _scan(path: str) -> tuple[int, int]:
    """A shard's sample count and its largest label (shards without an index are read once for these)."""
    count, top = 0, -1
    for sample in read_shard(path):
        count, top = count + 1, max(top, sample.label)
    if count == 0:
        raise UserError(f"the shard {path} holds no samples; remove it from --data")
    return count, top


# -- the epoch's layout ------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Samples ``start <= position < stop`` of shard ``shard`` (an index into the set)."""

    shard: int
    start: int
    stop: int

    @property
    def samples(self) -> int:
        return self.stop - self.start


def shard_order(n: int, seed: int, epoch: int) -> list[int]:
    """The epoch's permutation of ``n`` shards (the same on every rank)."""
    g = torch.Generator().manual_seed(sample_seed(seed, epoch, n, view=1))
    return torch.randperm(n, generator=g).tolist()


def pieces_between(shards: ShardSet, order: list[int], a: int, b: int) -> list[Piece]:
    """The shard pieces that hold positions ``a <= p < b`` of the epoch's sequence (shards in ``order``)."""
    out, offset = [], 0
    for index in order:
        n = shards.shards[index].samples
        lo, hi = max(a, offset), min(b, offset + n)
        if lo < hi:
            out.append(Piece(index, lo - offset, hi - offset))
        offset += n
        if offset >= b:
            break
    return out


def group_pieces(pieces: list[Piece], buffer: int) -> list[list[Piece]]:
    """Consecutive pieces gathered until each group holds at least ``buffer`` samples (the last may hold fewer)."""
    groups: list[list[Piece]] = [[]]
    count = 0
    for piece in pieces:
        if count >= max(buffer, 1):
            groups.append([])
            count = 0
        groups[-1].append(piece)
        count += piece.samples
    return [g for g in groups if g]


class _Lane:
    """One lane's samples in order: its groups, each read and permuted when first reached."""

    def __init__(self, stream: "CurriculumStream", groups: list[list[Piece]], epoch: int) -> None:
        self.stream, self.groups, self.epoch = stream, groups, epoch
        self.bounds = [0]
        for group in groups:
            self.bounds.append(self.bounds[-1] + sum(p.samples for p in group))
        self.loaded: Optional[tuple[int, list[tuple[int, RawSample]]]] = None  # (group number, its samples in order)

    def take(self, position: int, count: int) -> list[tuple[int, RawSample]]:
        """``count`` samples of this lane from ``position`` on, as ``(index, sample)``."""
        out = []
        while len(out) < count:
            g = next(i for i in range(len(self.groups)) if self.bounds[i] <= position < self.bounds[i + 1])
            if self.loaded is None or self.loaded[0] != g:
                self.loaded = (g, self._read(g))
            samples = self.loaded[1]
            start = position - self.bounds[g]
            got = samples[start : start + count - len(out)]
            if not got:  # pragma: no cover - _read checks the counts; this keeps a miscount from spinning
                raise UserError("a shard holds fewer samples than its index says; write the shards again with efficienttrain shards")
            out += got
            position += len(got)
        return out

    def _read(self, g: int) -> list[tuple[int, RawSample]]:
        shards = self.stream.shards
        samples = []
        for piece in self.groups[g]:
            first, path = shards.offsets[piece.shard], shards.shards[piece.shard].path
            got = [(first + s.position, s) for s in read_shard(path, piece.start, piece.stop)]
            if len(got) != piece.samples:
                raise UserError(
                    f"the shard {path} holds {piece.start + len(got)} samples where its index says {shards.shards[piece.shard].samples}; "
                    "write the shards again with efficienttrain shards (or remove the stale index.json)"
                )
            samples += got
        seed = sample_seed(self.stream.seed, self.epoch, samples[0][0], view=2)
        perm = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).tolist()
        return [samples[i] for i in perm]


class _Decoded(Dataset):
    """The samples of the batch at hand, by index, decoded and transformed like a folder's images.

    An image that cannot be decoded is replaced by the next one of the batch under
    ``skip_bad_images`` (and counted), as an image folder replaces it by the next file.
    """

    def __init__(self, transform: Optional[Callable], skip_bad_images: bool, max_pixels: int, counter: Optional[torch.Tensor], lazy: bool = False) -> None:
        self.transform = transform
        self.skip_bad_images = skip_bad_images
        self.max_pixels = max_pixels
        self.counter = counter
        self.open = open_lazy if lazy else load_image  # lazy: the transform decodes, at reduced scale (--reduced-decode)
        self.items: dict[int, RawSample] = {}

    def __getitem__(self, index: int) -> tuple[Any, int]:
        order = list(self.items)
        at = order.index(index)
        for attempt in range(len(order)):
            i = order[(at + attempt) % len(order)]
            sample = self.items[i]
            try:
                image = self.open(sample.image, self.max_pixels, name=f"{sample.key} (sample {i} of the shards)")
                return (self.transform(image) if self.transform is not None else image), sample.label
            except BadImageError:
                if not self.skip_bad_images:
                    raise
                if self.counter is not None:
                    self.counter[i] = 1
        raise UserError("no readable image in a whole batch of the shards; check them, or drop --skip-bad-images to see the first error")


class CurriculumStream(CurriculumSchedule, IterableDataset):
    """Training batches from WebDataset shards, each with its step's curriculum settings.

    Use it with ``DataLoader(stream, batch_size=None, num_workers=W)``: it yields whole batches
    ``(images, targets)``. Call :meth:`set_epoch` before each epoch, as with the batch sampler;
    :meth:`settings` gives each batch's settings for the device-side crop. See the module's
    description for the order and the resume guarantee.

    Args:
        shards: The training shards (their ``transform`` is the training transform).
        curriculum: The curriculum.
        batch_size: Samples per batch on this rank.
        plan: Where images shrink, and the replay (default: on the device).
        seed: Seed of the order and of the augmentation.
        num_replicas: DDP ranks (default: from the process group, else 1).
        rank: This rank (default: from the process group, else 0).
        lanes: Slices of a rank's range, one per worker for a single read (default: ``workers``).
        workers: The loader's ``num_workers`` (its workers must be this many; 0: the main process).
        shuffle_buffer: Samples permuted together (whole shard pieces; at least this many are
            held in memory per lane a worker serves).
        skip_bad_images: Replace an undecodable image by the next of its batch, and count it.
        max_pixels: The most pixels an image may have.
        expect_randaugment: Warn once when the transform has no RandAugment.
        bad_counter: Shared flags, one per training sample, that mark the undecodable ones
            (default: its own, with ``skip_bad_images``).

    Raises:
        ValueError: If a rank's share does not fill one batch, or the batch size does not suit the replay.
    """

    def __init__(
        self,
        shards: ShardSet,
        curriculum: Curriculum,
        batch_size: int,
        *,
        plan: Optional[ShrinkPlan] = None,
        seed: int = 0,
        num_replicas: Optional[int] = None,
        rank: Optional[int] = None,
        lanes: Optional[int] = None,
        workers: int = 0,
        shuffle_buffer: int = 1000,
        skip_bad_images: bool = False,
        max_pixels: int = MAX_IMAGE_PIXELS,
        expect_randaugment: bool = True,
        bad_counter: Optional[torch.Tensor] = None,
    ) -> None:
        plan = plan or ShrinkPlan()
        check_batch_size(batch_size, plan)
        self.num_replicas, self.rank = replicas_and_rank(num_replicas, rank)
        steps = len(shards) // self.num_replicas // batch_size
        if steps < 1:
            raise ValueError(f"{len(shards)} samples over {self.num_replicas} rank(s) do not fill one batch of {batch_size}; lower the batch size")
        super().__init__(curriculum, batch_size, steps, drop_last=True, seed=seed, plan=plan)
        self.shards = shards
        self.workers = int(workers)
        self.lanes = int(lanes or max(1, workers))
        self.shuffle_buffer = int(shuffle_buffer)
        if bad_counter is None and skip_bad_images:
            bad_counter = torch.zeros(len(shards), dtype=torch.int8).share_memory_()
        self.bad = bad_counter
        self._decoded = _Decoded(shards.transform, skip_bad_images, max_pixels, self.bad, lazy=plan.reduced_decode)
        self._loader = CurriculumDataset(self._decoded, plan=plan, transforms=StageTransforms(shards.transform, plan, expect_randaugment=expect_randaugment))
        # Read by the workers at the start of each epoch's iterator: (epoch, start step, seed, lanes).
        self._position = torch.zeros(4, dtype=torch.int64).share_memory_()
        self._publish()

    def __len__(self) -> int:
        return self.batches_in_epoch(self.epoch) - self.start_step

    def _publish(self) -> None:
        self._position.copy_(torch.tensor([self.epoch, self.start_step, self.seed, self.lanes]))

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        super().set_epoch(epoch, start_step)
        self._publish()

    def set_seed(self, seed: int) -> None:
        super().set_seed(seed)
        self._publish()

    def state_dict(self, epoch: Optional[int] = None, start_step: Optional[int] = None) -> dict[str, Any]:
        """The position, as the batch sampler records it, plus the lanes (the order depends on them)."""
        return {**super().state_dict(epoch, start_step), "lanes": self.lanes, "shuffle_buffer": self.shuffle_buffer}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("lanes"):
            self.lanes = int(state["lanes"])
        if state.get("shuffle_buffer"):
            self.shuffle_buffer = int(state["shuffle_buffer"])
        super().load_state_dict(state)

    def bad_image_count(self) -> int:
        """Distinct images skipped so far because they could not be decoded."""
        return 0 if self.bad is None else int(self.bad.sum())

    # -- the layout of an epoch ------------------------------------------------------------
    def lane_slices(self, epoch: int) -> list[tuple[int, int]]:
        """Each lane's ``[a, b)`` in the epoch's sequence: consecutive, from this rank's start, sized by its batches' fresh samples."""
        n_steps = self.batches_in_epoch(epoch)
        a = self.rank * len(self.shards) // self.num_replicas
        out = []
        for lane in range(self.lanes):
            need = sum(self.fresh_in_step(epoch, s) for s in range(lane, n_steps, self.lanes))
            out.append((a, a + need))
            a += need
        return out

    def lane_groups(self, epoch: int) -> list[list[list[Piece]]]:
        """Each lane's groups of shard pieces in ``epoch``."""
        order = shard_order(len(self.shards.shards), self.seed, epoch)
        return [group_pieces(pieces_between(self.shards, order, a, b), self.shuffle_buffer) for a, b in self.lane_slices(epoch)]

    def lane_positions(self, epoch: int) -> list[int]:
        """Where each batch of ``epoch`` starts in its lane's samples."""
        positions, used = [], [0] * self.lanes
        for step in range(self.batches_in_epoch(epoch)):
            positions.append(used[step % self.lanes])
            used[step % self.lanes] += self.fresh_in_step(epoch, step)
        return positions

    def my_steps(self, epoch: int, start: int) -> list[int]:
        """The steps this process serves: every ``W``-th from ``start + w`` for worker ``w`` of ``W``."""
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return list(range(start + worker, self.batches_in_epoch(epoch), workers))

    # -- iteration --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, start, seed, lanes = (int(v) for v in self._position.tolist())
        self.epoch, self.start_step, self.seed, self.lanes = epoch, start, seed, lanes  # this process's copy may be stale
        groups, positions = self.lane_groups(epoch), self.lane_positions(epoch)
        readers: dict[int, _Lane] = {}  # one group in memory per lane this process serves
        for step in self.my_steps(epoch, start):
            lane = step % self.lanes
            reader = readers.setdefault(lane, _Lane(self, groups[lane], epoch))
            fresh = reader.take(positions[step], self.fresh_in_step(epoch, step))
            self._decoded.items = dict(fresh)
            keys = self.keys([index for index, _ in fresh], epoch, step)
            yield default_collate(self._loader.__getitems__(keys))

    def planned(self, settings: Sequence[Settings], seed: int = 0) -> "PlannedStream":
        """A stream of one batch per entry of ``settings``, read as this stream reads (for timing the loader)."""
        return PlannedStream(self, settings, seed)

    def sample_indices(self, epoch: int) -> list[list[int]]:
        """Every batch's fresh sample indices in ``epoch`` on this rank, without decoding (for checks and tests)."""
        groups, positions = self.lane_groups(epoch), self.lane_positions(epoch)
        readers = [_Lane(self, g, epoch) for g in groups]
        return [
            [i for i, _ in readers[step % self.lanes].take(positions[step], self.fresh_in_step(epoch, step))]
            for step in range(self.batches_in_epoch(epoch))
        ]


class PlannedStream(IterableDataset):
    """Batches with given settings, one per entry, read from the shards front to back (what the probe times).

    The order is the shards' own, cycled when the plan needs more samples than they hold; worker
    ``w`` of ``W`` reads every ``W``-th shard and makes every ``W``-th batch, so the loader hands
    them out in plan order.

    Args:
        stream: The run's stream (its shards, transform, plan and batch size).
        settings: Each batch's settings.
        seed: Seed of the per-sample augmentation.
    """

    def __init__(self, stream: CurriculumStream, settings: Sequence[Settings], seed: int = 0) -> None:
        self.stream, self.settings, self.seed = stream, list(settings), seed

    def __len__(self) -> int:
        return len(self.settings)

    def _samples(self, worker: int, workers: int) -> Iterator[tuple[int, RawSample]]:
        shards = self.stream.shards
        mine = list(range(len(shards.shards)))[worker::workers] or list(range(len(shards.shards)))
        while True:
            got = 0
            for number in mine:
                for sample in read_shard(shards.shards[number].path):
                    got += 1
                    yield shards.offsets[number] + sample.position, sample
            if not got:
                raise UserError("the shards hold no samples; write them again with efficienttrain shards")

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        stream, final = self.stream, self.stream.curriculum.final_size
        samples = self._samples(worker, workers)
        for settings in self.settings[worker::workers]:
            fresh = [next(samples) for _ in range(stream.batch_size // stream.plan.uses_per_image(settings.size, final))]
            stream._decoded.items = dict(fresh)
            keys = batch_keys(stream.plan, [index for index, _ in fresh], settings, seed=self.seed, epoch=0, final_size=final)
            yield default_collate(stream._loader.__getitems__(keys))


class EvalStream(IterableDataset):
    """Validation samples from shards, each once over all ranks and workers: ``(image, target)``.

    Shard ``i`` goes to the process ``i mod (ranks x workers)``, so ranks may see different
    counts; evaluation sums its counts over ranks at the end, so that is safe.

    Args:
        shards: The validation shards (their ``transform`` is the evaluation transform).
        num_replicas: DDP ranks.
        rank: This rank.
        skip_bad_images: Leave out (and count) undecodable images instead of stopping.
        max_pixels: The most pixels an image may have.
    """

    def __init__(self, shards: ShardSet, num_replicas: int = 1, rank: int = 0, *, skip_bad_images: bool = False, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
        self.shards = shards
        self.num_replicas, self.rank = num_replicas, rank
        self.skip_bad_images = skip_bad_images
        self.max_pixels = max_pixels
        self.transform = shards.transform

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        slots, mine = self.num_replicas * workers, self.rank * workers + worker
        for number, shard in enumerate(self.shards.shards):
            if number % slots != mine:
                continue
            for sample in read_shard(shard.path):
                try:
                    image = load_image(sample.image, self.max_pixels, name=f"{sample.key} in {shard.path}")
                except BadImageError:
                    if self.skip_bad_images:
                        continue
                    raise
                yield (self.transform(image) if self.transform is not None else image), sample.label

