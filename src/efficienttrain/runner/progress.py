"""What a run shows while it trains: the progress bar, the epoch line, and the loader warning.

The ETA is a per-stage prediction corrected by measured progress: each epoch's predicted cost
(seconds from the pre-flight's one step at each size, or the pixel model without a pre-flight)
is scaled by how long the predicted work done so far actually took. The cheap early epochs of a
curriculum therefore make it neither optimistic (a linear extrapolation would be) nor stale. The bar also shows how much of the time the
loop waits for data; :class:`DataWaitWatch` warns, once per stage, when that exceeds 10%.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Optional, Sequence

from ..curricula import Settings

__all__ = ["EpochProgress", "DataWaitWatch", "epoch_line", "hms"]


def progress_enabled(setting: Optional[bool], is_main: bool) -> bool:
    """Whether to draw progress bars: as ``--progress``/``--no-progress`` says, else on rank 0 of an interactive terminal outside CI."""
    if setting is not None:
        return bool(setting) and is_main
    return is_main and sys.stderr.isatty() and not os.environ.get("CI")


def hms(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class EpochProgress:
    """A tqdm bar over one epoch's batches, with stage, size, magnitude, loss, speed and ETA.

    Args:
        enabled: Show the bar (``False`` makes every call a no-op).
        epoch: The epoch, from 0.
        num_epochs: Epochs of the curriculum.
        n_batches: Batches of this epoch.
        start_step: First batch (non-zero when resuming mid-epoch).
        epoch_costs: The predicted cost of every epoch of the curriculum (any unit: only ratios count).
        elapsed_before: Training seconds spent before this epoch's first batch (for the ETA).
        clock: Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, enabled: bool, epoch: int, num_epochs: int, n_batches: int, start_step: int, epoch_costs: Sequence[float], elapsed_before: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:  # fmt: skip
        self.bar: Optional[Any] = None
        self.epoch = epoch
        self.n_batches = n_batches
        self.start_step = start_step
        self.epoch_costs = list(epoch_costs)
        self.elapsed_before = elapsed_before
        self.clock = clock
        self.t_start = clock()
        self.done_cost = sum(self.epoch_costs[:epoch]) + self.epoch_costs[epoch] * start_step / max(n_batches, 1)
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=n_batches, initial=start_step, desc=f"epoch {epoch + 1}/{num_epochs}", leave=False, dynamic_ncols=True)

    def update(self, step: int, settings: Settings, size: int, mean_loss: float, images: int, data_wait: float = 0.0) -> None:
        """Advance by one batch (``step`` just finished) and refresh the fields (``data_wait``: seconds waited this epoch)."""
        if self.bar is None:
            return
        elapsed = self.clock() - self.t_start
        eta = self.eta(step)
        self.bar.set_postfix_str(
            f"stage {settings.stage + 1} B={size} m={settings.magnitude:.2f} loss {mean_loss:.3f} "
            f"{images / max(elapsed, 1e-9):.0f} img/s data {100 * data_wait / max(elapsed, 1e-9):.0f}% ETA {hms(eta)}"
        )
        self.bar.update(1)

    def eta(self, step: int) -> float:
        """Seconds left after batch ``step`` of this epoch: the predicted cost still to come, at the rate measured so far."""
        done = self.done_cost + self.epoch_costs[self.epoch] * (step + 1 - self.start_step) / max(self.n_batches, 1)
        spent = self.elapsed_before + self.clock() - self.t_start
        return spent / done * (sum(self.epoch_costs) - done) if done > 0 else 0.0

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class DataWaitWatch:
    """Warns once per stage when the loop spends more than ``threshold`` of its step time waiting for data.

    The first batch of every epoch is left out (workers starting, the prefetch queue filling), and
    a stage is judged only after ``min_steps`` batches.

    Args:
        warn: Receives the warning line.
        workers: The loader's worker count (named in the advice).
        threshold: Fraction of step time above which the loader is the limit.
        min_steps: Batches of a stage to see before judging it.
    """

    def __init__(self, warn: Callable[[str], None], workers: int, threshold: float = 0.10, min_steps: int = 20) -> None:
        self.warn = warn
        self.workers = workers
        self.threshold = threshold
        self.min_steps = min_steps
        self.totals: dict[int, list[float]] = {}  # stage -> [waited, step time, batches]
        self.warned: set[int] = set()

    def observe(self, settings: Settings, waited: float, step_time: float, first_of_epoch: bool) -> None:
        """Count one batch: ``waited`` of its ``step_time`` seconds were spent waiting for it."""
        if first_of_epoch or settings.stage in self.warned:
            return
        total = self.totals.setdefault(settings.stage, [0.0, 0.0, 0])
        total[0] += waited
        total[1] += step_time
        total[2] += 1
        if total[2] >= self.min_steps and total[0] > self.threshold * total[1]:
            self.warned.add(settings.stage)
            self.warn(
                f"warning: in stage {settings.stage + 1} (B={settings.size}) the loop waits for data {100 * total[0] / total[1]:.0f}% of "
                f"the time; the loader, not the model, is the limit. Remedies: more --workers (now {self.workers}); --reduced-decode "
                "(decode JPEGs at reduced scale); --shrink-at before-augment (augment at B); --replay K (use each loaded "
                "image K times below the final size). `efficienttrain probe` predicts their effect (docs/performance.md)"
            )


def epoch_line(row: dict[str, Any], num_epochs: int, top1_label: str = "top1") -> str:
    """The line logged after each epoch, from its metrics row (``top1_label`` names the headline metric)."""
    top5_label = top1_label.replace("top1", "top5")
    line = (
        f"epoch {row['epoch']}/{num_epochs}  B={row['size']}  m={row['magnitude']:.2f}  "
        f"loss {row['train_loss']:.3f}  {top1_label} {row['top1']:.2f}%  {top5_label} {row['top5']:.2f}%  "
        f"{row['epoch_time']:.1f}s ({row['images_per_s']:.0f} img/s)"
    )
    if "ema_top1" in row:
        line += f"  ema top1 {row['ema_top1']:.2f}%"
    return line
