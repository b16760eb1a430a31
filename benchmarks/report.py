"""Summarise the evidence runs of benchmarks/experiments.py: tables, the frontier figure, the run records.

Reads every run directory under ``--runs`` through :mod:`efficienttrain.rundir` and writes

* ``benchmarks/results/evidence.md`` and ``evidence.json``: the tables docs/results.md quotes, with
  the binomial standard error of every top-1 and the seeds' spread of every mean;
* ``docs/figures/frontier.png``: top-1 against training time for the best baseline and EfficientTrain
  (one point per length, error bars over seeds);
* ``benchmarks/results/runs/<run>/``: the small record of every run (``config.yaml``,
  ``metrics.jsonl``, ``summary.json``; no checkpoints), so that every quoted number traces to one.

Usage::

    python -m benchmarks.report --runs runs/evidence
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from efficienttrain.plots import plot_runs
from efficienttrain.rundir import MetricsRow, RunDir, Summary

from benchmarks import frontier as fit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONTROL_LABELS = {"ramp": "ramp baseline (no crop, RandAugment ramp)", "const-m3": "constant m=3", "const-m6": "constant m=6", "const-m9": "constant m=9 (paper's baseline)"}
COMPUTE_FILE = "compute.json"
# other_busy_cores above this: the run shared the machine, its time is not quoted. Runs that ran alone
# measured at most 0.02; one at 0.165 took 30 min against 17.5 alone (threads oversubscribed), so 0.3 was too lax.
SHARED_CORES = 0.05
# Commits of the clones that ran accuracy runs beside other work by design (compute is their x-axis).
# Their other_busy_cores misses the slowdown (const-m3-4ep-s2: 13.5 min at 0.003, against 8.4 min
# alone for seed 0), so none of their times is quoted.
BACKGROUND_COMMITS = ("07ffcfd", "eed4c6f", "322ae0d", "3d9f4a1")


@dataclass
class Run:
    """One finished run: its summary, history and record directory."""

    name: str
    summary: Summary
    history: list[MetricsRow]
    path: Path

    @property
    def top1(self) -> float:
        return float(self.summary.final_top1)

    @property
    def minutes(self) -> float:
        return self.summary.train_time_s / 60.0

    @property
    def flops(self) -> Optional[float]:
        """Training compute: a recount (``compute.json``, benchmarks/backfill_compute.py) where there is one, else the summary's."""
        extra = self.path / COMPUTE_FILE
        if extra.is_file():
            return float(json.loads(extra.read_text())["compute"]["train_flops"])
        return float(self.summary.compute["train_flops"]) if self.summary.compute else None

    @property
    def other_cores(self) -> Optional[float]:
        values = [s.get("other_busy_cores") for s in self.summary.sessions]
        return max(v for v in values if v is not None) if any(v is not None for v in values) else None

    @property
    def timing_clean(self) -> bool:
        """One session, nothing else busy on the machine: its time may be quoted."""
        other = self.other_cores
        background = any((sess.get("git_commit") or "").startswith(BACKGROUND_COMMITS) for sess in self.summary.sessions)
        return len(self.summary.sessions) == 1 and other is not None and other <= SHARED_CORES and not background

    @property
    def commit(self) -> str:
        commits = {(s.get("git_commit") or "?")[:7] + ("+dirty" if s.get("git_dirty") else "") for s in self.summary.sessions}
        return ",".join(sorted(commits))


def load_runs(root: Path) -> dict[str, Run]:
    runs = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        rd = RunDir(d)
        summary = rd.summary()
        if summary is not None and summary.completed:
            runs[d.name] = Run(d.name, summary, rd.history(), d)
    return runs


VAL_IMAGES = 995  # Imagenette-dev's validation split; --val-images overrides it


def se(p: float, n: int) -> float:
    """Binomial standard error of an accuracy ``p`` (percent) on ``n`` images, in points."""
    q = p / 100.0
    return 100.0 * math.sqrt(max(q * (1 - q), 1e-12) / n)


def fmt_acc(p: float, n: int) -> str:
    return f"{p:.2f} ± {se(p, n):.2f}"


