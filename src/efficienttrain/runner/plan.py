"""``efficienttrain plan``: a run's wall time stage by stage before it starts, and the schedule that fits a budget.

The plan measures before it predicts. :func:`~efficienttrain.runner.probe.probe` times real
training steps fed by the real loader at every size of EfficientTrain's schedule, with the run's
own config (model, batch, workers, shrink plan; under ``--batch-growth`` each stage's grown batch,
fitted as the pre-flight fits it), and writes nothing. Under ``torchrun`` each
process measures its own steps and predicts its own images (an epoch's share of one process). Time per image is then
fitted as ``a + b * size**2`` (a fixed part and a part that grows with the pixels) over the
measured sizes, so that schedules whose sizes were not measured (EfficientTrain++'s, the baseline's
if it differs) are predicted too. A schedule's training time is the sum over its stages of the
images trained there times that time per image. Evaluation is not counted.

With ``--epochs E`` the plan compares the baseline (no curriculum, ``E`` epochs), EfficientTrain
at ``E`` epochs and EfficientTrain++ at budgets of ``E / 2`` and ``E / 3``. With ``--budget``
it picks, among EfficientTrain lengths and EfficientTrain++ budgets, the one with the most
training compute (final-size epochs of the pixel model) whose predicted time fits.

The plan file (YAML) records the chosen curriculum, the prediction and the measurements;
``efficienttrain train --plan FILE`` trains that curriculum as written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from ..curricula import Curriculum
from ..curricula.cost import curriculum_cost
from ..errors import UserError
from .config import TrainConfig

__all__ = ["TimeModel", "StagePlan", "SchedulePlan", "Plan", "make_plan", "load_plan", "check_plan_fits", "timing_settings", "parse_duration", "PLAN_FORMAT", "TIMING_FIELDS"]

PLAN_FORMAT = "efficienttrain-plan/1"
#: The settings that set a step's time (or the images an epoch holds): a plan measured with other
#: values does not predict the run, so ``train --plan`` names any that differ.
TIMING_FIELDS = (
    "model", "model_kwargs", "objective", "data", "demo_per_class", "demo_image_size", "batch_size", "batch_growth", "accum_steps",
    "workers", "threads", "device", "amp", "shrink_at", "replay", "crop_op", "channels_last", "compile", "preload", "reduced_decode",
)  # fmt: skip
#: The longest schedule a budget fit proposes (in epochs; a budget that would allow more gets this).
MAX_PLAN_EPOCHS = 10_000.0


def parse_duration(text: str) -> float:
    """Seconds in ``90m``, ``6h``, ``1.5d``, ``3600s`` or a plain number of seconds.

    Raises:
        UserError: If the text is not a positive duration.
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in units else (raw, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"--budget {text!r} is not a duration; write it as 90m, 6h or 1.5d")
    return seconds


@dataclass(frozen=True)
class TimeModel:
    """Seconds per training image at a size: ``fixed + per_pixel * size**2``, fitted to measured sizes.

    Attributes:
        fixed: Seconds per image that do not grow with the size.
        per_pixel: Seconds per image per pixel.
        measured: The measured seconds per image, by size.
        limits: ``model`` or ``loader`` at each measured size.
    """

    fixed: float
    per_pixel: float
    measured: dict[int, float]
    limits: dict[int, str] = field(default_factory=dict)

    @classmethod
    def fit(cls, measured: dict[int, float], limits: Optional[dict[int, str]] = None) -> "TimeModel":
        """Least squares over the measured sizes (one size: all of it per pixel)."""
        xs = [float(s) ** 2 for s in measured]
        ys = list(measured.values())
        if len(xs) < 2:
            return cls(0.0, ys[0] / xs[0], dict(measured), dict(limits or {}))
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var > 0 else 0.0
        slope = max(slope, 0.0)  # a noisy fit must not make larger images cheaper
        return cls(max(my - slope * mx, 0.0), slope, dict(measured), dict(limits or {}))

    def seconds_per_image(self, size: int) -> float:
        """The measured time at a measured size, else the fit's."""
        return self.measured.get(size, self.fixed + self.per_pixel * size**2)


