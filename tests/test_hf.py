"""Hugging Face datasets on disk (``save_to_disk`` folders, Parquet files) as --data, through the batch sampler."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from efficienttrain.cli import main
from efficienttrain.data.hf import HFImageDataset, is_hf_source
from efficienttrain.runner import Trainer

from .conftest import assert_one_line_error, tiny_config

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def _private_hf_cache(tmp_path, monkeypatch):
    """Parquet files are converted into the Hugging Face cache: keep it inside the test's folder."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def _table(n: int, classes: list[str], seed: int = 0, bad: tuple[int, ...] = ()) -> "datasets.Dataset":
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        if i in bad:
            images.append({"bytes": b"\x89PNG broken", "path": None})
        else:
            images.append(Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=classes)})
    return datasets.Dataset.from_dict({"image": images, "label": [i % len(classes) for i in range(n)]}, features=features)


def _saved(tmp_path: Path, n: int = 30, classes=("cat", "dog", "eel"), val_name: str = "validation", **kw) -> Path:
    folder = tmp_path / "hf"
    datasets.DatasetDict({"train": _table(n, list(classes), **kw), val_name: _table(9, list(classes), seed=1)}).save_to_disk(str(folder))
    return folder


def test_a_save_to_disk_folder_is_read_with_its_class_names(tmp_path):
    folder = _saved(tmp_path)
    assert is_hf_source(str(folder)) and not is_hf_source(str(tmp_path))
    dataset = HFImageDataset(datasets.load_from_disk(str(folder))["train"])
    image, label = dataset[4]
    assert dataset.classes == ["cat", "dog", "eel"] and image.size == (20, 20) and label == 1 and len(dataset) == 30


@pytest.mark.slow
def test_parquet_files_by_split_train_too(tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    _table(24, ["a", "b"]).to_parquet(str(folder / "train-00000-of-00001.parquet"))
    _table(6, ["a", "b"], seed=1).to_parquet(str(folder / "validation-00000-of-00001.parquet"))
    result = Trainer(tiny_config(tmp_path / "run", data=str(folder), final_size=16, batch_size=6, epochs=1)).run()
    assert result.completed


@pytest.mark.slow
def test_a_resume_on_the_same_dataset_is_exact(tmp_path):
    """With a loader worker (the table is pickled into it), stopped after epoch 1 and resumed: the uninterrupted run's weights."""
    folder = _saved(tmp_path)
    common = {"data": str(folder), "final_size": 16, "batch_size": 6, "workers": 1, "epochs": 2}
    straight = Trainer(tiny_config(tmp_path / "a", **common)).run()
    first = Trainer(tiny_config(tmp_path / "b", **common)).run(max_epochs=1)
    assert not first.completed
    resumed = Trainer(tiny_config(tmp_path / "b", resume=True, **common)).run()
    assert resumed.completed and len(resumed.history) == 2
    assert json.loads((resumed.output_dir / "summary.json").read_text())["completed"]
    a = torch.load(straight.output_dir / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed.output_dir / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def _error_of(capsys, argv: list[str]) -> tuple[int, str]:
    """Exit status and stderr of ``main(argv)`` alone (the fixtures' own progress bars are dropped first)."""
    capsys.readouterr()
    code = main(argv)
    return code, capsys.readouterr().err


def _train(tmp_path: Path, data: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--model", "resnet10t", "--epochs", "1", "--batch-size", "6", "--final-size", "16",
            "--workers", "0", "--no-progress", "--output", str(tmp_path / "run"), *extra]  # fmt: skip


@pytest.mark.slow
def test_bad_hugging_face_sources_are_one_line_errors(tmp_path, capsys, monkeypatch):
    # No validation split.
    only = tmp_path / "only"
    datasets.DatasetDict({"train": _table(12, ["a", "b"])}).save_to_disk(str(only))
    assert_one_line_error(*_error_of(capsys, _train(tmp_path, only)), "holds the splits train")
    # No label column.
    nolabel = tmp_path / "nolabel"
    plain = datasets.Dataset.from_dict({"image": [Image.new("RGB", (8, 8))] * 12, "caption": ["x"] * 12}, features=datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string")}))
    datasets.DatasetDict({"train": plain, "validation": plain}).save_to_disk(str(nolabel))
    assert_one_line_error(*_error_of(capsys, _train(tmp_path, nolabel)), "has no a label column")
    # Classes that differ between the splits.
    mixed = tmp_path / "mixed"
    datasets.DatasetDict({"train": _table(12, ["a", "b"]), "validation": _table(6, ["a", "b", "c"])}).save_to_disk(str(mixed))
    assert_one_line_error(*_error_of(capsys, _train(tmp_path, mixed)), "classes differ")
    # A corrupt image: named, or skipped and counted.
    bad = _saved(tmp_path / "bad", n=12, bad=(5,))
    assert_one_line_error(*_error_of(capsys, _train(tmp_path, bad)), "cannot decode image row 5 of the training split")
    assert main(_train(tmp_path, bad, "--skip-bad-images", "--overwrite")) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["bad_images"] == 1
    # The optional package missing.
    folder = _saved(tmp_path / "y")
    monkeypatch.setitem(sys.modules, "datasets", None)
    assert_one_line_error(*_error_of(capsys, _train(tmp_path / "x", folder)), "pip install 'efficienttrain[hf]'")


def test_parquet_validation_is_one_split_and_unlabelled_rows_are_refused(tmp_path, capsys):
    from efficienttrain.data.hf import open_hf_splits

    folder = tmp_path / "pq" / "data"
    folder.mkdir(parents=True)
    _table(12, ["a", "b"]).to_parquet(str(folder / "train-00000-of-00001.parquet"))
    _table(4, ["a", "b"], seed=1).to_parquet(str(folder / "validation-00000-of-00001.parquet"))
    unlabelled = datasets.Dataset.from_dict({"image": [Image.new("RGB", (8, 8))] * 5, "label": [-1] * 5}, features=datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")}))
    unlabelled.to_parquet(str(folder / "test-00000-of-00001.parquet"))
    train, val = open_hf_splits(str(tmp_path / "pq"), "val", None)
    assert len(train) == 12 and len(val) == 4  # the test split is not validation
    # Converting Parquet shows the datasets package's progress bars first; the error is still one line, and the last.
    code, err = _error_of(capsys, _train(tmp_path, tmp_path / "pq", "--val-data", str(folder / "test-00000-of-00001.parquet")))
    errors = [line for line in err.splitlines() if line.startswith("efficienttrain: error:")]
    assert code == 2 and "Traceback" not in err and len(errors) == 1 and "labelled -1" in errors[0] and err.strip().endswith(errors[0])
