"""Trial evaluation for the schedule search: train a proxy model with the recipe runner."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .algorithm import SearchLog, budgeted_staircase, staircase

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

        if self.budget is not None:
            cur = budgeted_staircase(sizes, self.budget, self.final_size)
        else:
            cur = staircase(sizes, self.epochs, self.final_size)
        accs = []
        for seed in self.seeds:
            run_dir = self.out_dir / "trials" / (SearchLog.key(sizes) + (f"-seed{seed}" if len(self.seeds) > 1 else ""))
            summary = run_dir / "summary.json"
            if summary.is_file():
                data = json.loads(summary.read_text())
                if data.get("completed"):
                    accs.append(float(data["final_top1"]))
                    continue
            run_dir.mkdir(parents=True, exist_ok=True)
            cur_file = run_dir / "trial_curriculum.yaml"
            cur.save(cur_file)
            values = {
                **self.train_values,
                "curriculum": str(cur_file),
                "epochs": cur.epochs,
                "final_size": self.final_size,
                "output": str(run_dir),
                "name": f"trial-{SearchLog.key(sizes)}",
                "seed": seed,
                "resume": (run_dir / "last.pt").is_file(),
                "safetensors": False,
            }
            values.setdefault("progress", False)
            result = Trainer(make_config(values, preset=self.preset), log=self.log).run()
            if not result.completed:
                raise KeyboardInterrupt("trial interrupted; run the search again to resume it")
            accs.append(result.final_top1)
        return statistics.fmean(accs)