@dataclass(frozen=True)
class StagePlan:
    """One stage's prediction: its size, epochs, images and seconds."""

    size: int
    epochs: float
    images: float
    seconds: float
    limit: str


@dataclass(frozen=True)
class SchedulePlan:
    """One candidate schedule's prediction.

    Attributes:
        name: ``baseline``, ``efficienttrain`` or ``efficienttrain++``.
        length: Its ``--epochs`` (for EfficientTrain++ the budget in final-size epochs).
        curriculum: The curriculum.
        stages: Per size run (consecutive stages of one size merged): size, epochs, images, seconds.
        compute: Training compute in final-size epochs (the pixel model).
    """

    name: str
    length: float
    curriculum: Curriculum
    stages: list[StagePlan]
    compute: float

    @property
    def seconds(self) -> float:
        """Predicted training wall time."""
        return sum(s.seconds for s in self.stages)


@dataclass
class Plan:
    """What ``efficienttrain plan`` found: the candidates, the chosen one, and the measurements behind them."""

    candidates: list[SchedulePlan]
    chosen: SchedulePlan
    time_model: TimeModel
    images_per_epoch: int
    budget_s: Optional[float] = None
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The plan file's content."""
        return {
            "format": PLAN_FORMAT,
            "chosen": {"name": self.chosen.name, "length": self.chosen.length, "predicted_train_s": self.chosen.seconds},
            "curriculum": self.chosen.curriculum.to_dict(),
            "budget_s": self.budget_s,
            "images_per_epoch": self.images_per_epoch,
            "candidates": [
                {"name": c.name, "length": c.length, "predicted_train_s": c.seconds, "compute_final_size_epochs": c.compute,
                 "stages": [dataclasses.asdict(s) for s in c.stages]}  # fmt: skip
                for c in self.candidates
            ],
            "seconds_per_image": {str(k): v for k, v in self.time_model.measured.items()},
            "limits": {str(k): v for k, v in self.time_model.limits.items()},
            "fit": {"fixed_s": self.time_model.fixed, "per_pixel_s": self.time_model.per_pixel},
            "notes": self.notes,
            "settings": self.settings,
        }

    def write(self, path: Union[str, Path]) -> None:
        """Write the plan file (YAML)."""
        import yaml

        from ..rundir import atomic_write

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(path), lambda tmp: tmp.write_text(text))

    def table(self) -> str:
        """The candidates stage by stage (consecutive stages of one size merged), the chosen one marked."""
        from .progress import hms

        lines = [f"{'schedule':<26} {'stage':>5} {'B':>4} {'epochs':>7} {'s/image':>9} {'limit':>6} {'time':>9}"]
        for c in self.candidates:
            mark = " <- chosen" if c is self.chosen else ""
            label = f"{c.name} {c.length:.3g}" + (" (budget)" if c.name == "efficienttrain++" else " ep")
            for i, s in enumerate(c.stages):
                seconds = s.seconds / max(s.images, 1)
                lines.append(f"{label if i == 0 else '':<26} {i + 1:>5} {s.size:>4} {s.epochs:>7.2f} {seconds:>9.5f} {s.limit:>6} {hms(s.seconds):>9}")
            lines.append(f"{'':<26} {'total':>5} {'':>4} {c.curriculum.epochs:>7.2f} {'':>9} {'':>6} {hms(c.seconds):>9}  compute {c.compute:.2f} final-size epochs{mark}")
        return "\n".join(lines + self.notes)


def _curriculum_kind(name: str) -> str:
    """The ``--curriculum`` of a candidate: its own name, except the baseline's (no curriculum)."""
    return {"baseline": "none"}.get(name, name)


