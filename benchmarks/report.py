"""Summarise the evidence runs of benchmarks/experiments.py: tables, the frontier figure, the run records.

Reads every run directory under ``--runs`` through :mod:`efficienttrain.rundir` and writes

* ``benchmarks/results/evidence.md`` and ``evidence.json``: the tables docs/results.md quotes, with
  the binomial standard error of every top-1 and the seeds' spread of every mean;
* ``docs/figures/frontier.png``: top-1 against training time for the best baseline and EfficientTrain
  (one point per length, error bars over seeds);
* ``benchmarks/results/runs/<run>/``: the small record of every run (``config.yaml``,
  ``metrics.jsonl``, ``summary.json``; no checkpoints), so that every quoted number traces to one.

Usage::

    python benchmarks/report.py --runs runs/evidence
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
from efficienttrain.rundir import RunDir, Summary

ROOT = Path(__file__).resolve().parent.parent
CONTROL_LABELS = {"ramp": "ramp baseline (no crop, RandAugment ramp)", "const-m3": "constant m=3", "const-m6": "constant m=6", "const-m9": "constant m=9 (paper's baseline)"}
SHARED_CORES = 0.3  # other_busy_cores above this: the run shared the machine, its time is not quoted


@dataclass
class Run:
    """One finished run: its summary, history and record directory."""

    name: str
    summary: Summary
    history: list[dict[str, Any]]
    path: Path

    @property
    def top1(self) -> float:
        return float(self.summary.final_top1)

    @property
    def minutes(self) -> float:
        return self.summary.train_time_s / 60.0

    @property
    def other_cores(self) -> Optional[float]:
        values = [s.get("other_busy_cores") for s in self.summary.sessions]
        return max(v for v in values if v is not None) if any(v is not None for v in values) else None

    @property
    def timing_clean(self) -> bool:
        """One session, nothing else busy on the machine: its time may be quoted."""
        other = self.other_cores
        return len(self.summary.sessions) == 1 and other is not None and other <= SHARED_CORES

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
        "| baseline (no crop) | seeds | top-1 per seed (± SE) | mean ± half-range | training time (min) |",
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
        lines.append(f"| {label} | {len(rs)} | {', '.join(fmt_acc(a, VAL_IMAGES) for a in accs)} | **{fmt_mean(accs)}** | {statistics.fmean(r.minutes for r in rs):.1f} |")
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


# -- step 2: the frontier ------------------------------------------------------------------------
@dataclass
class Point:
    """One length of one curriculum, over seeds."""

    label: str
    epochs: float
    accs: list[float]
    minutes: list[float]

    @property
    def acc(self) -> float:
        return statistics.fmean(self.accs)

    @property
    def time(self) -> float:
        return statistics.fmean(self.minutes)


def frontier_points(runs: dict[str, Run], kind: str) -> list[Point]:
    points = []
    for name in sorted({re.sub(r"-s\d+$", "", n) for n in runs if n.startswith(f"{kind}-") and n.endswith(tuple(f"-s{i}" for i in range(10)))}):
        m = re.fullmatch(re.escape(kind) + r"-(\d+(?:\.\d+)?)ep", name)
        if not m:
            continue
        rs = group(runs, name)
        points.append(Point(name, float(m.group(1)), [r.top1 for r in rs], [r.minutes for r in rs]))
    return sorted(points, key=lambda p: p.epochs)


def time_to_reach(frontier: Sequence[Point], acc: float) -> tuple[Optional[float], str]:
    """Training minutes the frontier needs to reach ``acc`` (linear between its points).

    Returns ``(minutes, how)``: how is ``interpolated``, ``below`` (its shortest run already does
    better: the time is an upper bound) or ``above`` (even its longest run does not reach it: no
    number, only a lower bound on the speedup).
    """
    pts = sorted(frontier, key=lambda p: p.time)
    if acc <= pts[0].acc:
        return pts[0].time, "below"
    for a, b in zip(pts, pts[1:]):
        if a.acc <= acc <= b.acc or b.acc <= acc <= a.acc:
            if b.acc == a.acc:
                return a.time, "interpolated"
            return a.time + (acc - a.acc) * (b.time - a.time) / (b.acc - a.acc), "interpolated"
    if acc > max(p.acc for p in pts):
        return None, "above"
    return pts[-1].time, "interpolated"


def frontier_table(base: list[Point], et: list[Point], base_label: str) -> tuple[list[str], list[dict[str, Any]]]:
    lines = ["| curriculum | epochs | seeds | top-1 per seed | mean ± half-range (SE) | training time (min, mean) |", "|---|---|---|---|---|---|"]
    rows = []
    for label, pts in ((base_label, base), ("EfficientTrain", et)):
        for p in pts:
            m, h = mean_spread(p.accs)
            rows.append({"curriculum": label, "epochs": p.epochs, "top1": p.accs, "mean": m, "half_range": h, "se": se(m, VAL_IMAGES), "minutes": p.minutes})
            lines.append(f"| {label} | {p.epochs:g} | {len(p.accs)} | {', '.join(f'{a:.2f}' for a in p.accs)} | {fmt_mean(p.accs)} (SE {se(m, VAL_IMAGES):.2f}) | {p.time:.1f} |")
    return lines, rows


def speedups(base: list[Point], et: list[Point]) -> tuple[list[str], list[dict[str, Any]]]:
    """Time the baseline frontier needs to reach each EfficientTrain point's accuracy, over ET's time."""
    lines = ["| EfficientTrain | its top-1 | its time (min) | baseline time to that top-1 (min) | speedup | range over ET seeds |", "|---|---|---|---|---|---|"]
    rows = []
    for p in et:
        t_b, how = time_to_reach(base, p.acc)
        per_seed = []
        for a, t in zip(p.accs, p.minutes):
            tb, h = time_to_reach(base, a)
            per_seed.append((tb / t if tb is not None else None, h))
        sp = t_b / p.time if t_b is not None else None
        rng = [s for s, _ in per_seed if s is not None]
        note = {"below": " (baseline's shortest run is already better: an upper bound)", "above": " (beyond the baseline's longest run)"}.get(how, "")
        sp_txt = f"**{sp:.2f}x**" if sp is not None else f"> {max(q.time for q in base) / p.time:.2f}x"
        rng_txt = f"{min(rng):.2f}-{max(rng):.2f}x" if len(rng) > 1 else "(1 seed)"
        lines.append(f"| {p.epochs:g} epochs | {p.acc:.2f} | {p.time:.1f} | {t_b if t_b is None else round(t_b, 1)}{note} | {sp_txt} | {rng_txt} |")
        rows.append({"epochs": p.epochs, "top1": p.acc, "minutes": p.time, "baseline_minutes": t_b, "how": how, "speedup": sp, "per_seed": [s for s, _ in per_seed]})
    return lines, rows


def plot_frontier(base: list[Point], et: list[Point], base_label: str, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    for i, (label, pts) in enumerate(((base_label, base), ("EfficientTrain", et))):
        xs = [p.time for p in pts]
        ys = [p.acc for p in pts]
        yerr = [mean_spread(p.accs)[1] for p in pts]
        xerr = [mean_spread(p.minutes)[1] for p in pts]
        ax.errorbar(xs, ys, yerr=yerr, xerr=xerr, marker="o", capsize=3, color=f"C{i}", label=label)
        for p in pts:
            ax.annotate(f"{p.epochs:g} ep", (p.time, p.acc), textcoords="offset points", xytext=(5, -12), fontsize=8, color=f"C{i}")
    ax.set_xlabel("training wall time (minutes, 2 CPU cores)")
    ax.set_ylabel("final validation top-1 (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


# -- pairs: ViT, ConvNeXt, CIFAR, ablations, loader, MAE, transfer --------------------------------
def token_prediction(run: Run) -> Optional[float]:
    """The token-cost model's speedup for a ViT or MAE run (``None`` for other models)."""
    from efficienttrain.cost import curriculum_cost, mae_token_cost_for_model, token_cost_for_model
    from efficienttrain.curricula import Curriculum
    from efficienttrain.models import create_model

    cfg = run.summary.config
    extra = {"patch_size": cfg["patch_size"]} if cfg.get("patch_size") else {}
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


