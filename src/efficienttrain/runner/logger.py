"""Metric logs: one row per epoch in CSV and JSON lines always; per-step and per-epoch scalars in
TensorBoard and MLflow when asked for; the end-of-run summary text.

MLflow is the one tracking service supported (``--mlflow URI``): it is open source, runs without an
account or a server (a local SQLite file is a full backend), and what it stored can be read back
through its public client, which is how the tests check it offline. W&B's offline files can only be
read by uploading them or through its private modules.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from ..errors import UserError
from ..rundir import RunDir, Summary, read_history  # noqa: F401 - read_history is re-exported

__all__ = ["MetricsLogger", "StepScalars", "MlflowTracker", "format_summary", "read_history"]  # read_history: re-exported from rundir


@dataclass(frozen=True)
class StepScalars:
    """What one training step logs (TensorBoard's ``step/*``, MLflow's ``step_*``).

    Attributes:
        loss: The batch's training loss.
        lr: The learning rate the step used.
        size: The batch's input size.
        magnitude: The batch's RandAugment magnitude.
        data_wait_s: Seconds the loop waited for the batch.
    """

    loss: float
    lr: float
    size: int
    magnitude: float
    data_wait_s: float


class MlflowTracker:
    """Logs a run's parameters, per-step and per-epoch scalars to an MLflow tracking server or store.

    A resumed run goes on logging into the same MLflow run (its id is kept in the run directory).
    Step scalars are buffered and sent in batches, so a step costs no round trip.

    Args:
        uri: MLflow tracking URI: ``sqlite:///mlflow.db``, ``http://host:5000``, ...
        out_dir: The run directory.
        run_name: The MLflow run's name.
        params: The run's config, logged as parameters on a fresh start.
    """

    FLUSH_EVERY = 200  # buffered metrics per request (MLflow takes at most 1000)

    def __init__(self, uri: str, out_dir: Path, run_name: str, params: dict[str, Any]) -> None:
        try:
            from mlflow.entities import Metric, Param
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise UserError("--mlflow needs MLflow: pip install 'efficienttrain[mlflow]'") from None
        self._metric = Metric  # built for every logged scalar: imported once, not per step
        self.client = MlflowClient(tracking_uri=uri)
        self._buffer: list[Any] = []
        id_file = Path(out_dir) / RunDir.MLFLOW_RUN
        if id_file.is_file():
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "efficienttrain")
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        id_file.write_text(self.run_id + "\n")
        flat = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(flat), 100):
            self.client.log_batch(self.run_id, params=flat[i : i + 100])

    def log(self, step: int, values: dict[str, float]) -> None:
        """Queue scalars for ``step``; sent when the buffer is full, or by :meth:`flush`."""
        now = int(time.time() * 1000)
        self._buffer += [self._metric(k, float(v), now, step) for k, v in values.items()]
        if len(self._buffer) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Send the buffered scalars."""
        while self._buffer:
            chunk, self._buffer = self._buffer[:1000], self._buffer[1000:]
            self.client.log_batch(self.run_id, metrics=chunk)

    def close(self, finished: bool) -> None:
        """Send what is buffered; mark the MLflow run finished (or, when stopped to resume, killed)."""
        self.flush()
        self.client.set_terminated(self.run_id, status="FINISHED" if finished else "KILLED")


class MetricsLogger:
    """Append one row of metrics per epoch to ``metrics.csv`` and ``metrics.jsonl``; scalars to TensorBoard and MLflow.

    On resume the existing files are kept and appended to.

    Args:
        out_dir: Run directory.
        tensorboard: Also write TensorBoard scalars under ``out_dir/tb``: each step's
            :class:`StepScalars` (``step/*``) and each epoch's row (``epoch/*``).
        mlflow: An :class:`MlflowTracker` that gets the same scalars, or ``None``.
    """

    def __init__(self, out_dir: Path, tensorboard: bool = False, mlflow: Optional[MlflowTracker] = None) -> None:
        self.out_dir = Path(out_dir)
        self.csv_path = self.out_dir / RunDir.METRICS_CSV
        self.jsonl_path = self.out_dir / RunDir.METRICS_JSONL
        self.writer: Optional[Any] = None
        self.mlflow = mlflow
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # pragma: no cover - depends on the environment
                raise UserError("--tensorboard needs the tensorboard package: pip install 'efficienttrain[tensorboard]'") from None
            self.writer = SummaryWriter(str(self.out_dir / RunDir.TENSORBOARD))

    @property
    def logs_steps(self) -> bool:
        """Whether anything takes per-step scalars (TensorBoard or MLflow): the loop builds them only then."""
        return self.writer is not None or self.mlflow is not None

    def log_step(self, step: int, scalars: StepScalars) -> None:
        """Log one training step's scalars at the run's global batch index ``step`` (TensorBoard, MLflow)."""
        values = asdict(scalars)
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"step/{k}", v, step)
        if self.mlflow is not None:
            self.mlflow.log(step, {f"step_{k}": v for k, v in values.items()})

    def log(self, row: dict[str, Any]) -> None:
        """Append a row (a dict of scalars)."""
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        with open(self.jsonl_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        epoch = int(row.get("epoch", 0))
        scalars = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and k != "epoch"}
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(f"epoch/{k}", v, epoch)
        if self.mlflow is not None:
            self.mlflow.log(epoch, {f"epoch_{k}": v for k, v in scalars.items()})
            self.mlflow.flush()

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the CSV and JSONL files with ``rows`` (used when resuming)."""
        for path in (self.csv_path, self.jsonl_path):
            if path.exists():
                path.unlink()
        writer, self.writer = self.writer, None  # TensorBoard and MLflow keep their own history
        mlflow, self.mlflow = self.mlflow, None
        for row in rows:
            self.log(row)
        self.writer, self.mlflow = writer, mlflow

    def close(self, finished: bool = True) -> None:
        """Flush TensorBoard and MLflow; ``finished`` is whether the run completed (not stopped to resume)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.mlflow is not None:
            self.mlflow.close(finished)
            self.mlflow = None


def format_summary(summary: Summary) -> str:
    """A short human-readable summary of a finished run."""
    lines = [
        f"finished {summary.name}: {summary.curriculum}, {summary.epochs:g} epochs, final size {summary.final_size}",
        f"  top-1 {summary.final_top1:.2f}% (best {summary.best_top1:.2f}%), top-5 {summary.final_top5:.2f}%",
        f"  training wall time {summary.train_time_s:.1f}s (with evaluation {summary.total_time_s:.1f}s); "
        f"theoretical speedup {summary.theoretical_speedup:.2f}x",
    ]
    if summary.final_ema_top1 is not None:
        lines.insert(2, f"  EMA top-1 {summary.final_ema_top1:.2f}%")
    if summary.bad_images:
        lines.append(f"  skipped {summary.bad_images} unreadable image{'' if summary.bad_images == 1 else 's'}")
    return "\n".join(lines)