def mean_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half the range (the seeds' spread)."""
    return statistics.fmean(values), (max(values) - min(values)) / 2 if len(values) > 1 else 0.0


def fmt_mean(values: Sequence[float]) -> str:
    """``mean ± half-range`` over seeds, or ``x (1 seed)``."""
    m, h = mean_spread(values)
    return f"{m:.2f} ± {h:.2f}" if len(values) > 1 else f"{m:.2f} (1 seed)"


def verdict(a: float, b: float, n: int) -> str:
    """``tie`` if two accuracies differ by less than two standard errors of their difference."""
    diff = a - b
    limit = 2 * math.sqrt(se(a, n) ** 2 + se(b, n) ** 2)
    return "tie" if abs(diff) < limit else ("higher" if diff > 0 else "lower")


def group(runs: dict[str, Run], prefix: str) -> list[Run]:
    """Runs named ``<prefix>-s<seed>``."""
    return [r for n, r in runs.items() if re.fullmatch(re.escape(prefix) + r"-s\d+", n)]


# -- step 1: the controls ------------------------------------------------------------------------
def controls_table(runs: dict[str, Run], epochs: int) -> tuple[list[str], dict[str, Any]]:
    lines = [
        "| baseline (no crop) | seeds | top-1 per seed (± SE) | mean ± half-range | training time (min, mean of the runs that ran alone) |",
        "|---|---|---|---|---|",
    ]
    data: dict[str, Any] = {}
    for kind, label in [*CONTROL_LABELS.items(), ("et", "*EfficientTrain (for comparison)*")]:
        rs = group(runs, f"{kind}-{epochs}ep")
        if not rs:
            continue
        accs = [r.top1 for r in rs]
        m, h = mean_spread(accs)
        data[kind] = {"top1": accs, "mean": m, "half_range": h, "minutes": [r.minutes for r in rs]}
        alone = [r.minutes for r in rs if r.timing_clean]
        minutes = f"{statistics.fmean(alone):.1f} ({len(alone)} of {len(rs)})" if alone else "- (none ran alone)"
        lines.append(f"| {label} | {len(rs)} | {', '.join(fmt_acc(a, VAL_IMAGES) for a in accs)} | **{fmt_mean(accs)}** | {minutes} |")
    controls = [k for k in data if k != "et"]
    if controls:
        best = max(controls, key=lambda k: data[k]["mean"])
        data["best"] = best
        lines += ["", f"Best baseline by mean top-1: **{CONTROL_LABELS[best]}**; the frontier uses it."]
        if "et" in data:
            verdicts = {k: verdict(data["et"]["mean"], data[k]["mean"], VAL_IMAGES) for k in controls}
            data["et_versus"] = verdicts
            lines.append("EfficientTrain's mean against each control (two standard errors of the difference): "
                         + ", ".join(f"{CONTROL_LABELS[k]}: {v}" for k, v in verdicts.items()) + ".")  # fmt: skip
    return lines, data


# -- EfficientTrain's final magnitude, tuned as the control's --------------------------------------
MAGNITUDE_RUNS = {3: "et-m3-{e}ep", 6: "et-m6-{e}ep", 9: "et-{e}ep"}  # m = 9 is the paper's recipe, the main et runs


def magnitude_runs(runs: dict[str, Run], epochs: int) -> dict[int, list[float]]:
    """Top-1 of EfficientTrain's ``epochs``-epoch seeds for each final magnitude that has runs."""
    found = {m: [r.top1 for r in group(runs, pattern.format(e=epochs))] for m, pattern in MAGNITUDE_RUNS.items()}
    return {m: accs for m, accs in found.items() if accs}


def chosen_magnitude(runs: dict[str, Run], epochs: int) -> Optional[int]:
    """EfficientTrain's tuned final magnitude: the highest mean top-1 at ``epochs`` (the controls' rule), or None before two were run."""
    found = magnitude_runs(runs, epochs)
    return max(found, key=lambda m: statistics.fmean(found[m])) if len(found) >= 2 else None


def magnitude_section(runs: dict[str, Run], epochs: int) -> Section:
    """EfficientTrain's ramp ending at m = 3, 6 and 9 at ``epochs``: the pick by the control's rule (highest mean of the seeds)."""
    lines = [
        f"## EfficientTrain's final magnitude, chosen by the control's rule ({epochs} epochs)",
        "",
        "| the ramp ends at | seeds | top-1 per seed (± SE) | mean ± half-range |",
        "|---|---|---|---|",
    ]
    data: dict[str, Any] = {}
    for m, accs in magnitude_runs(runs, epochs).items():
        data[str(m)] = {"top1": accs, "mean": statistics.fmean(accs)}
        lines.append(f"| m = {m}{' (the paper)' if m == 9 else ''} | {len(accs)} | {', '.join(fmt_acc(a, VAL_IMAGES) for a in accs)} | {fmt_mean(accs)} |")
    if len(data) < 2:
        return [], {}
    best = max(data, key=lambda k: data[k]["mean"])
    versus = {k: verdict(data[best]["mean"], v["mean"], VAL_IMAGES) for k, v in data.items() if k != best}
    lines += [
        "",
        f"Highest mean: **m = {best}**, which the tuned runs ramp to. Against it (two standard errors of the difference): "
        + ", ".join(f"m = {k}: {'tie' if v == 'tie' else 'lower'}" for k, v in versus.items())
        + ". The pick follows the rule, not a significant difference, where the verdict is a tie.",
        "",
    ]
    return lines, {"magnitude_choice": {"runs": data, "chosen": int(best), "versus": versus}}


# -- step 2: the frontier, on compute ----------------------------------------------------------
@dataclass
class Point:
    """One schedule at one length, over seeds."""

    label: str
    length: float
    accs: list[float]
    minutes: list[float]
    flops: list[float]
    clean: list[bool]

    @property
    def acc(self) -> float:
        return statistics.fmean(self.accs)

    @property
    def time(self) -> float:
        return statistics.fmean(self.minutes)

    @property
    def compute(self) -> float:
        return statistics.fmean(self.flops)


def frontier_points(runs: dict[str, Run], kind: str, length: str = r"(\d+(?:\.\d+)?)ep") -> list[Point]:
    """The points of one schedule: runs named ``<kind>-<length>-s<seed>``, grouped over seeds."""
    points = []
    for name in sorted({schedule_of(n) for n in runs if re.fullmatch(re.escape(kind) + "-" + length + r"-s\d+", n)}):
        m = re.fullmatch(re.escape(kind) + "-" + length, name)
        rs = [r for r in group(runs, name) if r.flops is not None]
        if m and rs:
            points.append(Point(name, float(m.group(1)), [r.top1 for r in rs], [r.minutes for r in rs], [r.flops for r in rs], [r.timing_clean for r in rs]))
    return sorted(points, key=lambda p: p.compute)


def alone(point: Point) -> Optional[Point]:
    """The point over only its runs that ran alone (their wall time is quotable), or None if none did."""
    keep = [i for i, c in enumerate(point.clean) if c]
    if not keep:
        return None
    pick = lambda xs: [xs[i] for i in keep]  # noqa: E731
    return Point(point.label, point.length, pick(point.accs), pick(point.minutes), pick(point.flops), [True] * len(keep))


def measured_wall_speedup(control: Sequence[Point], p: Point) -> Optional[float]:
    """The cross-check on wall time: the control's runs that ran alone, interpolated to the mean top-1 of ``p``'s.

    Both sides use only runs that ran alone, so the seeds can differ between them; None when a
    point has no such run or the top-1 lies outside the control's.
    """
    c_alone, p_alone = [alone(q) for q in control], alone(p)
    if p_alone is None or any(q is None for q in c_alone):
        return None
    t_c, how = time_to_reach([q for q in c_alone if q is not None], p_alone.acc)
    return t_c / p_alone.time if t_c is not None and how == "interpolated" else None


def time_to_reach(frontier: Sequence[Point], acc: float) -> tuple[Optional[float], str]:
    """Minutes the frontier needs to reach ``acc``, linear between its points (the wall-time cross-check)."""
    pts = sorted(frontier, key=lambda p: p.time)
    if acc <= pts[0].acc:
        return pts[0].time, "below"
    for a, b in zip(pts, pts[1:]):
        if min(a.acc, b.acc) <= acc <= max(a.acc, b.acc):
            return (a.time if b.acc == a.acc else a.time + (acc - a.acc) * (b.time - a.time) / (b.acc - a.acc)), "interpolated"
    return (None, "above") if acc > max(p.acc for p in pts) else (pts[-1].time, "interpolated")


def frontier_table(named: Sequence[tuple[str, list[Point]]]) -> tuple[list[str], list[dict[str, Any]]]:
    lines = ["| schedule | length | compute (PFLOP) | seeds | top-1 per seed | mean ± half-range (SE) | training time (min, mean; runs alone) |", "|---|---|---|---|---|---|---|"]
    rows = []
    for label, pts in named:
        for p in pts:
            m, h = mean_spread(p.accs)
            alone = [t for t, c in zip(p.minutes, p.clean) if c]
            rows.append({"schedule": label, "length": p.length, "pflop": p.compute / 1e15, "top1": p.accs, "mean": m, "half_range": h, "se": se(m, VAL_IMAGES), "minutes": p.minutes, "alone": p.clean})
            t_txt = f"{statistics.fmean(alone):.1f} ({len(alone)} of {len(p.minutes)})" if alone else "- (shared machine)"
            lines.append(f"| {label} | {p.length:g} | {p.compute / 1e15:.4f} | {len(p.accs)} | {', '.join(f'{a:.2f}' for a in p.accs)} | {fmt_mean(p.accs)} (SE {se(m, VAL_IMAGES):.2f}) | {t_txt} |")
    return lines, rows


def load_rho(paths: Sequence[Path]) -> dict[str, float]:
    """rho per schedule from benchmarks/step_time.py results (control's seconds per FLOP over the schedule's).

    Each result's rho is against the control timed in the same rounds, so results combine; for a
    schedule timed twice, the first path given wins.
    """
    rho: dict[str, float] = {}
    for path in paths:
        if path.is_file():
            for name, v in json.loads(path.read_text())["schedules"].items():
                rho.setdefault(name, float(v["rho"]))
    return rho


def schedule_of(name: str) -> str:
    """A run's schedule: its name without the seed (``vit-small-et-16ep-s1`` -> ``vit-small-et-16ep``)."""
    return re.sub(r"-s\d+$", "", name)


def _kind(name: str) -> str:
    return re.sub(r"-b?\d+(?:\.\d+)?(?:ep)?$", "", name)


def rho_for(point: Point, rho: dict[str, float]) -> Optional[float]:
    """rho of a point's schedule: measured for that run, or for the same schedule at another length.

    Every schedule here keeps its stage shares and magnitudes at any length (or budget), so its
    seconds per FLOP do not depend on the length.
    """
    if point.label in rho:
        return rho[point.label]
    return next((v for k, v in rho.items() if _kind(k) == _kind(point.label)), None)


def speedup_rows(control: list[Point], targets: Sequence[tuple[str, Point]], rho: dict[str, float]) -> tuple[list[str], list[dict[str, Any]]]:
    """Compute to the same top-1 on the control's monotone frontier, with a seed bootstrap; wall time through rho."""
    pchip = fit.MonotoneCurve([p.compute for p in control], [p.acc for p in control])
    linear = fit.MonotoneCurve([p.compute for p in control], [p.acc for p in control], kind="linear")
    seeds = [(p.compute, p.accs) for p in control]
    lines = ["| run | top-1 (mean) | compute (PFLOP) | control's compute to that top-1 | compute speedup (90% interval) | linear fit | wall-time speedup (x rho) | measured, runs alone |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    rows = []
    for label, p in targets:
        r, lin = fit.reach(pchip, p.acc, p.compute), fit.reach(linear, p.acc, p.compute)
        iv = fit.interval(fit.bootstrap(seeds, p.accs, p.compute))
        single = [f"the control at {q.length:g}" for q in control if len(q.accs) < 2] + (["this point"] if len(p.accs) < 2 else [])
        iv_text = iv.text() + (f"; 1 seed at {', '.join(single)}: the interval misses their spread" if single else "")
        bound = bound_word(r.how)
        k = rho_for(p, rho)
        wall = r.speedup * k if k else None
        direct = measured_wall_speedup(control, p)
        measured = f"{direct:.2f}x" if direct is not None else "-"
        rows.append({"run": label, "top1": p.acc, "pflop": p.compute / 1e15, "how": r.how, "speedup": r.speedup, "interval": [iv.low, iv.high], "interval_text": iv_text,
                     "linear": lin.speedup, "rho": k, "wall_speedup": wall, "measured_wall_speedup": direct})  # fmt: skip
        wall_txt = f"{bound}{wall:.2f}x (rho {k:.3f})" if wall else "rho not measured"
        lines.append(f"| {label} | {p.acc:.2f} | {p.compute / 1e15:.4f} | {r.control_compute / 1e15:.4f} ({r.how}) | **{bound}{r.speedup:.2f}x** ({iv_text}) | {lin.speedup:.2f}x | {wall_txt} | {measured} |")
    return lines, rows


def plot_frontier(control: list[Point], others: Sequence[tuple[str, list[Point]]], control_label: str, path: Path, title: str) -> Path:
    import numpy as np

    from efficienttrain.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    curve = fit.MonotoneCurve([p.compute for p in control], [p.acc for p in control])
    xs = np.geomspace(control[0].compute, control[-1].compute, 200)
    ax.plot(xs / 1e15, [curve(x) for x in xs], color="C0", alpha=0.6, lw=1.2, label=f"{control_label}: monotone fit (PCHIP in log-compute)")
    markers = "osD^v<>"
    for i, (label, pts) in enumerate(((control_label, control), *others)):
        ax.errorbar([p.compute / 1e15 for p in pts], [p.acc for p in pts], yerr=[mean_spread(p.accs)[1] for p in pts], marker=markers[i % len(markers)],
                    capsize=3, color=f"C{i}", label=label, ls=("--" if "paper recipe" in label else "-") if i and len(pts) > 1 else "none")  # fmt: skip
        for p in pts:
            ax.annotate(f"{p.length:g}", (p.compute / 1e15, p.acc), textcoords="offset points", xytext=(5, -11), fontsize=7, color=f"C{i}")
    ax.set_xlabel("training compute (PFLOP: forward + backward, counted per stage size)")
    ax.set_ylabel("final validation top-1 (%, mean over seeds; bars: half-range)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path, palette=True)  # the docs' copy stays small


# -- pairs: ViT, ConvNeXt, CIFAR, ablations, loader, MAE, transfer --------------------------------
def token_prediction(run: Run) -> Optional[float]:
    """The token-cost model's speedup for a ViT or MAE run (``None`` for other models)."""
    from efficienttrain.cost import curriculum_cost, mae_token_cost_for_model, token_cost_for_model
    from efficienttrain.curricula import Curriculum
    from efficienttrain.models import constructor_kwargs, create_model

    cfg = run.summary.config
    extra = constructor_kwargs(cfg.get("model_kwargs"), cfg.get("patch_size"))
    model = create_model(cfg["model"], 0 if cfg.get("objective") == "mae" else 10, img_size=cfg["final_size"], **extra)
    if not hasattr(model, "patch_embed"):
        return None
    if cfg.get("objective") == "mae":
        from efficienttrain.mae import MAE

        mae = MAE(model, mask_ratio=cfg["mask_ratio"], decoder_dim=cfg["decoder_dim"], decoder_depth=cfg["decoder_depth"], decoder_heads=cfg["decoder_heads"])
        cost = mae_token_cost_for_model(mae)
    else:
        cost = token_cost_for_model(model)
    return curriculum_cost(Curriculum.from_dict(cfg["curriculum_spec"]), cost).speedup


def rho_speedup(r: Run, ref: Optional[Run], rho: dict[str, float]) -> Optional[tuple[float, float, float]]:
    """(wall-time speedup, compute ratio, rho) of ``r`` against ``ref`` through the schedule's measured rho, if timed.

    Only when ``ref``'s schedule was the control of those rounds (its rho is 1 by definition):
    rho against another control would not be the ratio to ``ref``.
    """
    k = rho.get(schedule_of(r.name))
    if k is None or ref is None or ref is r or rho.get(schedule_of(ref.name)) != 1.0 or not r.flops or not ref.flops:
        return None
    return ref.flops / r.flops * k, ref.flops / r.flops, k


def pair_table(
    runs: dict[str, Run],
    rows: Sequence[tuple[str, str]],
    reference: Union[str, Callable[[str], str]],
    n: int = VAL_IMAGES,
    tokens: bool = False,
    rho: Optional[dict[str, float]] = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """One line per run: top-1 ± SE, time, speedup against its reference (quoted only when both timings are clean).

    ``reference`` is a run name, or a function from a run's name to its reference's (seed-matched pairs).
    With ``rho`` (benchmarks/step_time.py), a last column gives the wall-time speedup as the compute
    ratio times the schedule's measured rho, which does not need the runs to have run alone.
    """
    theory = "theoretical (tokens)" if tokens else "theoretical (pixels)"
    pairs = [(runs[name], label, runs.get(reference(name) if callable(reference) else reference)) for name, label in rows if name in runs]
    via = {r.name: rho_speedup(r, ref, rho or {}) for r, _, ref in pairs}
    # The column shows only where rho_speedup found a run timed against its reference's schedule.
    timed = any(v is not None for v in via.values())
    head = f"| run | top-1 (± SE) | training time (min) | speedup vs reference | {theory} | against the reference |"
    lines = [head + (" wall-time speedup (compute ratio x rho) |" if timed else ""), "|---|---|---|---|---|---|" + ("---|" if timed else "")]
    data = []
    for r, label, ref in pairs:
        clean = r.timing_clean and (ref is None or ref.timing_clean)
        sp = ref.summary.train_time_s / r.summary.train_time_s if ref and clean else None
        against = verdict(r.top1, ref.top1, n) if ref and r is not ref else "-"
        predicted = token_prediction(r) if tokens else r.summary.theoretical_speedup
        v = via[r.name]
        data.append({"run": r.name, "label": label, "top1": r.top1, "se": se(r.top1, n), "minutes": r.minutes, "speedup": sp, "predicted": predicted,
                     "versus_reference": against, "timing_clean": r.timing_clean, "rho_speedup": v[0] if v else None})  # fmt: skip
        sp_txt = f"{sp:.2f}x" if sp is not None else ("-" if r is ref else "not quoted (shared machine)")
        via_txt = (f" {v[0]:.2f}x ({v[1]:.2f}x x {v[2]:.3f}) |" if v else (" - |" if r is ref else " rho not measured |")) if timed else ""
        lines.append(f"| {label} | {fmt_acc(r.top1, n)} | {r.minutes:.1f} | {sp_txt} | {predicted:.2f}x | {against} |" + via_txt)
    return lines, data


def copy_records(runs: dict[str, Run], out: Path) -> None:
    """The small files of every run, for the repository (no checkpoints, no weights)."""
    for r in runs.values():
        dst = out / r.name
        if dst.resolve() == r.path.resolve():  # reporting on the committed records themselves
            continue
        dst.mkdir(parents=True, exist_ok=True)
        for name in (RunDir.CONFIG, RunDir.METRICS_JSONL, RunDir.SUMMARY, COMPUTE_FILE):
            if (r.path / name).is_file():
                shutil.copy2(r.path / name, dst / name)


def provenance_table(runs: dict[str, Run]) -> list[str]:
    lines = ["| run | commit | sessions | load at start / end (1 min) | other busy cores | timing quotable |", "|---|---|---|---|---|---|"]
    for r in runs.values():
        s = r.summary.sessions
        loads = "; ".join(f"{(x.get('load_start') or ['?'])[0]} / {(x.get('load_end') or ['?'])[0]}" for x in s)
        other = r.other_cores
        lines.append(f"| {r.name} | {r.commit} | {len(s)} | {loads} | {other if other is not None else '?'} | {'yes' if r.timing_clean else 'no'} |")
    return lines


Section = tuple[list[str], dict[str, Any]]


ETPP_TARGET = 2.0  # issue 17: EfficientTrain++ at >= 2x less compute to the best control's accuracy


def target_word(low: float, high: float, target: float) -> str:
    """Whether a speedup's 90% interval clears ``target``: met, missed, or undecided when it straddles it."""
    return "met" if low >= target else ("missed" if high < target else "undecided (the interval includes it)")


def equal_compute_rows(control: list[Point], reference: Optional[Point], others: Sequence[tuple[str, Point]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Each schedule's top-1 against the control's fitted top-1 at the same compute and against ``reference``'s.

    Verdicts use the two-standard-error rule on the validation images (:func:`verdict`).
    """
    curve = fit.MonotoneCurve([p.compute for p in control], [p.acc for p in control])
    lo, hi = control[0].compute, control[-1].compute
    ref_txt = f"{reference.label} ({reference.compute / 1e15:.4f} PFLOP, {reference.acc:.2f})" if reference else "-"
    lines = [f"| schedule | compute (PFLOP) | top-1 (mean) | control's fit at that compute | against the control | against {ref_txt} |", "|---|---|---|---|---|---|"]
    rows = []
    for label, p in others:
        c_acc = float(curve(p.compute)) if lo <= p.compute <= hi else None
        vs_c = verdict(p.acc, c_acc, VAL_IMAGES) if c_acc is not None else "outside the control's range"
        vs_r = verdict(p.acc, reference.acc, VAL_IMAGES) if reference and p is not reference else "-"
        rows.append({"schedule": label, "pflop": p.compute / 1e15, "top1": p.acc, "control_fit_top1": c_acc, "versus_control": vs_c, "versus_reference": vs_r})
        c_txt = f"{c_acc:.2f}" if c_acc is not None else "-"
        lines.append(f"| {label} | {p.compute / 1e15:.4f} | {p.acc:.2f} | {c_txt} | {vs_c} | {vs_r} |")
    return lines, rows


@dataclass
class Schedules:
    """The schedules set against the control, and which of them are EfficientTrain tuned and as in the paper."""

    named: list[tuple[str, list[Point]]]
    paper: str  # EfficientTrain with the paper's ramp to m = 9
    tuned: Optional[str] = None  # EfficientTrain with its ramp ending at the tuned magnitude, where one was chosen
    magnitude: Optional[int] = None

    def efficienttrain(self) -> tuple[str, ...]:
        return (self.paper,) if self.tuned is None else (self.tuned, self.paper)

    def points(self, label: str) -> list[Point]:
        return dict(self.named).get(label, [])


LENGTH = r"(\d+(?:\.\d+)?)ep"
BUDGET = r"b(\d+(?:\.\d+)?)"
PEERS = (("peer-proglearn", "progressive learning (down-sampled, magnitude ramp)"), ("peer-composer", "Composer progressive resizing (the control's constant m)"))


def frontier_schedules(runs: dict[str, Run], magnitude: Optional[int]) -> Schedules:
    """EfficientTrain, EfficientTrain++ and the peers: at the tuned final magnitude where it is not the paper's m = 9, and as in the paper.

    The paper-recipe runs keep their old names (``et-8ep``, ``etpp-b4``, ``peer-proglearn-8ep``); the
    tuned ones carry the magnitude (``et-m3-8ep``, ``etpp-m3-b4``, ``peer-proglearn-m3-8ep``).
    Composer's resizing runs at a constant magnitude: the control's (``peer-composer``) and, where
    the tuned one differs, that one too.
    """
    m = magnitude if magnitude not in (None, 9) else None
    paper, tuned = "paper recipe: ramp to m = 9", f"ramp to m = {m}"
    specs = [(f"EfficientTrain ({paper})" if m else "EfficientTrain", "et", LENGTH), (f"EfficientTrain++ (budget; {paper})" if m else "EfficientTrain++ (budget)", "etpp", BUDGET)]
    if m:
        specs = [(f"EfficientTrain ({tuned})", f"et-m{m}", LENGTH), specs[0], (f"EfficientTrain++ (budget; {tuned})", f"etpp-m{m}", BUDGET), specs[1],
                 (f"progressive learning ({tuned})", f"peer-proglearn-m{m}", LENGTH)]  # fmt: skip
        if m != 3:
            specs.append((f"Composer progressive resizing (constant m = {m})", f"peer-composer-m{m}", LENGTH))
    specs += [(f"progressive learning ({paper})" if m and kind == "peer-proglearn" else label, kind, LENGTH) for kind, label in PEERS]
    named = [(label, pts) for label, kind, length in specs if (pts := frontier_points(runs, kind, length))]
    labels = dict(named)
    return Schedules(named, specs[1][0] if m else specs[0][0], specs[0][0] if m and specs[0][0] in labels else None, m)


def peer_section(control: list[Point], sched: Schedules, speedups: list[dict[str, Any]], epochs: int) -> Section:
    """EfficientTrain++ against its 2x target, and every schedule against the control and EfficientTrain at equal compute.

    The reference is EfficientTrain at ``epochs`` at the tuned magnitude where it ran, else the paper's
    recipe; of EfficientTrain's frontiers only the ``epochs`` points are set against it.
    """
    md: list[str] = []
    etpp = [r for r in speedups if r["run"].startswith("EfficientTrain++")]
    if etpp:
        md += [f"## EfficientTrain++ against the {ETPP_TARGET:g}x target", "", "| run | compute speedup (90% interval) | target |", "|---|---|---|"]
        md += [f"| {r['run']} | {r['speedup']:.2f}x ({r['interval'][0]:.2f}x-{r['interval'][1]:.2f}x) | {target_word(*r['interval'], ETPP_TARGET)} |" for r in etpp]
        md.append("")
    at_e = {label: next((p for p in sched.points(label) if p.length == epochs), None) for label in sched.efficienttrain()}
    reference = (at_e.get(sched.tuned) if sched.tuned else None) or at_e.get(sched.paper)
    others = [(f"{label}, {p.length:g}", p) for label, pts in sched.named for p in pts if label not in at_e or p is at_e[label]]
    lines, rows = equal_compute_rows(control, reference, others)
    md += ["## At equal compute: the peers, EfficientTrain++ and EfficientTrain", "", *lines, "",
           "Verdicts: tie when two top-1s differ by less than two standard errors of their difference on the validation images.", ""]  # fmt: skip
    md += crop_sentence(rows, sched, reference)
    return md, {"etpp_target": [{**r, "target": ETPP_TARGET, "verdict": target_word(*r["interval"], ETPP_TARGET)} for r in etpp], "equal_compute": rows}


def crop_sentence(rows: list[dict[str, Any]], sched: Schedules, reference: Optional[Point]) -> list[str]:
    """What the low-frequency crop buys over resizing with the augmentation equal: the tuned peers against the tuned EfficientTrain."""
    if sched.tuned is None or reference is None:
        return []
    peers = [r for r in rows if r["schedule"].startswith((f"progressive learning (ramp to m = {sched.magnitude})", "Composer")) and r["versus_reference"] != "-"]
    if not peers:
        return []
    said = "; ".join(f"{r['schedule']}: {r['top1']:.2f}%, {'a tie' if r['versus_reference'] == 'tie' else r['versus_reference']}" for r in peers)
    ties = all(r["versus_reference"] == "tie" for r in peers)
    verdict_text = "At this scale the crop buys nothing over resizing that these runs can show: no ranking among them." if ties else "Not all are ties: see the verdicts."
    return [f"Crop against resize at the same final magnitude (m = {sched.magnitude}), against {sched.tuned} at {reference.length:g} epochs "
            f"({reference.acc:.2f}%): {said}. {verdict_text}", ""]  # fmt: skip


def bound_word(how: str) -> str:
    """The prefix of a speedup that is only a bound: the top-1 lay below or above the control's points."""
    return {"below": "<= ", "above": ">= "}.get(how, "")


def _bound(row: dict[str, Any]) -> str:
    return bound_word(row["how"])


def _speedup_cells(row: Optional[dict[str, Any]], points: list[Point], n: float, wall: bool) -> list[str]:
    """top-1 (seeds), compute speedup (interval) and, with ``wall``, the wall time through rho, of one headline cell group."""
    if row is None:
        return ["not run", "-"] + (["-"] if wall else [])
    seeds = next((len(p.accs) for p in points if p.length == n), 0)
    single = "; 1 seed: the interval misses the seeds' spread" if seeds < 2 else ""
    cells = [f"{row['top1']:.2f} ({seeds})", f"**{_bound(row)}{row['speedup']:.2f}x** ({row['interval'][0]:.2f}x-{row['interval'][1]:.2f}x{single})"]
    if wall:
        cells.append(f"{_bound(row)}{row['wall_speedup']:.2f}x" if row["wall_speedup"] else "rho not measured")
    return cells


def headline_section(control_label: str, sched: Schedules, speedups: list[dict[str, Any]], controls: dict[str, Any], epochs: int) -> Section:
    """EfficientTrain's compute speedup at the tuned magnitude (the headline) beside the paper recipe's, length by length."""
    if sched.tuned is None:
        return [], {}
    by = {r["run"]: r for r in speedups}
    lengths = sorted({p.length for label in sched.efficienttrain() for p in sched.points(label)})
    lines = [f"| epochs | {sched.tuned}: top-1 (seeds) | compute speedup (90% interval) | wall time (x rho) | paper recipe: top-1 (seeds) | compute speedup (90% interval) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    rows = []
    for n in lengths:
        t, p = by.get(f"{sched.tuned}, {n:g}"), by.get(f"{sched.paper}, {n:g}")
        rows.append({"epochs": n, "tuned": t, "paper": p})
        lines.append("| " + " | ".join([f"{n:g}", *_speedup_cells(t, sched.points(sched.tuned), n, True), *_speedup_cells(p, sched.points(sched.paper), n, False)]) + " |")
    md = ["## Headline: EfficientTrain tuned like its control, beside the paper's recipe", "", *lines, ""]
    t, p = by.get(f"{sched.tuned}, {epochs}"), by.get(f"{sched.paper}, {epochs}")
    if t:
        wall = f" and {_bound(t)}{t['wall_speedup']:.2f}x less wall time (rho {t['rho']:.3f})" if t["wall_speedup"] else " (its rho is not measured: no wall-time figure)"
        paper = f"; the paper's recipe: {_bound(p)}{p['speedup']:.2f}x ({p['interval'][0]:.2f}x-{p['interval'][1]:.2f}x)." if p else "."
        md += [f"**At {epochs} epochs, {sched.tuned} reached the accuracy of the {control_label} control with {_bound(t)}{t['speedup']:.2f}x less training compute "
               f"(90% interval {t['interval'][0]:.2f}x-{t['interval'][1]:.2f}x){wall}**{paper}", "", why_they_differ(controls, sched.magnitude, epochs), ""]  # fmt: skip
    return md, {"headline": {"magnitude": sched.magnitude, "rows": rows}}


def why_they_differ(controls: dict[str, Any], magnitude: Optional[int], epochs: int) -> str:
    """One sentence on why the tuned and the paper-recipe frontiers differ, with the controls' own numbers."""
    tuned, nine = controls.get(f"const-m{magnitude}"), controls.get("const-m9")
    said = (f" at {epochs} epochs the control itself scores {tuned['mean']:.2f}% at constant m = {magnitude} and {nine['mean']:.2f}% at m = 9, so"
            if tuned and nine else "")
    return (f"Why the two differ: only in the magnitude the RandAugment ramp ends at. The paper's m = 9 was tuned for 300 ImageNet epochs;{said} "
            "a ramp ending at m = 9 spends its last stage on augmentation this short a run cannot use, and the frontier turns the lost "
            "accuracy into compute. The paper's own rule is that the ramp ends at the baseline's magnitude.")


def frontier_section(runs: dict[str, Run], epochs: int, figs: Path, rho: dict[str, float]) -> Section:
    """The controls, the headline, the compute frontier against the best of them, the speedups, EfficientTrain++ and the peers."""
    lines, controls = controls_table(runs, epochs)
    md = [f"## Controls at the main setting ({epochs} epochs)", "", *lines, ""]
    result: dict[str, Any] = {"controls": controls}
    best = controls.get("best", "ramp")
    control = frontier_points(runs, best)
    sched = frontier_schedules(runs, chosen_magnitude(runs, epochs))
    if len(control) < 2 or not sched.named:
        return md, result
    frontier_lines, rows = frontier_table([(CONTROL_LABELS[best], control), *sched.named])
    lines, sp = speedup_rows(control, [(f"{label}, {p.length:g}", p) for label, pts in sched.named for p in pts], rho)
    head_md, head = headline_section(CONTROL_LABELS[best], sched, sp, controls, epochs)
    md += [*head_md, "## Frontier: top-1 against training compute", "", *frontier_lines, "", "## Compute and time to the same accuracy", "", *lines, "",
           "The control's frontier is a monotone cubic (PCHIP) in log-compute through its mean top-1 at each length (made non-decreasing first); "
           "the linear fit joins its points with straight lines in compute. The interval resamples the seeds of every point "
           "(4,000 resamples). The validation images are the same in every run, so their own sampling error (SE above) is not in it. "
           "A wall-time speedup is the compute speedup times rho, the control's seconds per FLOP over the schedule's, measured in "
           "interleaved rounds (benchmarks/results/step_time*.md, each schedule against the control timed in the same rounds); the last column is the wall-time ratio measured directly, from only the runs that ran alone on each side (their seeds can differ).", ""]  # fmt: skip
    result.update(head, frontier=rows, speedups=sp)
    peer_md, peer = peer_section(control, sched, sp, epochs)
    md += peer_md
    result.update(peer)
    dashed = f"\n(solid: the RandAugment ramp ends at m = {sched.magnitude}; dashed: at the paper's m = 9)" if sched.tuned else ""
    plot_frontier(control, sched.named, CONTROL_LABELS[best], figs / "frontier.png", "resnet10t at 112 px, Imagenette-dev: top-1 against training compute" + dashed)
    return md, result


def _pair_specs(runs: dict[str, Run], e: int, lengths: dict[str, list[float]]) -> list[tuple[str, str, list[tuple[str, str]], Any]]:
    """(key, title, [(run, label)], reference) of every pair-style section (``lengths``: :func:`run_lengths`)."""
    def arch(prefix: str, n: int = e) -> list[tuple[str, str]]:
        return [(f"{prefix}-{k}-{n}ep-s{s}", f"{label}, seed {s}") for k, label in (("ramp", "ramp baseline"), ("et", "EfficientTrain")) for s in (0, 1, 2)]

    same_seed_ramp = lambda n: n.replace("-et-", "-ramp-")  # noqa: E731
    et0 = f"et-{e}ep-s0"
    return [
        ("ramp_pairs", f"Equal epochs against the ramp baseline ({e} epochs, seed-matched pairs)",
         [(f"ramp-{e}ep-s{s}", f"ramp baseline, seed {s}") for s in (0, 1, 2)] + [(f"et-{e}ep-s{s}", f"EfficientTrain, seed {s}") for s in (0, 1, 2)],
         lambda n: n.replace("et-", "ramp-", 1) if n.startswith("et-") else n),
        ("vit", "ViT pair (deit_tiny_patch16_224 at 112 px, sizes multiples of 16)", arch("vit"), same_seed_ramp),
        *[(f"vit_small_{n}ep", f"ViT pair (--preset vit-small at 112 px, {n} epochs)", arch("vit-small", n), same_seed_ramp) for n in lengths["vit-small"]],
        ("convnext", "ConvNeXt pair (convnext_atto at 112 px)", arch("convnext"), same_seed_ramp),
        ("growth", f"Larger early batches (--batch-growth 4, {e} epochs; against EfficientTrain of the same seed)",
         [(f"et-{e}ep-s{s}", f"EfficientTrain, seed {s}") for s in (0, 1)] + [(f"et-growth4-{e}ep-s{s}", f"--batch-growth 4, seed {s}") for s in (0, 1)],
         lambda n: n.replace("et-growth4-", "et-")),
        *[(f"vit_small_growth_{n}ep", f"Larger early batches on the vit-small's EfficientTrain (fp32, {n} epochs; against the same seed without)",
           [(f"vit-small-et{g}-fp32-{n}ep-s{s}", f"{'--batch-growth 4' if g else 'EfficientTrain'}, seed {s}") for g in ("", "-growth4") for s in (0, 1)],
           lambda name: name.replace("-growth4-", "-")) for n in lengths["growth-vit"]],
        ("ablations", "Ablations (one seed)", [(et0, "EfficientTrain")] + [(n, n.replace("ablation-", "")) for n in runs if n.startswith("ablation-")], et0),
        ("loader", "Loader paths (one seed; against EfficientTrain seed 0)", [(et0, "EfficientTrain (standard order)"), (f"loader-augment-at-size-{e}ep-s0", "augment at B"), (f"loader-replay2-{e}ep-s0", "replay 2")], et0),
        ("decode", "Reduced-scale decode (full-size JPEGs decoded every step)", [(f"decode-full-et-{e}ep-s0", "full decode"), (f"decode-reduced-et-{e}ep-s0", "reduced decode")], f"decode-full-et-{e}ep-s0"),
        *[(f"mae_{n}ep", f"MAE pretraining, {n} epochs (k-NN top-1 of frozen features)", [(f"mae-base-{n}ep", "MAE"), (f"mae-et-{n}ep", "MAE + EfficientTrain")], f"mae-base-{n}ep")
          for n in lengths["mae"]],
        *[(f"mae_finetune_{n}ep", f"MAE encoders and from scratch, fine-tuned for {n} epochs with one recipe",
           [(f"mae-finetune-{src}-{n}ep-s{s}", f"from {label}, seed {s}") for s in (0, 1) for src, label in (("base", "MAE"), ("et", "MAE + EfficientTrain"), ("scratch", "scratch"))],
           lambda name: re.sub(r"-(et|scratch)-", "-base-", name)) for n in lengths["mae-finetune"]],
        ("cifar", "CIFAR-10 at 64 px", [(f"cifar-ramp-{e}ep-s0", "ramp baseline"), (f"cifar-et-{e}ep-s0", "EfficientTrain")], f"cifar-ramp-{e}ep-s0"),
        ("transfer", "Transfer to a CIFAR-10 subset (5 epochs at 64 px, 10,000 test images; against the control's checkpoint of the same seed)",
         [(f"transfer-{src}-s{s}", f"from {label}, seed {s}") for s in (1, 2) for src, label in TRANSFER_SOURCES],
         lambda n: re.sub(r"-(et-12ep|scratch)-", "-const-m3-12ep-", n)),
        ("transfer_first_round", "Transfer, first round (8-epoch seed-0 checkpoints, the from-scratch recipe, the Imagenette head kept)",
         [("transfer-ramp-s0", "from the ramp baseline, seed 0"), ("transfer-et-s0", "from EfficientTrain, seed 0")], "transfer-ramp-s0"),
    ]


# The patterns of the run families whose length varies, and the run that must exist beside each.
LENGTH_PATTERNS = {
    "mae": (r"mae-base-(\d+(?:\.\d+)?)ep", "mae-et-{n}ep"),
    "mae-finetune": (r"mae-finetune-base-(\d+(?:\.\d+)?)ep-s0", "mae-finetune-scratch-{n}ep-s0"),
    "vit-small": (r"vit-small-ramp-(\d+(?:\.\d+)?)ep-s0", "vit-small-et-{n}ep-s0"),
    "vit-pilot": (r"vit-pilot-lr[0-9.e-]+-(\d+(?:\.\d+)?)ep", None),
    "growth-vit": (r"vit-small-et-fp32-(\d+(?:\.\d+)?)ep-s0", "vit-small-et-growth4-fp32-{n}ep-s0"),
}
TRANSFER_SOURCES = (("const-m3-12ep", "the constant-m3 control (12 epochs)"), ("et-12ep", "EfficientTrain (12 epochs)"), ("scratch", "scratch"))
PILOT_VAL_IMAGES = 800  # benchmarks/make_subset.py --holdout 80: 80 training images of each of 10 classes


def run_lengths(runs: dict[str, Run]) -> dict[str, list[float]]:
    """Each length-varying family's lengths (:data:`LENGTH_PATTERNS`) found with the run it pairs with."""
    out: dict[str, list[float]] = {}
    for family, (pattern, partner) in LENGTH_PATTERNS.items():
        found = {m.group(1) for m in (re.fullmatch(pattern, n) for n in runs) if m}
        out[family] = sorted((float(n) if "." in n else int(n)) for n in found if partner is None or partner.format(n=n) in runs)
    return out


def pilot_spec(runs: dict[str, Run], n: float) -> tuple[str, str, list[tuple[str, str]], Any]:
    """The ViT lr pilot at ``n`` epochs, against the lr the ``vit-small`` preset ships."""
    from efficienttrain.runner.config import PRESETS

    pattern = LENGTH_PATTERNS["vit-pilot"][0]
    rows = sorted((name, f"lr {runs[name].summary.config['lr']:g}") for name in runs if (m := re.fullmatch(pattern, name)) and m.group(1) == str(n))
    return (f"vit_pilot_{n}ep", f"ViT lr pilot ({n} epochs, ramp control, scored on {PILOT_VAL_IMAGES} held-out training images)",
            rows, f"vit-pilot-lr{PRESETS['vit-small']['lr']:g}-{n}ep")  # fmt: skip


def pair_sections(runs: dict[str, Run], epochs: int, figs: Path, rho: Optional[dict[str, float]] = None) -> Section:
    """The ViT/ConvNeXt pairs, ablations, loader paths, MAE (every length found) and transfer: whichever have runs.

    ``rho`` (benchmarks/step_time.py's results) adds the wall-time speedup through rho to the pairs whose schedules were timed.
    """
    md: list[str] = []
    result: dict[str, Any] = {}
    lengths = run_lengths(runs)
    specs = [pilot_spec(runs, n) for n in lengths["vit-pilot"]] + _pair_specs(runs, epochs, lengths)
    for key, title, rows, ref in specs:
        present = [n for n, _ in rows if n in runs]
        if len(present) >= 2 and (callable(ref) or any(n != ref for n in present)):
            n_val = 10000 if key.startswith(("cifar", "transfer")) else PILOT_VAL_IMAGES if key.startswith("vit_pilot") else VAL_IMAGES
            tokens = key == "vit" or key.startswith(("vit_small", "vit_pilot")) or key.startswith("mae_") and not key.startswith("mae_finetune")
            lines, data = pair_table(runs, rows, ref, n_val, tokens=tokens, rho=rho)
            md += [f"## {title}", "", *lines, ""]
            result[key] = data
    for mae_epochs in lengths["mae"][-1:]:  # the figure shows the longest pretraining
        mae = [runs[f"mae-base-{mae_epochs}ep"], runs[f"mae-et-{mae_epochs}ep"]]
        plot_runs([r.path for r in mae], figs / "mae_knn.png", labels=[f"MAE ({mae[0].minutes:.1f} min)", f"MAE + EfficientTrain ({mae[1].minutes:.1f} min)"],
                  title=f"MAE, {mae[0].summary.config.get('model_kwargs', {}).get('depth', 12)}-block ViT, patch 8 at 112 px, {mae_epochs} epochs: k-NN top-1 of frozen features")  # fmt: skip
    return md, result


def step_time_paths(given: Optional[Sequence[str]]) -> list[Path]:
    """The step-time results to read: those given, else every one in benchmarks/results."""
    if given:
        return [Path(p) for p in given]
    return sorted(RESULTS.glob("step_time*.json"), key=lambda p: (p.name != "step_time.json", p.name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/evidence")
    parser.add_argument("--epochs", type=int, default=8, help="E, the main length")
    parser.add_argument("--step-time", nargs="+", default=None, help="benchmarks/step_time.py's results (rho); default: every benchmarks/results/step_time*.json, step_time.json first")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--figures", default=str(ROOT / "docs" / "figures"))
    args = parser.parse_args()
    runs = load_runs(Path(args.runs))
    out, figs = Path(args.out), Path(args.figures)
    md: list[str] = [f"Validation split: {VAL_IMAGES} images (one image = {100 / VAL_IMAGES:.2f} points). ± after a single top-1 is its binomial "
                     "standard error; after a mean, half the range over seeds. A difference under two standard errors is a tie.", ""]  # fmt: skip
    result: dict[str, Any] = {}
    rho = load_rho(step_time_paths(args.step_time))
    for section_md, section in (frontier_section(runs, args.epochs, figs, rho), magnitude_section(runs, args.epochs), pair_sections(runs, args.epochs, figs, rho)):
        md += section_md
        result.update(section)
    md += ["## Provenance of every run", "", *provenance_table(runs), ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / "evidence.md").write_text("\n".join(md))
    (out / "evidence.json").write_text(json.dumps(result, indent=2))
    copy_records(runs, out / "runs")
    print("\n".join(md))
    print(f"wrote evidence.md, evidence.json and {len(runs)} run records under {args.out}, figures under {args.figures}")


if __name__ == "__main__":
    main()
