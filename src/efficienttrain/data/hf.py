"""Hugging Face datasets on disk: ``save_to_disk`` folders and Parquet files, as map-style datasets.

A dataset saved with ``save_to_disk`` is memory-mapped Arrow, and Parquet files are converted
once into the Hugging Face cache: both can be indexed, so they go through the batch sampler like a
folder, with its exact resume at any step. The image column is read as encoded bytes and decoded
with :func:`~efficienttrain.data.decode.load_image` (the pixel limit, the one-line decode errors
and ``--skip-bad-images`` as for files). ``datasets`` is an optional extra:
``pip install efficienttrain[hf]``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Optional

from torch.utils.data import Dataset

from ..errors import BadImageError, UserError
from ..limits import MAX_IMAGE_PIXELS
from .decode import load_image

__all__ = ["HFImageDataset", "is_hf_source", "open_hf_splits"]

IMAGE_COLUMNS = ("image", "img", "jpg", "png", "pixel_values")
LABEL_COLUMNS = ("label", "labels", "cls", "target", "fine_label")
VAL_NAMES = ("validation", "valid", "test")


def is_hf_source(spec: str) -> bool:
    """Whether ``--data`` names a Hugging Face dataset on disk: a ``save_to_disk`` folder, a ``.parquet`` file or a folder of them."""
    path = Path(spec).expanduser()
    if spec.endswith(".parquet"):
        return True
    if not path.is_dir():
        return False
    return any((path / name).is_file() for name in ("dataset_dict.json", "state.json")) or bool(_parquet_files(path))


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) + sorted(folder.glob("data/*.parquet"))


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise UserError("reading a Hugging Face dataset needs the datasets package: pip install 'efficienttrain[hf]' (or pip install datasets)") from None
    return datasets


def open_hf_splits(spec: str, val_split: str, val_data: Optional[str]) -> tuple[Any, Any]:
    """The training and validation splits that ``spec`` (and ``val_data``) name, as ``datasets.Dataset``.

    Raises:
        UserError: If the splits cannot be found or read.
    """
    datasets = _datasets()
    path = Path(spec).expanduser()
    if (path / "dataset_dict.json").is_file():
        splits = datasets.load_from_disk(str(path))
        val_name = next((n for n in (val_split, *VAL_NAMES) if n in splits), None)
        if "train" not in splits or (val_name is None and val_data is None):
            raise UserError(f"{path} holds the splits {', '.join(splits)}; it needs 'train' and '{val_split}' (or 'validation'), or pass --val-data")
        return splits["train"], (_single(datasets, val_data) if val_data else splits[val_name])
    if path.is_dir() and not (path / "state.json").is_file():
        return _parquet_splits(datasets, path, val_split, val_data)
    if val_data is None:
        raise UserError(f"{spec} is one split: pass the validation split with --val-data (a save_to_disk folder or Parquet files)")
    return _single(datasets, spec), _single(datasets, val_data)


def _single(datasets: Any, spec: str) -> Any:
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserError(f"{spec} does not exist; pass a save_to_disk folder or Parquet files")
    try:
        if path.is_dir() and (path / "state.json").is_file():
            return datasets.load_from_disk(str(path))
        files = [str(p) for p in _parquet_files(path)] if path.is_dir() else [str(path)]
        return datasets.Dataset.from_parquet(files)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the Hugging Face dataset {spec} ({str(err).splitlines()[0]})") from None


def _parquet_splits(datasets: Any, folder: Path, val_split: str, val_data: Optional[str]) -> tuple[Any, Any]:
    files = _parquet_files(folder)
    train = [str(p) for p in files if p.name.startswith("train")]
    # The first validation name that has files, alone: a Hub layout's test split (often unlabelled) is not validation.
    name = next((n for n in (val_split, *VAL_NAMES) if any(p.name.startswith(n) for p in files)), None)
    val = [str(p) for p in files if name is not None and p.name.startswith(name)]
    if not train or (not val and val_data is None):
        raise UserError(f"{folder} needs Parquet files named train-*.parquet and {val_split}-*.parquet (or validation-*), or pass --val-data")
    try:
        return datasets.Dataset.from_parquet(train), (_single(datasets, val_data) if val_data else datasets.Dataset.from_parquet(val))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the Parquet files in {folder} ({str(err).splitlines()[0]})") from None


class HFImageDataset(Dataset):
    """A Hugging Face dataset's image and label columns as ``(image, label)`` samples.

    Args:
        table: The ``datasets.Dataset``.
        transform: Image transform.
        skip_bad_images: Replace an undecodable image by the next readable one (and count it).
        max_pixels: The most pixels an image may have.
        name: What messages call the dataset.

    Raises:
        UserError: If no image or no label column is found.
    """

    def __init__(self, table: Any, transform: Optional[Callable] = None, *, skip_bad_images: bool = False, max_pixels: int = MAX_IMAGE_PIXELS, name: str = "the dataset") -> None:
        datasets = _datasets()
        features = table.features
        image = next((c for c, f in features.items() if isinstance(f, datasets.Image)), None) or next((c for c in IMAGE_COLUMNS if c in features), None)
        label = next((c for c, f in features.items() if isinstance(f, datasets.ClassLabel)), None) or next((c for c in LABEL_COLUMNS if c in features), None)
        if image is None or label is None:
            missing = "an image column" if image is None else "a label column"
            raise UserError(f"{name} has no {missing} (its columns: {', '.join(features)}); name them image and label")
        table = table.select_columns([image, label])  # reading a row decodes nothing else
        if isinstance(features[image], datasets.Image):
            table = table.cast_column(image, datasets.Image(decode=False))  # bytes: decoded here, with the pixel limit
        self.table, self.image_column, self.label_column = table, image, label
        self.classes = list(features[label].names) if isinstance(features[label], datasets.ClassLabel) else None
        self.transform = transform
        self.skip_bad_images = skip_bad_images
        self.max_pixels = max_pixels
        self.name = name
        self.counter: Any = None  # shared flags of undecodable rows (set by the caller)

    def __len__(self) -> int:
        return len(self.table)

    def labels(self) -> list[int]:
        """Every row's label (read from the label column alone)."""
        return [int(v) for v in self.table[self.label_column]]

    def digest(self) -> str:
        """SHA-256 of the row count and the Arrow files behind the table (the data's identity for a resume)."""
        h = hashlib.sha256(str(len(self.table)).encode())
        for entry in self.table.cache_files:
            h.update(os.path.basename(entry["filename"]).encode())
        return h.hexdigest()

    def __getitem__(self, index: int) -> tuple[Any, int]:
        for attempt in range(len(self.table)):
            i = (index + attempt) % len(self.table)
            row = self.table[i]
            try:
                image = load_image(_bytes_of(row[self.image_column]), self.max_pixels, name=f"row {i} of {self.name}")
            except BadImageError:
                if not self.skip_bad_images:
                    raise
                if self.counter is not None:
                    self.counter[i] = 1
                continue
            return (self.transform(image) if self.transform is not None else image), int(row[self.label_column])
        raise UserError(f"no readable image in {self.name}")


def _bytes_of(value: Any) -> bytes:
    """The encoded image of a cell: ``{"bytes", "path"}`` (an Image column read undecoded), bytes, or a path."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return Path(value).read_bytes()
        except OSError as err:
            raise BadImageError(f"cannot read image {value} ({err.strerror}); replace it, or pass --skip-bad-images") from None
    raise BadImageError("an image cell holds neither bytes nor a path; replace it, or pass --skip-bad-images")
