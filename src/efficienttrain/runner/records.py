"""What a run reports: the metrics row of each epoch, the resolved config, and ``summary.json``'s record.

The loop hands its state here at the end of each epoch and of the run; the file formats are
:mod:`efficienttrain.rundir`'s (:class:`~efficienttrain.rundir.Summary`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from ..curricula.cost import curriculum_cost
from ..rundir import MetricsRow, Summary
from .build import TrainingParts
from .config import TrainConfig
from .state import EpochTally, RunState

__all__ = ["RunResult", "EpochTimes", "metrics_row", "resolved_config", "build_summary"]


@dataclass
class RunResult:
    """What a finished (or stopped) run reports: where it is, its epochs, and its ``summary.json`` record.

    The figures live once, in :attr:`record`; the properties read them from there.

    Attributes:
        output_dir: Where logs and checkpoints are.
        history: One dict of metrics per epoch (:meth:`~efficienttrain.rundir.MetricsRow.to_dict`).
        record: The run's :class:`~efficienttrain.rundir.Summary`.
    """

    output_dir: Path
    history: list[dict[str, Any]]
    record: Summary

    @property
    def final_top1(self) -> float:
        """Top-1 accuracy (%) after the last epoch."""
        return self.record.final_top1

    @property
    def best_top1(self) -> float:
        """Best top-1 accuracy (%) over epochs."""
        return self.record.best_top1

    @property
    def train_time(self) -> float:
        """Training wall time in seconds, evaluation excluded."""
        return self.record.train_time_s

    @property
    def total_time(self) -> float:
        """Wall time including evaluation."""
        return self.record.total_time_s

    @property
    def completed(self) -> bool:
        """Whether the curriculum ran to its end."""
        return self.record.completed

    @property
    def bad_images(self) -> int:
        """Corrupt images skipped."""
        return self.record.bad_images

    @property
    def summary(self) -> dict[str, Any]:
        """The record as written to ``summary.json``."""
        return self.record.to_dict()


@dataclass(frozen=True)
class EpochTimes:
    """Seconds an epoch spent training and evaluating."""

    train: float
    eval: float


def metrics_row(
    parts: TrainingParts, state: RunState, tally: EpochTally, metrics: dict[str, float], ema_metrics: Optional[dict[str, float]], times: EpochTimes
) -> MetricsRow:
    """The :class:`~efficienttrain.rundir.MetricsRow` of the epoch ``state.epoch`` (from 0) just trained."""
    # Stage, size and magnitude all describe the epoch's last batch, so a row never pairs one
    # stage's number with another stage's size.
    settings = tally.last_settings or parts.curriculum(float(state.epoch))
    extra = {k: v for k, v in metrics.items() if k not in ("loss", "top1", "top5")}
    if ema_metrics is not None:
        extra.update({"ema_top1": ema_metrics["top1"], "ema_top5": ema_metrics.get("top5", float("nan"))})
    return MetricsRow(
        epoch=state.epoch + 1,
        stage=settings.stage + 1,
        size=tally.last_size,
        magnitude=round(settings.magnitude, 4),
        lr=parts.optim.current_lr,
        train_loss=tally.mean_loss,
        val_loss=metrics["loss"],
        top1=metrics["top1"],
        top5=metrics.get("top5", float("nan")),
        epoch_time=times.train,
        eval_time=times.eval,
        train_time=state.train_time,
        total_time=state.total_time,
        images_per_s=tally.images / max(times.train, 1e-9),
        data_wait_s=tally.data_wait,
        data_wait_pct=100.0 * tally.data_wait / max(times.train, 1e-9),
        extra=extra,
    )


def resolved_config(cfg: TrainConfig, parts: TrainingParts) -> dict[str, Any]:
    """The config with every default resolved to the value the run used."""
    cur = parts.curriculum
    return {
        **cfg.to_dict(),
        "epochs": cur.epochs,
        "final_size": cur.final_size,
        "lr": parts.optim.lr,
        "warmup_epochs": cfg.resolved_warmup(cur.epochs),
        "crop_pct": cfg.resolved_crop_pct(cur.final_size),
        "workers": cfg.resolved_workers(),
        "threads": torch.get_num_threads(),
        "amp": parts.runtime.amp,
        "device": str(parts.runtime.device),
        "world_size": parts.runtime.world_size,
        "curriculum_spec": cur.to_dict(),
    }


def build_summary(
    cfg: TrainConfig,
    parts: TrainingParts,
    state: RunState,
    completed: bool,
    sessions: list[dict[str, Any]],
    preflight: Optional[dict[str, Any]] = None,
    compile: Optional[dict[str, Any]] = None,
) -> Summary:
    """The run's :class:`~efficienttrain.rundir.Summary` at ``state`` (its ``compute`` is added by the caller)."""
    history = state.history
    last = history[-1] if history else {}
    return Summary(
        name=cfg.run_name(),
        model=cfg.model,
        curriculum=parts.curriculum.name,
        epochs=parts.curriculum.epochs,
        final_size=parts.curriculum.final_size,
        final_top1=last.get("top1", float("nan")),
        best_top1=max((h["top1"] for h in history), default=float("nan")),
        final_top5=last.get("top5", float("nan")),
        train_time_s=state.train_time,
        total_time_s=state.total_time,
        theoretical_speedup=curriculum_cost(parts.curriculum).speedup,
        completed=completed,
        bad_images=parts.data.bad_image_count(),
        config=resolved_config(cfg, parts),
        sessions=sessions,
        final_ema_top1=last.get("ema_top1"),
        objective=parts.objective.name,
        preflight=preflight or {},
        compile=compile,
    )
