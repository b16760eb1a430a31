"""benchmarks/make_subset.py: the class-balanced subset, and the held-out pilot split that keeps pilots off the validation set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import make_image_folder

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "make_subset.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def names(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.png")}


def test_holdout_moves_the_last_images_of_each_class_out_of_train(tmp_path):
    src = make_image_folder(tmp_path / "src", classes=2, per_class=5)
    out = tmp_path / "out"
    assert run("--data", str(src), "--out", str(out), "--per-class", "100", "--holdout", "2", "--full").returncode == 0
    train, held = names(out / "train"), names(out / "pilot-val")
    assert train == {f"class{c}/{i}.png" for c in range(2) for i in range(3)}
    assert held == {f"class{c}/{i}.png" for c in range(2) for i in (3, 4)}
    assert not (out / "val").exists()  # the validation split is not copied: a pilot cannot score on it


def test_holdout_that_empties_a_class_is_refused(tmp_path):
    src = make_image_folder(tmp_path / "src", classes=2, per_class=3)
    done = run("--data", str(src), "--out", str(tmp_path / "out"), "--holdout", "3", "--full")
    assert done.returncode != 0 and "leaves no training images" in done.stderr
