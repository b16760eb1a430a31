"""Per-epoch metric logs: CSV and JSON lines always, TensorBoard when asked for; the end-of-run summary text."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Optional

from ..rundir import RunDir, Summary, read_history  # noqa: F401 - read_history is re-exported

__all__ = ["MetricsLogger", "format_summary", "read_history"]  # read_history: re-exported from rundir


class MetricsLogger:
    """Append one row of metrics per epoch to ``metrics.csv`` and ``metrics.jsonl``.

    On resume the existing files are kept and appended to.

    Args:
        out_dir: Run directory.
        tensorboard: Also write TensorBoard scalars under ``out_dir/tb``.
    """

    def __init__(self, out_dir: Path, tensorboard: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.csv_path = self.out_dir / RunDir.METRICS_CSV
        self.jsonl_path = self.out_dir / RunDir.METRICS_JSONL
        self.writer: Optional[Any] = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:  # pragma: no cover - depends on the environment
                raise ImportError("--tensorboard needs the tensorboard package: pip install tensorboard") from err
            self.writer = SummaryWriter(str(self.out_dir / "tb"))

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
        if self.writer is not None:
            step = int(row.get("epoch", 0))
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.writer.add_scalar(f"efficienttrain/{k}", v, step)

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the CSV and JSONL files with ``rows`` (used when resuming)."""
        for path in (self.csv_path, self.jsonl_path):
            if path.exists():
                path.unlink()
        writer, self.writer = self.writer, None  # TensorBoard keeps its own history
        for row in rows:
            self.log(row)
        self.writer = writer

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


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
        lines.append(f"  skipped {summary.bad_images} unreadable images")
    return "\n".join(lines)
