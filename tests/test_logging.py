"""Logging users expect: TensorBoard scalars for every step and epoch, and MLflow (offline, a local
SQLite store) with the same scalars and the run's parameters, continued by a resumed run."""

from __future__ import annotations

import pytest

from efficienttrain.runner import Trainer

from .conftest import tiny_config


def _tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_gets_every_steps_loss_lr_size_magnitude_and_data_wait(tmp_path):
    result = Trainer(tiny_config(tmp_path, epochs=2, tensorboard=True, trace=True)).run()
    scalars = _tensorboard_scalars(result.output_dir / "tb")
    steps = [rec for rec in _trace(result.output_dir) if "step" in rec]
    assert {f"step/{k}" for k in ("loss", "lr", "size", "magnitude", "data_wait_s")} <= set(scalars)
    assert [s for s, _ in scalars["step/size"]] == list(range(len(steps)))  # one point per step, global index
    assert [v for _, v in scalars["step/size"]] == [rec["size"] for rec in steps]
    assert [v for _, v in scalars["step/magnitude"]] == pytest.approx([rec["magnitude"] for rec in steps])
    assert all(v > 0 for _, v in scalars["step/loss"]) and all(v >= 0 for _, v in scalars["step/data_wait_s"])
    assert [s for s, _ in scalars["epoch/top1"]] == [1, 2]
    assert [v for _, v in scalars["epoch/top1"]] == pytest.approx([h["top1"] for h in result.history])


def _trace(out):
    import json

    return [json.loads(line) for line in (out / "trace_rank0.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_mlflow_logs_params_steps_and_epochs_and_a_resume_continues_its_run(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = Trainer(tiny_config(tmp_path, epochs=2, mlflow=uri)).run(max_epochs=1)
    run_id = (first.output_dir / "mlflow_run_id.txt").read_text().strip()
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(run_id).info.status == "KILLED"  # stopped to resume, not finished
    resumed = Trainer(tiny_config(tmp_path, epochs=2, mlflow=uri, resume=True)).run()
    assert resumed.completed and (resumed.output_dir / "mlflow_run_id.txt").read_text().strip() == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["model"] == "resnet10t" and float(run.data.params["epochs"]) == 2
    top1 = client.get_metric_history(run_id, "epoch_top1")
    assert [m.step for m in top1] == [1, 2] and [m.value for m in top1] == pytest.approx([h["top1"] for h in resumed.history])
    steps = sorted({m.step for m in client.get_metric_history(run_id, "step_loss")})
    assert steps == list(range(len(steps))) and len(steps) >= 4
    assert len(client.search_runs([run.info.experiment_id])) == 1  # one MLflow run for the whole training run