def pair_table(
    runs: dict[str, Run], rows: Sequence[tuple[str, str]], reference: Union[str, Callable[[str], str]], n: int = VAL_IMAGES, tokens: bool = False
) -> tuple[list[str], list[dict[str, Any]]]:
    """One line per run: top-1 ± SE, time, speedup against its reference (quoted only when both timings are clean).

    ``reference`` is a run name, or a function from a run's name to its reference's (seed-matched pairs).
    """
    theory = "theoretical (tokens)" if tokens else "theoretical (pixels)"
    lines = [f"| run | top-1 (± SE) | training time (min) | speedup vs reference | {theory} | against the reference |", "|---|---|---|---|---|---|"]
    data = []
    for name, label in rows:
        r = runs.get(name)
        if r is None:
            continue
        ref = runs.get(reference(name) if callable(reference) else reference)
        clean = r.timing_clean and (ref is None or ref.timing_clean)
        sp = ref.summary.train_time_s / r.summary.train_time_s if ref and clean else None
        against = verdict(r.top1, ref.top1, n) if ref and r is not ref else "-"
        predicted = token_prediction(r) if tokens else r.summary.theoretical_speedup
        data.append({"run": name, "label": label, "top1": r.top1, "se": se(r.top1, n), "minutes": r.minutes, "speedup": sp, "predicted": predicted,
                     "versus_reference": against, "timing_clean": r.timing_clean})  # fmt: skip
        sp_txt = f"{sp:.2f}x" if sp is not None else ("-" if r is ref else "not quoted (shared machine)")
        lines.append(f"| {label} | {fmt_acc(r.top1, n)} | {r.minutes:.1f} | {sp_txt} | {predicted:.2f}x | {against} |")
    return lines, data


