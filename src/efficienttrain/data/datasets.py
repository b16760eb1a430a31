"""Datasets for the runner: ImageFolder directories, torchvision CIFAR, and the built-in demo set.

Every source is validated before training starts, and a problem becomes a one-line
:class:`~efficienttrain.errors.UserError` that names it and the fix: a missing directory, a wrong
layout, an empty split, classes that differ between splits, a failed download, or a corrupt image.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from ..errors import BadImageError, UserError
from ..limits import MAX_IMAGE_PIXELS
from .decode import load_image, open_lazy
from .demo import DemoDataset
from .hf import HFImageDataset, is_hf_source, open_hf_splits
from .stream import ShardSet, holds_shards, is_shard_source, is_url

__all__ = [
    "DatasetPair",
    "build_datasets",
    "load_image",
    "CheckedImageFolder",
    "PreloadedDataset",
    "validate_image_folder",
    "native_size",
    "default_final_size",
    "dataset_stats",
    "with_transform",
]

CIFAR_SIZE = 32
_CIFAR_MEAN_STD = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


@dataclass
class DatasetPair:
    """Train and validation datasets with their metadata."""

    train: Dataset
    val: Dataset
    num_classes: int
    classes: list[str]
    bad_images: Any = None  # the count (preloaded), or a shared array of per-image flags (decoded in workers, from folders or shards)
    not_followed: list[str] = field(default_factory=list)  # links to folders or files already counted: reported, not followed
    train_files: Optional[str] = None  # digest of an image folder's training files (files_digest), or of the shards (ShardSet.digest)

    def identity(self) -> dict[str, Any]:
        """What a resume compares to tell that the training data changed since the checkpoint.

        Returns:
            The number of training images and, for an image folder, the digest of its file list.
        """
        return {"train_images": len(self.train), "train_files": self.train_files}

    def bad_image_count(self) -> int:
        """Distinct images skipped so far because they could not be decoded (each counts once)."""
        if self.bad_images is None:
            return 0
        if isinstance(self.bad_images, int):
            return self.bad_images
        return int(self.bad_images.sum()) if hasattr(self.bad_images, "sum") else int(sum(self.bad_images))


def files_digest(root: Union[str, Path], samples: list[tuple[str, int]]) -> str:
    """SHA-256 of ``(path relative to root, label)`` pairs: the same folder moved elsewhere keeps it.

    Args:
        root: The split's folder.
        samples: ``(path, label)`` pairs, as an ImageFolder lists them.

    Returns:
        The hex digest.
    """
    h = hashlib.sha256()
    for path, label in samples:
        h.update(f"{os.path.relpath(path, root)}\0{label}\n".encode())
    return h.hexdigest()


def native_size(data: str, demo_image_size: int = 64) -> Optional[int]:
    """The size a built-in dataset's images have: the demo set's, or CIFAR's 32.

    Args:
        data: The ``data`` setting (``demo``, ``cifar10``, ``cifar100`` or a directory).
        demo_image_size: Size of the demo images.

    Returns:
        The size, or ``None`` for an image folder (whose images have no single size).
    """
    return {"demo": demo_image_size, "cifar10": CIFAR_SIZE, "cifar100": CIFAR_SIZE}.get(data)


def default_final_size(data: str, final_size: Optional[int] = None, demo_image_size: int = 64) -> int:
    """The final (training and evaluation) size of a run on ``data``.

    Args:
        data: The ``data`` setting.
        final_size: An explicit final size, if any.
        demo_image_size: Size of the demo images.

    Returns:
        ``final_size`` if set; else the native size of a built-in dataset (:func:`native_size`);
        else 224, the paper's size.
    """
    if final_size:
        return int(final_size)
    return int(native_size(data, demo_image_size) or 224)


def with_transform(dataset: Dataset, transform: Optional[Callable]) -> Dataset:
    """A shallow copy of ``dataset`` that applies ``transform`` instead (the images are shared).

    Args:
        dataset: A dataset with a ``transform`` attribute (image folders, preloaded images, the
            demo set, torchvision's CIFAR).
        transform: The transform of the copy.

    Returns:
        The copy.

    Raises:
        TypeError: If the dataset has no ``transform`` attribute.
    """
    if not hasattr(dataset, "transform"):
        raise TypeError(f"{type(dataset).__name__} has no transform attribute to replace")
    out = copy.copy(dataset)
    out.transform = transform  # type: ignore[attr-defined]
    return out


class CheckedImageFolder(ImageFolder):
    """ImageFolder that reports corrupt files by path, or skips them and counts them.

    A skipped sample is replaced by the next readable one, so a batch keeps its size.

    Args:
        root: Split directory with one sub-directory per class.
        transform: Image transform.
        skip_bad_images: Skip unreadable files instead of stopping.
        counter: Shared ``multiprocessing.Array`` of flags, one per sample of the split (from
            ``counter_offset``): a skipped file is marked, so it counts once however often it is drawn.
        counter_offset: This split's first flag in ``counter``.
    """

    def __init__(
        self, root: str, transform: Optional[Callable] = None, *, skip_bad_images: bool = False, counter: Any = None, max_pixels: int = MAX_IMAGE_PIXELS,
        counter_offset: int = 0,
    ) -> None:
        self.not_followed: list[str] = []  # directories and files reached a second time (a link loop, or a link to another class)
        super().__init__(root, transform=transform, loader=functools.partial(load_image, max_pixels=max_pixels))
        self.skip_bad_images = skip_bad_images
        self.counter = counter
        self.counter_offset = counter_offset

    def make_dataset(  # type: ignore[override]  # torchvision documents this hook for overriding; ours is an instance method
        self,
        directory: Union[str, Path],
        class_to_idx: dict[str, int],
        extensions: Optional[tuple[str, ...]] = None,
        is_valid_file: Optional[Callable[[str], bool]] = None,
        allow_empty: bool = False,
    ) -> list[tuple[str, int]]:
        """Every image once: each real directory and file is visited once across all classes.

        torchvision follows symbolic links without end, so a link loop (``cat/loop -> ..``) would
        repeat the whole split and label other classes' images as this one.
        """
        ext = tuple(e.lower() for e in (extensions or IMG_EXTENSIONS))
        # The split and every class folder count as seen from the start: a link to any of them
        # from inside a class is never followed, whichever class comes first.
        seen = {os.path.realpath(directory)} | {os.path.realpath(Path(directory) / name) for name in class_to_idx}
        samples = []
        for name in sorted(class_to_idx):
            files = _walk_once(Path(directory) / name, seen, self.not_followed)
            samples += [(f, class_to_idx[name]) for f in files if f.lower().endswith(ext) and (is_valid_file is None or is_valid_file(f))]
        if not samples and not allow_empty:
            raise FileNotFoundError(f"no images found under {directory}")
        return samples

    def __getitem__(self, index: int) -> tuple:
        for attempt in range(len(self.samples)):
            i = (index + attempt) % len(self.samples)
            try:
                return super().__getitem__(i)
            except BadImageError:
                if not self.skip_bad_images:
                    raise
                if self.counter is not None:
                    self.counter[self.counter_offset + i] = 1  # a flag, not a sum: each file counts once
        raise UserError(f"no readable image in {self.root}")


class PreloadedDataset(Dataset):
    """Decoded images held in memory as uint8 arrays (for small datasets).

    Args:
        samples: ``(path, target)`` pairs.
        transform: Image transform.
        skip_bad_images: Leave out unreadable files (counted in ``bad_count``) instead of stopping.
        max_size: If given, shrink images whose shorter side exceeds it (bicubic, antialiased)
            while loading, which saves memory and decode-time work for low-resolution training.
        progress: Show a progress bar while decoding.
        max_pixels: The most pixels an image may have (above it, it counts as unreadable).
    """

    def __init__(
        self,
        samples: list[tuple[str, int]],
        transform: Optional[Callable] = None,
        *,
        skip_bad_images: bool = False,
        max_size: Optional[int] = None,
        progress: bool = False,
        max_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        self.transform = transform
        self.images: list[np.ndarray] = []
        self.targets: list[int] = []
        self.bad_count = 0
        iterator: Any = samples
        if progress:
            from tqdm import tqdm

            iterator = tqdm(samples, desc="preloading images", unit="img", leave=False)
        for path, target in iterator:
            try:
                img = load_image(path, max_pixels, min_side=max_size)
            except BadImageError:
                if not skip_bad_images:
                    raise
                self.bad_count += 1
                continue
            if max_size is not None and min(img.size) > max_size:
                scale = max_size / min(img.size)
                img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
            self.images.append(np.asarray(img))
            self.targets.append(target)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple:
        img = Image.fromarray(self.images[index])
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[index]


def _walk_once(top: Path, seen: set[str], not_followed: list[str]) -> list[str]:
    """The files under ``top``, sorted, visiting each real directory and file once (``seen`` spans calls; ``top`` may be in it)."""
    found = []
    stack = [top]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if folder is not top and real in seen:
            not_followed.append(str(folder))
            continue
        seen.add(real)
        for entry in sorted(os.scandir(folder), key=lambda e: e.name, reverse=True):
            if entry.is_dir():
                stack.append(Path(entry.path))
            elif entry.is_file():
                target = os.path.realpath(entry.path)
                if target in seen:
                    not_followed.append(entry.path)
                    continue
                seen.add(target)
                found.append(entry.path)
    return sorted(found)


def _class_dirs(split_dir: Path) -> list[Path]:
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _has_images(folder: Path) -> bool:
    for _root, _dirs, files in os.walk(folder):
        if any(f.lower().endswith(IMG_EXTENSIONS) for f in files):
            return True
    return False


def validate_image_folder(root: Path, val_split: str = "val") -> list[str]:
    """Check that ``root`` has ``train/<class>/images`` and ``val/<class>/images``.

    Args:
        root: Dataset directory.
        val_split: Name of the validation sub-directory.

    Returns:
        The class names.

    Raises:
        UserError: Naming the first problem and its fix.
    """
    if not root.exists():
        raise UserError(f"dataset directory not found: {root}; pass --data DIR with train/ and {val_split}/ inside")
    if not root.is_dir():
        raise UserError(f"--data must be a directory, got the file {root}")
    inside = (root / val_split).resolve()
    if val_split == "train" or inside == (root / "train").resolve() or root.resolve() not in inside.parents:
        raise UserError(f"--val-split {val_split} must be a folder of its own inside {root} (not train/, not outside --data); validating on training images would overstate accuracy")
    classes: dict[str, list[str]] = {}
    for split in ("train", val_split):
        split_dir = root / split
        if not split_dir.is_dir():
            raise UserError(
                f"{root} has no {split}/ directory; expected the layout {root}/train/<class>/<image> and {root}/{val_split}/<class>/<image>"
            )
        dirs = _class_dirs(split_dir)
        loose = [p for p in split_dir.iterdir() if p.is_file() and p.name.lower().endswith(IMG_EXTENSIONS)]
        if not dirs:
            if loose:
                raise UserError(f"{split_dir} holds images directly; move them into one sub-directory per class ({split_dir}/<class>/<image>)")
            raise UserError(f"{split_dir} is empty; it needs one sub-directory of images per class")
        empty = [d.name for d in dirs if not _has_images(d)]
        if len(empty) == len(dirs):
            raise UserError(f"no images found under {split_dir}; supported extensions are {', '.join(IMG_EXTENSIONS)}")
        classes[split] = [d.name for d in dirs if d.name not in empty]
    unknown = sorted(set(classes[val_split]) - set(classes["train"]))
    if unknown:
        raise UserError(f"{root}/{val_split} has classes missing from train/: {', '.join(unknown[:5])}; the splits must share class folders")
    return classes["train"]


def _cifar(name: str, root: Path, download: bool, train_tf: Callable, eval_tf: Callable) -> DatasetPair:
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        train = cls(str(root), train=True, transform=train_tf, download=download)
        val = cls(str(root), train=False, transform=eval_tf, download=download)
    except RuntimeError as err:
        if "not found" in str(err).lower() or "corrupt" in str(err).lower():
            raise UserError(
                f"{name} not found under {root}; add --download (needs network access) or point --data-root to a folder "
                f"that holds {'cifar-10-batches-py' if name == 'cifar10' else 'cifar-100-python'}"
            ) from None
        raise
    except OSError as err:  # URLError is an OSError: no network
        raise UserError(
            f"cannot download {name} ({str(err).splitlines()[0]}); this machine may be offline: download it elsewhere "
            f"and pass --data-root, or use --data DIR with an ImageFolder copy"
        ) from None
    classes = list(train.classes)
    return DatasetPair(train, val, len(classes), classes)


def _shards(source: str, val_data: Optional[str], val_split: str, train_tf: Callable, eval_tf: Callable, skip_bad_images: bool) -> DatasetPair:
    """Training and validation shards (:class:`~efficienttrain.data.stream.ShardSet`), checked against each other."""
    root = Path(source).expanduser()
    if is_url(source) and "{" not in source and not source.endswith(".tar"):  # the address of a folder with train/ and val/
        base = source.rstrip("/")
        train, val = ShardSet.open(f"{base}/train"), ShardSet.open(val_data or f"{base}/{val_split}")
    elif root.is_dir() and not holds_shards(root) and not is_url(source):
        if not (root / val_split).is_dir() and val_data is None:
            raise UserError(f"{root} has no {val_split}/ folder of shards; write both splits with efficienttrain shards, or pass --val-data")
        train, val = ShardSet.open(str(root / "train")), ShardSet.open(val_data or str(root / val_split))
    elif val_data is None:
        raise UserError("--data names training shards only: pass the validation shards with --val-data PATTERN (or a folder)")
    else:
        train, val = ShardSet.open(source), ShardSet.open(val_data)
    named = not all(c == str(i) for i, c in enumerate(train.classes + val.classes[len(train.classes) :]))
    if len(val.classes) > len(train.classes) or (named and val.classes != train.classes[: len(val.classes)]):
        extra = [c for c in val.classes if c not in train.classes] or val.classes[len(train.classes) :]
        raise UserError(f"the validation shards have classes the training shards lack ({', '.join(extra[:5])}); write both splits from one folder with efficienttrain shards")
    train.transform, val.transform = train_tf, eval_tf
    counter = torch.zeros(len(train), dtype=torch.int8).share_memory_() if skip_bad_images else None
    return DatasetPair(train, val, len(train.classes), list(train.classes), bad_images=counter, train_files=train.digest())


def _hf(source: str, val_data: Optional[str], val_split: str, train_tf: Callable, eval_tf: Callable, skip_bad_images: bool, max_pixels: int) -> DatasetPair:
    """A Hugging Face dataset's splits (:class:`~efficienttrain.data.hf.HFImageDataset`), checked against each other."""
    train_table, val_table = open_hf_splits(source, val_split, val_data)
    checked = {"skip_bad_images": skip_bad_images, "max_pixels": max_pixels}
    train = HFImageDataset(train_table, train_tf, name=f"the training split of {source}", **checked)
    val = HFImageDataset(val_table, eval_tf, name=f"the validation split of {val_data or source}", **checked)
    labels = train.labels() + val.labels()
    if min(labels, default=0) < 0:
        raise UserError(f"{source} has rows labelled {min(labels)} (unlabelled, as a Hub test split often is); train and validate on labelled splits")
    classes = train.classes or [str(i) for i in range(max(train.labels()) + 1)]
    if val.classes and val.classes != classes or max(val.labels(), default=0) >= len(classes):
        raise UserError(f"the validation split's classes differ from the training split's ({len(val.classes or [])} against {len(classes)}); use splits of one dataset")
    counter = multiprocessing.Array("b", len(train) + len(val), lock=False) if skip_bad_images else None
    train.counter = counter
    val.counter = None if counter is None else _Offset(counter, len(train))
    return DatasetPair(train, val, len(classes), classes, bad_images=counter, train_files=train.digest())


class _Offset:
    """Item assignment into a shared flag array from an offset (the validation split's part of the counter)."""

    def __init__(self, array: Any, offset: int) -> None:
        self.array, self.offset = array, offset

    def __setitem__(self, index: int, value: int) -> None:
        self.array[self.offset + index] = value


def dataset_stats(name: str) -> Optional[tuple[tuple[float, ...], tuple[float, ...]]]:
    """Normalisation mean and std for known datasets (``None``: use ImageNet's)."""
    return _CIFAR_MEAN_STD.get(name)


def build_datasets(
    source: str,
    *,
    train_transform: Callable,
    eval_transform: Callable,
    data_root: Optional[str] = None,
    download: bool = False,
    preload: bool = False,
    preload_max_size: Optional[int] = None,
    skip_bad_images: bool = False,
    demo_per_class: int = 150,
    demo_val_per_class: int = 50,
    demo_image_size: int = 64,
    seed: int = 0,
    val_split: str = "val",
    progress: bool = False,
    lazy_decode: bool = False,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
    val_data: Optional[str] = None,
) -> DatasetPair:
    """Build the train and val datasets of a source.

    Args:
        source: ``demo``, ``cifar10``, ``cifar100``, an ImageFolder directory, or WebDataset
            shards: a folder with ``train/`` and ``val/`` folders of ``.tar`` files, or a brace
            pattern of the training shards (then ``val_data`` names the validation shards).
        train_transform: Transform of the training split.
        eval_transform: Transform of the validation split.
        data_root: Where torchvision datasets live (default ``./data``).
        download: Let torchvision download CIFAR if it is missing.
        preload: Decode an ImageFolder into memory once.
        preload_max_size: With ``preload``, shrink images to this shorter side while loading.
        skip_bad_images: Skip corrupt images (counted) instead of stopping at the first one.
        demo_per_class: Demo training images per class.
        demo_val_per_class: Demo validation images per class.
        demo_image_size: Demo image size.
        seed: Demo dataset seed.
        val_split: Name of the validation directory of an ImageFolder.
        progress: Show progress while preloading.
        max_image_pixels: The most pixels an image may have; above it, it is handled as a corrupt image.
        val_data: The validation shards, when ``source`` is a pattern of training shards.
        lazy_decode: Hand the training transform lazily opened images (for a transform that
            decodes at reduced scale, :class:`~efficienttrain.data.decode.ReducedDecodeRandomResizedCrop`);
            image folders only, without ``preload``.

    Returns:
        The :class:`DatasetPair`.

    Raises:
        UserError: On a missing, empty or malformed source, or a failed download.
        BadImageError: On a corrupt image while preloading without ``skip_bad_images``.
    """
    if lazy_decode and (preload or source in ("demo", "cifar10", "cifar100")):
        raise UserError("--reduced-decode needs an image folder that is decoded at every step: drop --preload (or --reduced-decode)")
    if source == "demo":
        train = DemoDataset("train", per_class=demo_per_class, image_size=demo_image_size, seed=seed, transform=train_transform)
        val = DemoDataset("val", per_class=demo_val_per_class, image_size=demo_image_size, seed=seed, transform=eval_transform)
        return DatasetPair(train, val, len(train.classes), list(train.classes))
    if source in ("cifar10", "cifar100"):
        return _cifar(source, Path(data_root or "data"), download, train_transform, eval_transform)
    if is_shard_source(source):
        if preload:
            raise UserError("--preload reads image folders; drop it to train from shards (pre-resize with efficienttrain shards --short-side)")
        return _shards(source, val_data, val_split, train_transform, eval_transform, skip_bad_images)
    if is_hf_source(source):
        if preload or lazy_decode:
            raise UserError("--preload and --reduced-decode read image folders; drop them to train from a Hugging Face dataset")
        return _hf(source, val_data, val_split, train_transform, eval_transform, skip_bad_images, max_image_pixels)
    root = Path(source).expanduser()
    classes = validate_image_folder(root, val_split)
    checked = {"skip_bad_images": skip_bad_images, "max_pixels": max_image_pixels}
    train_folder = CheckedImageFolder(str(root / "train"), train_transform, **checked)
    val_folder = CheckedImageFolder(str(root / val_split), eval_transform, **checked)
    counter = multiprocessing.Array("b", len(train_folder) + len(val_folder), lock=False) if skip_bad_images else None
    train_folder.counter, val_folder.counter, val_folder.counter_offset = counter, counter, len(train_folder)
    # Map val labels onto train's class indices (val may lack some classes).
    remap = {i: train_folder.class_to_idx[c] for c, i in val_folder.class_to_idx.items()}
    val_folder.samples = [(p, remap[t]) for p, t in val_folder.samples]
    val_folder.targets = [t for _, t in val_folder.samples]
    not_followed = train_folder.not_followed + val_folder.not_followed
    digest = files_digest(root / "train", train_folder.samples)
    if not preload:
        if lazy_decode:
            train_folder.loader = functools.partial(open_lazy, max_pixels=max_image_pixels)
        return DatasetPair(train_folder, val_folder, len(classes), list(train_folder.classes), bad_images=counter, not_followed=not_followed, train_files=digest)
    preloaded = {"skip_bad_images": skip_bad_images, "max_size": preload_max_size, "progress": progress, "max_pixels": max_image_pixels}
    train = PreloadedDataset(train_folder.samples, train_transform, **preloaded)
    val = PreloadedDataset(val_folder.samples, eval_transform, **preloaded)
    bad = train.bad_count + val.bad_count if skip_bad_images else None
    return DatasetPair(train, val, len(classes), list(train_folder.classes), bad_images=bad, not_followed=not_followed, train_files=digest)
