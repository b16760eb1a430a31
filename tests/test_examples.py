"""Run each example in examples/ as a subprocess, with tiny settings, and check what it printed/wrote.

The examples are what users copy, so these tests run them exactly as a user would (``python
examples/NAME.py ...``) on the in-memory demo data: 40 images of 16 px, 3 epochs, batch 8.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "3", "--per-class", "4", "--val-per-class", "2", "--workers", "1", "--threads", "1"]


def run_example(name: str, *args: str, cwd: Path) -> str:
    """Run ``examples/<name>`` and return its combined output; fail with that output on an error."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


@pytest.mark.slow
def test_plain_pytorch_trains_and_resumes(tmp_path: Path) -> None:
    common = [*TINY, "--image-size", "16", "--batch-size", "8", "--checkpoint", str(tmp_path / "run.pt")]
    first = run_example("plain_pytorch.py", *common, "--stop-after", "1", cwd=tmp_path)
    assert "epoch 1/3  B=11" in first
    assert "stopped after 1 epoch(s)" in first and "epoch 2/3" not in first
    second = run_example("plain_pytorch.py", *common, "--resume", cwd=tmp_path)
    assert "at epoch 2, batch 0" in second
    assert "epoch 1/3" not in second and "epoch 2/3  B=14" in second and "epoch 3/3  B=16" in second
    assert "final val top1" in second


@pytest.mark.slow
def test_plain_pytorch_trains_from_shards_and_resumes(tmp_path: Path) -> None:
    from efficienttrain.data.shards import write_shards

    from .conftest import make_image_folder

    write_shards(make_image_folder(tmp_path / "src", classes=3, per_class=8, size=20), tmp_path / "shards", shard_size=5, log=lambda _m: None)
    common = [*TINY, "--image-size", "16", "--batch-size", "8", "--shards", str(tmp_path / "shards"), "--checkpoint", str(tmp_path / "run.pt")]
    first = run_example("plain_pytorch.py", *common, "--stop-after", "1", cwd=tmp_path)
    assert "epoch 1/3  B=11" in first and "stopped after 1 epoch(s)" in first
    second = run_example("plain_pytorch.py", *common, "--resume", cwd=tmp_path)
    assert "at epoch 2, batch 0" in second and "epoch 3/3  B=16" in second and "final val top1" in second


@pytest.mark.slow
def test_plain_pytorch_trains_from_a_hugging_face_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})

    def split(n: int) -> "datasets.Dataset":
        images = [Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)) for _ in range(n)]
        return datasets.Dataset.from_dict({"image": images, "label": [i % 3 for i in range(n)]}, features=features)

    datasets.DatasetDict({"train": split(24), "validation": split(6)}).save_to_disk(str(tmp_path / "hf"))
    out = run_example("plain_pytorch.py", *TINY, "--image-size", "16", "--batch-size", "8", "--hf", str(tmp_path / "hf"), cwd=tmp_path)
    assert "epoch 3/3  B=16" in out and "final val top1" in out


@pytest.mark.slow
def test_lightning_example(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    out = run_example(
        "lightning_example.py", *TINY, "--image-size", "16", "--batch-size", "8", "--output", str(tmp_path / "run"), cwd=tmp_path
    )
    assert "finished 3 epochs" in out
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    sizes = [float(r["efficienttrain/size"]) for r in rows if r["efficienttrain/size"]]
    magnitudes = [float(r["efficienttrain/magnitude"]) for r in rows if r["efficienttrain/magnitude"]]
    assert len(sizes) == 15 and sorted(set(sizes)) == [11.0, 14.0, 16.0]  # 5 batches x 3 epochs
    assert sorted(set(magnitudes)) == pytest.approx([3.0, 6.0, 9.0])
    assert any(r["val/top1"] for r in rows)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_timm_script(tmp_path: Path) -> None:
    out = run_example(
        "timm_script.py", *TINY, "--img-size", "16", "-b", "8", "--log-interval", "1", "--output", str(tmp_path / "run"), cwd=tmp_path
    )
    for line in ("epoch 1/3  B=11  m=3.00", "epoch 3/3  B=14->16  m=9.00", "final val top1"):
        assert line in out
    # The crop reached the model: the logged input sizes follow the curriculum.
    assert "input (11, 11)" in out and "input (14, 14)" in out and "input (16, 16)" in out
    with open(tmp_path / "run" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert float(rows[-1]["lr"]) < float(rows[0]["lr"])  # the cosine schedule ran to its end


@pytest.mark.slow
def test_mae_pretrain_then_finetune(tmp_path: Path) -> None:
    out = run_example(
        "mae_pretrain_finetune.py", "--per-class", "4", "--val-per-class", "2", "--image-size", "32", "--batch-size", "8",
        "--pretrain-epochs", "2", "--finetune-epochs", "1", "--workers", "1", "--threads", "1", "--output", str(tmp_path / "run"),
        cwd=tmp_path,
    )  # fmt: skip
    assert "pretraining: k-NN top-1" in out and "fine-tuning: top-1" in out
    assert "initialised from" in out and (tmp_path / "run" / "pretrain" / "model.safetensors").is_file()
