"""Shared fixtures: tiny configs and ImageFolder trees made on the fly (no external data)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

# Keep the suite quiet and quick on small machines. Under pytest-xdist each worker gets one thread,
# so two workers on two cores do not fight over them.
os.environ.setdefault("CI", "1")
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, torch.get_num_threads()))


def free_port() -> str:
    """A TCP port free right now on localhost, for a DDP rendezvous (parallel test workers must not share one)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """Exit status 2 and one line on stderr that holds every needle (no traceback)."""
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


# The metrics columns that are clocks: they differ between identical runs, everything else must not.
CLOCK_COLUMNS = frozenset({"epoch_time", "eval_time", "train_time", "total_time", "images_per_s", "data_wait_s", "data_wait_pct"})


def metric_rows(path: Path, leave_out: frozenset = CLOCK_COLUMNS) -> list[dict]:
    """A metrics file's rows without the ``leave_out`` columns (CSV values as written, JSONL as parsed)."""
    import csv
    import json

    if path.suffix == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in row.items() if k not in leave_out} for row in rows]


def load_benchmark(script: str) -> Any:
    """The module of ``benchmarks/<script>`` (the benchmarks are a package: ``benchmarks.<name>``)."""
    import importlib

    return importlib.import_module(f"benchmarks.{Path(script).stem}")


def tiny_config(tmp_path: Path, **overrides: Any):
    """A config that trains resnet10t on 80 demo images at 32 px in a second or two per epoch."""
    from efficienttrain.runner.config import make_config

    values: dict[str, Any] = {
        "data": "demo",
        "demo_per_class": 8,
        "demo_val_per_class": 3,
        "demo_image_size": 32,
        "model": "resnet10t",
        "epochs": 3,
        "batch_size": 16,
        "workers": 0,
        "output": str(tmp_path / "run"),
        "progress": False,
        "seed": 0,
        "deterministic": True,
    }
    values.update(overrides)
    return make_config(values, preset="cpu")


def sigterm_at_loss_call(trainer: Any, call: int) -> None:
    """Make ``trainer`` act as if SIGTERM arrived during its ``call``-th loss (the pre-flight must be off: it calls the loss too)."""
    import signal

    trainer.setup()
    calls = {"n": 0}
    forward = trainer.parts.objective.criterion.forward

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call:
            trainer._stop_signal = signal.SIGTERM
        return forward(*args, **kwargs)

    trainer.parts.objective.criterion.forward = counting


def make_image_folder(root: Path, classes: int = 3, per_class: int = 4, size: int = 24, splits=("train", "val")) -> Path:
    """Write a small ImageFolder tree of random PNGs."""
    rng = np.random.default_rng(0)
    for split in splits:
        for c in range(classes):
            d = root / split / f"class{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "data")