def copy_records(runs: dict[str, Run], out: Path) -> None:
    """The small files of every run, for the repository (no checkpoints, no weights)."""
    for r in runs.values():
        dst = out / r.name
        dst.mkdir(parents=True, exist_ok=True)
        for name in (RunDir.CONFIG, RunDir.METRICS_JSONL, RunDir.SUMMARY):
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


def frontier_section(runs: dict[str, Run], epochs: int, figs: Path) -> Section:
    """Steps 1 and 2: the controls, the frontier against the best of them, the time-to-accuracy speedup."""
    lines, controls = controls_table(runs, epochs)
    md = [f"## Controls at the main setting ({epochs} epochs)", "", *lines, ""]
    result: dict[str, Any] = {"controls": controls}
    best = controls.get("best", "ramp")
    base_pts, et_pts = frontier_points(runs, best), frontier_points(runs, "et")
    if base_pts and et_pts:
        lines, rows = frontier_table(base_pts, et_pts, CONTROL_LABELS[best])
        md += ["## Frontier: top-1 against training time", "", *lines, ""]
        lines, sp = speedups(base_pts, et_pts)
        md += ["## Time to the same accuracy", "", *lines, "",
               "The baseline's time is interpolated linearly between its frontier points. A frontier that bends (gains "
               "shrinking with time) lies above that chord, so the chord overstates the baseline's time and the speedup "
               "a little; the per-seed range shows how much the noise alone moves it.", ""]  # fmt: skip
        result.update(frontier=rows, speedups=sp)
        plot_frontier(base_pts, et_pts, CONTROL_LABELS[best], figs / "frontier.png", "resnet10t at 112 px, Imagenette-dev: top-1 against training time")
    return md, result


