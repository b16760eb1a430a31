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


class _FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_eta_follows_the_per_stage_prediction_corrected_by_measured_progress():
    """Predicted 1 s for each early epoch and 4 s for each late one; the machine runs at half the predicted speed.

    After half of epoch 1 (1.0 s spent) the ETA is the remaining predicted work at the measured
    rate: (10 - 0.5) x 2 = 19 s. A linear extrapolation over epochs would say 7 s.
    """
    from efficienttrain.curricula import Settings
    from efficienttrain.runner.progress import EpochProgress

    clock = _FakeClock()
    bar = EpochProgress(False, 0, 4, 10, 0, [1.0, 1.0, 4.0, 4.0], 0.0, clock=clock)
    for step in range(5):
        clock.now += 0.2  # each batch: 0.1 s predicted, 0.2 s taken
        bar.update(step, Settings(16, 1.0, 0, 1, 0.0), 16, 1.0, 8 * (step + 1))
    assert bar.eta(4) == pytest.approx(19.0)
    assert abs(bar.eta(4) - 1.0 / 0.5 * 3.5) > 10  # not the linear extrapolation
    # A resumed epoch 3 (the expensive stage), 2 s into it: the earlier epochs' measured time corrects it too.
    late = EpochProgress(False, 2, 4, 10, 5, [1.0, 1.0, 4.0, 4.0], 8.0, clock=clock)
    clock.now += 2.0
    assert late.eta(5) == pytest.approx((8.0 + 2.0) / (2.0 + 2.0 + 0.4) * (10.0 - 4.4))


@pytest.mark.slow
def test_a_run_predicts_its_training_time_from_the_preflight(tmp_path):
    lines: list[str] = []
    Trainer(tiny_config(tmp_path, epochs=2), log=lines.append).run()
    assert any(line.startswith("predicted training time ") and "stage by stage" in line for line in lines)
