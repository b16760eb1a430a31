"""Summarise the evidence runs of benchmarks/experiments.py into tables and figures.

Reads every run directory under ``--runs`` (their ``summary.json`` and ``metrics.jsonl``) and writes

* ``benchmarks/results/evidence.json`` and ``evidence.md``: the tables quoted by docs/results.md;
* ``docs/figures/accuracy_vs_time.png``: top-1 against training wall time (paper Fig. 7);
* ``docs/figures/ablations_vs_time.png``: the same for the ablations;
* ``docs/figures/stage_examples.png``: validation images at each stage's size (paper Fig. 5),
  when ``--data`` points to an ImageFolder.

Usage::

    python benchmarks/report.py --runs runs/evidence --data ../shared/data/imagenette-dev
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent


def load_runs(root: Path) -> dict[str, dict[str, Any]]:
    runs = {}
    for d in sorted(root.iterdir()):
        s = d / "summary.json"
        if d.is_dir() and s.is_file():
            summary = json.loads(s.read_text())
            history = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines() if line.strip()]
            runs[d.name] = {"summary": summary, "history": history, "dir": d}
    return runs


def _mean_spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {(max(values) - min(values)) / 2:.2f}"


def main_table(runs: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    seeds = sorted({int(n.rsplit("-s", 1)[1]) for n in runs if n.startswith(("baseline-s", "efficienttrain-s"))})
    data: dict[str, Any] = {"seeds": seeds, "pairs": []}
    base_acc, et_acc, speedups = [], [], []
    for s in seeds:
        b, e = runs.get(f"baseline-s{s}"), runs.get(f"efficienttrain-s{s}")
        if not (b and e and b["summary"]["completed"] and e["summary"]["completed"]):
            continue
        bs, es = b["summary"], e["summary"]
        sp = bs["train_time_s"] / es["train_time_s"]
        base_acc.append(bs["final_top1"])
        et_acc.append(es["final_top1"])
        speedups.append(sp)
        data["pairs"].append(
            {"seed": s, "baseline_top1": bs["final_top1"], "efficienttrain_top1": es["final_top1"], "baseline_time_s": bs["train_time_s"],
             "efficienttrain_time_s": es["train_time_s"], "speedup": sp, "theoretical_speedup": es["theoretical_speedup"]}
        )
    lines = [
        "| run | seed | top-1 (%) | training wall time | measured speedup | theoretical (pixels) |",
        "|---|---|---|---|---|---|",
    ]
    for p in data["pairs"]:
        lines.append(f"| baseline | {p['seed']} | {p['baseline_top1']:.2f} | {p['baseline_time_s'] / 60:.1f} min | 1.00x | 1.00x |")
        lines.append(f"| EfficientTrain | {p['seed']} | {p['efficienttrain_top1']:.2f} | {p['efficienttrain_time_s'] / 60:.1f} min | {p['speedup']:.2f}x | {p['theoretical_speedup']:.2f}x |")
    if data["pairs"]:
        lines.append(f"| **baseline, mean ± half-range** | | **{_mean_spread(base_acc)}** | | | |")
        lines.append(
            f"| **EfficientTrain, mean ± half-range** | | **{_mean_spread(et_acc)}** | | **{_mean_spread(speedups)}x** | {data['pairs'][0]['theoretical_speedup']:.2f}x |"
        )
        data.update(
            {"baseline_top1_mean": statistics.fmean(base_acc), "efficienttrain_top1_mean": statistics.fmean(et_acc), "speedup_mean": statistics.fmean(speedups)}
        )
    return lines, data


def other_table(runs: dict[str, dict[str, Any]], names: list[tuple[str, str]], reference: str) -> tuple[list[str], list[dict[str, Any]]]:
    ref = runs.get(reference)
    lines = ["| run | curriculum | epochs | top-1 (%) | training wall time | speedup vs baseline (seed 0) | theoretical |", "|---|---|---|---|---|---|---|"]
    rows = []
    for name, label in names:
        r = runs.get(name)
        if not r or not r["summary"]["completed"]:
            continue
        s = r["summary"]
        sp = ref["summary"]["train_time_s"] / s["train_time_s"] if ref else float("nan")
        theo = s["theoretical_speedup"] * (ref["summary"]["epochs"] / s["epochs"] if ref else 1.0)
        rows.append({"run": name, "label": label, "top1": s["final_top1"], "time_s": s["train_time_s"], "speedup": sp, "theoretical": theo, "epochs": s["epochs"]})
        lines.append(f"| {label} | {s['curriculum']} | {round(s['epochs'], 2):g} | {s['final_top1']:.2f} | {s['train_time_s'] / 60:.1f} min | {sp:.2f}x | {theo:.2f}x |")
    return lines, rows


def _setting(runs: dict[str, dict[str, Any]], name: str) -> str:
    """A plot title naming the model, input size and epochs of a run."""
    s = runs.get(name, {}).get("summary")
    if not s:
        return ""
    return f"{s['model']} at {s['final_size']} px, {s['epochs']:g} epochs"


def plot_runs(runs: dict[str, dict[str, Any]], names: list[tuple[str, str]], path: Path, title: str) -> Optional[Path]:
    from efficienttrain.plots import plot_runs as _plot

    present = [(runs[n]["dir"], label) for n, label in names if n in runs]
    if not present:
        return None
    return _plot([d for d, _ in present], path, labels=[label for _, label in present], title=title)


def stage_examples(data_dir: Path, path: Path) -> Path:
    import torch
    from PIL import Image

    from efficienttrain.plots import plot_stage_examples

    classes = sorted(p for p in (data_dir / "val").iterdir() if p.is_dir())
    picks = [sorted(c.iterdir())[0] for c in classes[:3]]
    imgs = []
    for p in picks:
        img = Image.open(p).convert("RGB").resize((224, 224), Image.BICUBIC)
        imgs.append(torch.from_numpy(__import__("numpy").asarray(img).copy()).permute(2, 0, 1).float() / 255)
    batch = torch.stack(imgs)
    sizes = [96, 128, 160, 192, 224]
    return plot_stage_examples(batch, sizes, path, titles=[f"B = {s}" + (" (full)" if s == 224 else "") for s in sizes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs/evidence")
    parser.add_argument("--data", default=None, help="ImageFolder for the stage-examples figure")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--figures", default=str(ROOT / "docs" / "figures"))
    args = parser.parse_args()
    runs = load_runs(Path(args.runs))
    out, figs = Path(args.out), Path(args.figures)
    out.mkdir(parents=True, exist_ok=True)
    figs.mkdir(parents=True, exist_ok=True)

    main_lines, main_data = main_table(runs)
    abl = [
        ("efficienttrain-s0", "EfficientTrain (crop + RandAugment ramp)"),
        ("ablation-downsample-bilinear", "down-sampling instead of the crop"),
        ("ablation-linear-ramp", "linear size ramp at equal cost"),
        ("ablation-crop-only", "crop only, constant RandAugment"),
    ] + [(n, "EfficientTrain++ at its budget") for n in runs if n.startswith("efficienttrain++")]
    abl_lines, abl_rows = other_table(runs, abl, "baseline-s0")
    long_names = [("baseline-s0", "baseline")] + [(n, "EfficientTrain, 1.5x epochs") for n in runs if n.startswith("efficienttrain-") and n.endswith("ep")]
    long_lines, long_rows = other_table(runs, long_names, "baseline-s0")
    tune = sorted((n for n in runs if n.startswith("tune-")), key=lambda n: float(n.split("lr")[1]))
    tune_lines = ["| learning rate | top-1 after 12 epochs (%) |", "|---|---|"] + [
        f"| {runs[n]['summary']['name'].split('lr')[1]} | {runs[n]['summary']['final_top1']:.2f} |" for n in tune
    ]
    cifar_lines, cifar_rows = other_table(runs, [("cifar-baseline-s0", "baseline"), ("cifar-efficienttrain-s0", "EfficientTrain")], "cifar-baseline-s0")
    lrcheck_lines, lrcheck_rows = other_table(
        runs, [("baseline-s0", "baseline, lr 2e-3"), ("baseline-lr4e-3-s0", "baseline, lr 4e-3")], "baseline-s0"
    )
    lowres_lines, lowres_rows = other_table(
        runs, [("lowres-baseline-s0", "baseline"), ("lowres-efficienttrain-s0", "EfficientTrain")], "lowres-baseline-s0"
    )

    md = ["## Main comparison", "", *main_lines, "", "## Ablations", "", *abl_lines, "", "## Same cost, more epochs", "", *long_lines, "",
          "## Baseline learning-rate check (resnet18 at 64 px, 12 epochs)", "", *tune_lines, ""]
    if len(lrcheck_rows) > 1:
        md += ["## Baseline learning-rate check at the main setting", "", *lrcheck_lines, ""]
    if lowres_rows:
        md += ["## Low resolution (resnet18 at 64 px)", "", *lowres_lines, ""]
    if cifar_rows:
        md += ["## CIFAR-10", "", *cifar_lines, ""]
    (out / "evidence.md").write_text("\n".join(md))
    (out / "evidence.json").write_text(json.dumps({"main": main_data, "ablations": abl_rows, "long": long_rows, "cifar": cifar_rows, "lowres": lowres_rows, "lrcheck": lrcheck_rows}, indent=2))
    print("\n".join(md))

    main_names = [(f"baseline-s{s}", f"baseline (seed {s})") for s in main_data.get("seeds", [])] + [
        (f"efficienttrain-s{s}", f"EfficientTrain (seed {s})") for s in main_data.get("seeds", [])
    ]
    plot_runs(runs, main_names, figs / "accuracy_vs_time.png", _setting(runs, "baseline-s0"))
    plot_runs(runs, [("baseline-s0", "baseline")] + abl + long_names[1:], figs / "ablations_vs_time.png", "ablations (seed 0)")
    if args.data:
        stage_examples(Path(args.data), figs / "stage_examples.png")
    print(f"wrote {out / 'evidence.md'} and figures in {figs}")


if __name__ == "__main__":
    main()