def _schedule(cfg: TrainConfig, name: str, length: float, time_model: TimeModel, images_per_epoch: int) -> SchedulePlan:
    from .build import build_curriculum

    kind = _curriculum_kind(name)
    cur = build_curriculum(dataclasses.replace(cfg, curriculum=kind, epochs=length))
    stages: list[StagePlan] = []
    for stage in cur.stages:
        epochs = stage.epochs + (stages[-1].epochs if stages and stages[-1].size == stage.size else 0.0)  # stages that differ in magnitude only are one here
        if stages and stages[-1].size == stage.size:
            stages.pop()
        images = epochs * images_per_epoch
        stages.append(StagePlan(stage.size, epochs, images, images * time_model.seconds_per_image(stage.size), time_model.limits.get(stage.size, "model")))
    return SchedulePlan(name, length, cur, stages, curriculum_cost(cur).final_size_epochs)


def candidates_for_epochs(cfg: TrainConfig, epochs: float, time_model: TimeModel, images_per_epoch: int) -> list[SchedulePlan]:
    """The baseline and EfficientTrain at ``epochs``, and EfficientTrain++ at budgets of ``epochs / 2`` and ``epochs / 3``."""
    named = [("baseline", epochs), ("efficienttrain", epochs), ("efficienttrain++", epochs / 2), ("efficienttrain++", epochs / 3)]
    return [_schedule(cfg, name, round(length, 4), time_model, images_per_epoch) for name, length in named]


def fit_budget(cfg: TrainConfig, budget_s: float, time_model: TimeModel, images_per_epoch: int) -> list[SchedulePlan]:
    """The longest EfficientTrain and the largest EfficientTrain++ budget whose predicted time fits ``budget_s``.

    Each is found by bisection on its length (predicted time grows with it), to 0.1 epoch.

    Raises:
        UserError: If not even a 1-epoch schedule fits.
    """
    out = []
    for name in ("efficienttrain", "efficienttrain++"):

        def fits(length: float, name: str = name) -> bool:
            return _schedule(cfg, name, length, time_model, images_per_epoch).seconds <= budget_s

        if not fits(1.0):
            continue
        lo = 1.0
        while lo * 2 <= MAX_PLAN_EPOCHS and fits(lo * 2):
            lo *= 2
        hi = min(lo * 2, MAX_PLAN_EPOCHS)  # the first length that does not fit, or the cap
        if fits(hi):
            lo = hi
        while hi - lo > 0.1:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        out.append(_schedule(cfg, name, math.floor(lo * 10) / 10, time_model, images_per_epoch))
    if not out:
        from .progress import hms

        one = _schedule(cfg, "efficienttrain", 1.0, time_model, images_per_epoch).seconds
        raise UserError(f"--budget {hms(budget_s)} fits no schedule: one epoch of EfficientTrain takes about {hms(one)} here; raise the budget or lower --final-size")
    return out


def make_plan(cfg: TrainConfig, *, epochs: Optional[float] = None, budget_s: Optional[float] = None, batches: int = 3, log: Callable[[str], None] = print) -> Plan:
    """Measure this machine with the run's config, then predict the candidates (see the module description).

    Args:
        cfg: The training config (its curriculum and epochs are the plan's to choose).
        epochs: Compare schedules at this length.
        budget_s: Pick the schedule that fits this many seconds of training.
        batches: Timed batches per size (over the probe's rounds).
        log: Receives progress lines.

    Raises:
        UserError: If neither or both of ``epochs`` and ``budget_s`` are given, or nothing fits.
    """
    from .probe import probe

    if (epochs is None) == (budget_s is None):
        raise UserError("efficienttrain plan needs one of --epochs E or --budget DURATION (e.g. 6h)")
    measure_epochs = epochs or 300.0  # only the sizes matter for the measurement
    report = probe(dataclasses.replace(cfg, curriculum="efficienttrain", epochs=measure_epochs), batches=batches, warmup=1, rounds=1, log=log)
    time_model = TimeModel.fit({p.size: p.together_s for p in report.sizes}, {p.size: p.bottleneck for p in report.sizes})
    images_per_epoch = report.images_per_epoch
    notes = list(report.notes) + _relief_notes(report)
    if cfg.batch_growth > 1:
        notes.append("note: a size that was not measured (EfficientTrain++'s own) is read off the fit over the grown batches' times")
    if epochs is not None:
        cands = candidates_for_epochs(cfg, epochs, time_model, images_per_epoch)
        chosen = cands[1]
    else:
        cands = fit_budget(cfg, float(budget_s), time_model, images_per_epoch)
        chosen = max(cands, key=lambda c: (c.compute, c.name == "efficienttrain"))
    return Plan(cands, chosen, time_model, images_per_epoch, budget_s, notes, timing_settings(cfg))


