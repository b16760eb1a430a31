"""benchmarks/backfill_compute.py: which records it recounts, and that report.py then reads the recount."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from efficienttrain.runner.compute import COUNTER

from .conftest import load_benchmark

backfill = load_benchmark("backfill_compute.py")

OLD_COUNTER = "torch.utils.flop_counter: matmul and convolution FLOPs of one forward and backward pass"


def _record(root: Path, name: str, compute: dict) -> Path:
    run = root / name
    run.mkdir()
    summary = {"name": name, "model": "m", "curriculum": "c", "epochs": 1, "final_size": 32, "final_top1": 50.0, "best_top1": 50.0,
               "final_top5": 90.0, "train_time_s": 1.0, "total_time_s": 1.0, "theoretical_speedup": 1.0, "completed": True, "compute": compute}  # fmt: skip
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "config.yaml").write_text("data: demo\n")
    return run


@pytest.fixture
def fake_recount(monkeypatch):
    monkeypatch.setattr(backfill, "recount", lambda cfg: {"counter": COUNTER, "train_flops": 7.0})


@pytest.mark.parametrize(
    ("compute", "stale", "written"),
    [
        ({}, False, True),  # no count at all
        ({"counter": OLD_COUNTER, "train_flops": 5.0}, False, False),  # an older count is kept unless asked
        ({"counter": OLD_COUNTER, "train_flops": 5.0}, True, True),
        ({"counter": COUNTER, "train_flops": 5.0}, True, False),  # already counted by this counter
    ],
)
def test_which_records_are_counted(tmp_path, fake_recount, compute, stale, written):
    run = _record(tmp_path, "r", compute)
    assert backfill.backfill(run, "demo", stale) is written
    assert (run / backfill.COMPUTE_FILE).is_file() is written


def test_a_recount_is_not_recounted_and_the_report_reads_it(tmp_path, fake_recount):
    run = _record(tmp_path, "r", {"counter": OLD_COUNTER, "train_flops": 5.0})
    assert backfill.backfill(run, "demo", True)
    assert not backfill.backfill(run, "demo", True)
    report = load_benchmark("report.py")
    from efficienttrain.rundir import RunDir

    assert report.Run("r", RunDir(run).summary(), [], run).flops == 7.0  # the recount, not the summary's 5


def test_a_record_that_cannot_be_counted_is_named_and_the_rest_are_counted(tmp_path, monkeypatch, capsys):
    import sys

    from efficienttrain.errors import UserError

    for name in ("a", "b"):
        _record(tmp_path, name, {})

    def recount(cfg):
        if cfg_seen.pop().parent.name == "a":
            raise UserError("no pilot-val/ directory")
        return {"counter": COUNTER, "train_flops": 7.0}

    cfg_seen: list = []
    monkeypatch.setattr(backfill, "load_config", lambda path, overrides: cfg_seen.append(path) or path)
    monkeypatch.setattr(backfill, "recount", recount)
    monkeypatch.setattr(sys, "argv", ["backfill_compute.py", "--runs", str(tmp_path), "--data", "demo"])
    assert backfill.main() == 2
    assert "a: not counted: no pilot-val/ directory" in capsys.readouterr().err
    assert not (tmp_path / "a" / backfill.COMPUTE_FILE).exists()
    assert (tmp_path / "b" / backfill.COMPUTE_FILE).is_file()
