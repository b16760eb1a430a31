"""Trial evaluation for the schedule search: train a proxy model with the recipe runner."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..curricula import budgeted_staircase, staircase
from ..data.transforms import randaugment_magnitude
from ..rundir import RunDir
from .algorithm import SearchLog

__all__ = ["RunnerEvaluator"]


class RunnerEvaluator:
    """Train a proxy model on a staircase schedule and return its final top-1 accuracy.

    Each trial is a normal run of :class:`~efficienttrain.runner.Trainer` in
    ``<out_dir>/trials/<sizes>[-seedK]/``; a trial that was interrupted resumes from its checkpoint.

    Args:
        train_values: :class:`~efficienttrain.runner.TrainConfig` fields for every trial (model,
            data, batch size, ...); ``curriculum``, ``epochs``, ``output`` and ``name`` are set here.
        out_dir: Directory for the trial runs.
        epochs: ``T`` of every trial (Algorithm 1); ignored with ``budget``.
        final_size: Final input size.
        budget: If set, trials are budgeted staircases costing this many final-size epochs.
        seeds: Seeds to average over (noise reduction).
        preset: Runner preset for the trials.
        log: Receives progress lines from the runner (default: silent).
    """

    def __init__(
        self,
        train_values: dict[str, Any],
        out_dir: Path,
        *,
        epochs: float,
        final_size: int,
        budget: Optional[float] = None,
        seeds: Sequence[int] = (0,),
        preset: Optional[str] = None,
        log: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.train_values = dict(train_values)
        self.out_dir = Path(out_dir)
        self.epochs = epochs
        self.final_size = final_size
        self.budget = budget
        self.seeds = list(seeds)
        self.preset = preset
        self.log = log or (lambda _msg: None)

    def __call__(self, sizes: tuple[int, ...]) -> float:
        from ..runner.config import make_config
        from ..runner.loop import Trainer

        # The proxy runs' own RandAugment magnitude is the ramp's end, m0 (9 in the paper's recipe).
        m0 = randaugment_magnitude(make_config(dict(self.train_values), preset=self.preset).randaugment)
        if self.budget is not None:
            cur = budgeted_staircase(sizes, self.budget, self.final_size, max_magnitude=m0)
        else:
            cur = staircase(sizes, self.epochs, self.final_size, max_magnitude=m0)
        accs = []
        for seed in self.seeds:
            run_dir = RunDir(self.out_dir / "trials" / (SearchLog.key(sizes) + (f"-seed{seed}" if len(self.seeds) > 1 else "")))
            summary = run_dir.summary()
            if summary is not None and summary.completed:
                accs.append(float(summary.final_top1))
                continue
            values = {
                **self.train_values,
                "curriculum": cur.name,
                "epochs": cur.epochs,
                "final_size": self.final_size,
                "output": str(run_dir.path),
                "name": f"trial-{SearchLog.key(sizes)}",
                "seed": seed,
                "resume": run_dir.checkpoint_path.is_file(),
                "safetensors": False,
            }
            values.setdefault("progress", False)
            result = Trainer(make_config(values, preset=self.preset), log=self.log, curriculum=cur).run()
            if not result.completed:
                raise KeyboardInterrupt("trial interrupted; run the search again to resume it")
            accs.append(result.final_top1)
        return statistics.fmean(accs)