def timing_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The values of :data:`TIMING_FIELDS` in ``cfg``, as the plan file stores them (plain YAML types)."""
    return {name: _plain(getattr(cfg, name)) for name in TIMING_FIELDS}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, dict) else value


def check_plan_fits(cfg: TrainConfig, curriculum: Curriculum, data: dict[str, Any], given: set[str]) -> list[str]:
    """Whether ``train --plan`` can train this plan with this config; notes on what makes its prediction not apply.

    Args:
        cfg: The run's config.
        curriculum: The plan's curriculum.
        data: The plan file's content.
        given: The settings the user gave (flags and config-file keys).

    Returns:
        Notes (one line each) naming the timing settings that differ from the plan's measurement.

    Raises:
        UserError: Where the config contradicts the plan: another curriculum, length or final size.
    """
    from .config import flag_name, resolve_final_size

    chosen = _curriculum_kind(str((data.get("chosen") or {}).get("name")))
    if "curriculum" in given and cfg.curriculum != chosen:
        raise UserError(f"--curriculum {cfg.curriculum} contradicts the plan's {chosen}: --plan sets the curriculum; drop --curriculum, or plan again")
    if cfg.epochs is not None and not math.isclose(cfg.epochs, curriculum.epochs, rel_tol=1e-6):
        raise UserError(f"--epochs {cfg.epochs:g} contradicts the plan's {curriculum.epochs:g}: --plan sets the length; drop --epochs, or plan again")
    final = resolve_final_size(cfg.data, cfg.final_size, cfg.demo_image_size)
    if final != curriculum.final_size:
        raise UserError(
            f"the plan's curriculum ends at {curriculum.final_size} px, but this run trains at {final} px; "
            f"pass --final-size {curriculum.final_size}, or plan again with this run's settings"
        )
    measured = data.get("settings") or {}
    now = timing_settings(cfg)
    differ = [f"{flag_name(k)} {measured[k]}, now {now[k]}" for k in TIMING_FIELDS if k in measured and measured[k] != now[k]]
    if not differ:
        return []
    return [f"note: the plan was measured with other settings ({'; '.join(differ)}), so its predicted time is not this run's"]


def _relief_notes(report: Any) -> list[str]:
    """Where the loader is the limit, what would relieve it."""
    loader = [p for p in report.sizes if p.bottleneck == "loader"]
    if not loader:
        return []
    sizes = ", ".join(str(p.size) for p in loader)
    need = max(p.workers_needed(report.workers) or 0 for p in loader)
    return [
        f"note: the loader is the limit at B = {sizes}: try --workers {need}, --replay 2, or --shrink-at before-augment with --crop-op bicubic "
        f"and --reduced-decode (docs/performance.md)"
    ]


def load_plan(path: Union[str, Path]) -> tuple[Curriculum, dict[str, Any]]:
    """A plan file's curriculum and content.

    Raises:
        UserError: If the file is missing or not a plan.
    """
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"cannot read the plan {path} ({str(err).splitlines()[0]}); write one with efficienttrain plan") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise UserError(f"{path} is not a plan file ({PLAN_FORMAT}); write one with efficienttrain plan")
    try:
        return Curriculum.from_dict(data["curriculum"]), data
    except (KeyError, ValueError, TypeError) as err:
        raise UserError(f"the plan {path} holds no valid curriculum ({err}); write it again with efficienttrain plan") from None