def _pair_specs(runs: dict[str, Run], e: int, mae_e: int) -> list[tuple[str, str, list[tuple[str, str]], Any]]:
    """(key, title, [(run, label)], reference) of every pair-style section."""
    def arch(prefix: str) -> list[tuple[str, str]]:
        return [(f"{prefix}-{k}-{e}ep-s{s}", f"{label}, seed {s}") for k, label in (("ramp", "ramp baseline"), ("et", "EfficientTrain")) for s in (0, 1)]

    same_seed_ramp = lambda n: n.replace("-et-", "-ramp-")  # noqa: E731
    et0 = f"et-{e}ep-s0"
    return [
        ("ramp_pairs", f"Equal epochs against the ramp baseline ({e} epochs, seed-matched pairs)",
         [(f"ramp-{e}ep-s{s}", f"ramp baseline, seed {s}") for s in (0, 1, 2)] + [(f"et-{e}ep-s{s}", f"EfficientTrain, seed {s}") for s in (0, 1, 2)],
         lambda n: n.replace("et-", "ramp-", 1) if n.startswith("et-") else n),
        ("vit", "ViT pair (deit_tiny_patch16_224 at 112 px, sizes multiples of 16)", arch("vit"), same_seed_ramp),
        ("convnext", "ConvNeXt pair (convnext_atto at 112 px)", arch("convnext"), same_seed_ramp),
        ("ablations", "Ablations (one seed)", [(et0, "EfficientTrain")] + [(n, n.replace("ablation-", "")) for n in runs if n.startswith("ablation-")], et0),
        ("loader", "Loader paths (one seed; against EfficientTrain seed 0)", [(et0, "EfficientTrain (standard order)"), (f"loader-augment-at-size-{e}ep-s0", "augment at B"), (f"loader-replay2-{e}ep-s0", "replay 2")], et0),
        ("decode", "Reduced-scale decode (full-size JPEGs decoded every step)", [(f"decode-full-et-{e}ep-s0", "full decode"), (f"decode-reduced-et-{e}ep-s0", "reduced decode")], f"decode-full-et-{e}ep-s0"),
        ("mae", f"MAE pretraining, {mae_e} epochs (k-NN top-1 of frozen features)", [(f"mae-base-{mae_e}ep", "MAE"), (f"mae-et-{mae_e}ep", "MAE + EfficientTrain")], f"mae-base-{mae_e}ep"),
        ("mae_finetune", "MAE encoders fine-tuned (3 epochs, same recipe)", [(f"mae-finetune-{src}-s{s}", f"from {src}, seed {s}") for s in (0, 1) for src in ("base", "et", "scratch")], lambda n: re.sub(r"-(et|scratch)-", "-base-", n)),
        ("cifar", "CIFAR-10 at 64 px", [(f"cifar-ramp-{e}ep-s0", "ramp baseline"), (f"cifar-et-{e}ep-s0", "EfficientTrain")], f"cifar-ramp-{e}ep-s0"),
        ("transfer", "Transfer to a CIFAR-10 subset (5 epochs at 64 px, 10,000 test images)", [(f"transfer-{src}-s{s}", f"from {src}, seed {s}") for s in (0, 1) for src in ("ramp", "et", "scratch")], lambda n: re.sub(r"-(et|scratch)-", "-ramp-", n)),
    ]


def pair_sections(runs: dict[str, Run], epochs: int, mae_epochs: int, figs: Path) -> Section:
    """The ViT/ConvNeXt pairs, ablations, loader paths, MAE and transfer: whichever have runs."""
    md: list[str] = []
    result: dict[str, Any] = {}
    for key, title, rows, ref in _pair_specs(runs, epochs, mae_epochs):
        present = [n for n, _ in rows if n in runs]
        if len(present) >= 2 and (callable(ref) or any(n != ref for n in present)):
            n_val = 10000 if key in ("cifar", "transfer") else VAL_IMAGES
            lines, data = pair_table(runs, rows, ref, n_val, tokens=key in ("vit", "mae"))
            md += [f"## {title}", "", *lines, ""]
            result[key] = data
    mae = [runs[n] for n in (f"mae-base-{mae_epochs}ep", f"mae-et-{mae_epochs}ep") if n in runs]
    if len(mae) == 2:
        plot_runs([r.path for r in mae], figs / "mae_knn.png", labels=[f"MAE ({mae[0].minutes:.1f} min)", f"MAE + EfficientTrain ({mae[1].minutes:.1f} min)"],
                  title=f"MAE, ViT-Tiny patch 8 at 112 px, {mae_epochs} epochs: k-NN top-1 of frozen features")  # fmt: skip
    return md, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/evidence")
    parser.add_argument("--epochs", type=int, default=8, help="E, the main length")
    parser.add_argument("--mae-epochs", type=int, default=8, help="the MAE pretraining runs' length")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--figures", default=str(ROOT / "docs" / "figures"))
    args = parser.parse_args()
    runs = load_runs(Path(args.runs))
    out, figs = Path(args.out), Path(args.figures)
    md: list[str] = [f"Validation split: {VAL_IMAGES} images (one image = {100 / VAL_IMAGES:.2f} points). ± after a single top-1 is its binomial "
                     "standard error; after a mean, half the range over seeds. A difference under two standard errors is a tie.", ""]  # fmt: skip
    result: dict[str, Any] = {}
    for section_md, section in (frontier_section(runs, args.epochs, figs), pair_sections(runs, args.epochs, args.mae_epochs, figs)):
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
