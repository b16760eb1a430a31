"""The typed metrics row (rundir.MetricsRow) and RunResult, whose figures live once in its Summary."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from efficienttrain.rundir import MetricsRow, Summary
from efficienttrain.runner.records import RunResult

ROW = {
    "epoch": 2, "stage": 1, "size": 24, "magnitude": 4.5, "lr": 1e-3, "train_loss": 2.1, "val_loss": 2.0, "top1": 31.0, "top5": 80.0,
    "epoch_time": 3.0, "eval_time": 0.5, "train_time": 6.0, "total_time": 7.0, "images_per_s": 50.0, "data_wait_s": 0.1, "data_wait_pct": 3.3,
    "knn_top1": 29.0, "ema_top1": 30.5, "ema_top5": 79.0,
}  # fmt: skip


def test_metrics_row_round_trips_with_the_written_column_order():
    row = MetricsRow.from_dict(ROW)
    assert row.top1 == 31.0 and row.extra == {"knn_top1": 29.0, "ema_top1": 30.5, "ema_top5": 79.0}
    assert list(row.to_dict()) == list(ROW) and row.to_dict() == ROW


def test_metrics_row_reads_older_rows_and_refuses_rows_without_top1():
    old = {k: v for k, v in ROW.items() if k not in ("data_wait_s", "data_wait_pct", "knn_top1", "ema_top1", "ema_top5")}
    row = MetricsRow.from_dict(old)
    assert math.isnan(row.data_wait_s) and row.extra == {}
    with pytest.raises(KeyError):
        MetricsRow.from_dict({"epoch": 1})


def test_run_result_reads_its_figures_from_the_summary():
    record = Summary("r", "resnet10t", "efficienttrain", 3, 32, 40.0, 42.0, 90.0, 12.0, 15.0, 1.5, True, bad_images=2)
    result = RunResult(Path("runs/r"), [ROW], record)
    assert (result.final_top1, result.best_top1, result.train_time, result.total_time, result.completed, result.bad_images) == (40.0, 42.0, 12.0, 15.0, True, 2)
    assert result.summary == record.to_dict() and result.summary["theoretical_speedup"] == 1.5


def test_run_state_and_global_rng_follow_the_state_protocol():
    import random

    import torch

    from efficienttrain.runner.rng import GlobalRng
    from efficienttrain.runner.state import RunState

    state = RunState(2, 5, 17, [ROW], 60.0, 70.0, 3.5)
    copy = RunState(2, 5)
    copy.load_state_dict(state.state_dict())
    assert copy == state and set(state.state_dict()) == set(RunState.STATE_KEYS)
    rng = GlobalRng()
    saved = rng.state_dict()
    first = (torch.rand(3), random.random())
    rng.load_state_dict(saved)
    again = (torch.rand(3), random.random())
    assert torch.equal(first[0], again[0]) and first[1] == again[1]


def test_optimisation_state_round_trips_with_ema(tmp_path):
    import torch

    from efficienttrain.runner.loop import Trainer

    from .conftest import tiny_config

    trainer = Trainer(tiny_config(tmp_path, ema=True), log=lambda _m: None).setup()
    optim, model = trainer.parts.optim, trainer.parts.model
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    optim.step(model, None, 1)
    saved = optim.state_dict()
    assert set(saved) == set(optim.STATE_KEYS) and saved["ema"] is not None and saved["scaler"] is None
    fresh = Trainer(tiny_config(tmp_path / "b", ema=True), log=lambda _m: None).setup().parts.optim
    fresh.load_state_dict(saved)
    assert fresh.optimizer.state_dict()["state"].keys() == optim.optimizer.state_dict()["state"].keys()
    assert all(torch.equal(a, b) for a, b in zip(fresh.ema.module.state_dict().values(), optim.ema.module.state_dict().values()))
    assert fresh.scheduler.state_dict() == optim.scheduler.state_dict()
