"""The demo: baseline against EfficientTrain on the built-in demo data, on any machine.

It trains the same model twice with the CPU preset, once at the full size throughout and once
with the EfficientTrain curriculum, and reports top-1, training wall time and the measured
speedup next to the theoretical one, with an accuracy-against-time plot.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

__all__ = ["run_demo", "comparison_table"]


# What the demo's accuracy gap is, printed under its table: the data are made to favour a curriculum.
DEMO_DATA_NOTE = (
    "The speedup is measured: training wall time of the same epochs, evaluation excluded.\n"
    "The top-1 gap is a property of the synthetic demo data, not evidence: its classes pair a coarse shape with a\n"
    "fine texture, which favours a curriculum that learns the shapes first. Results on real images: docs/results.md."
)


def comparison_table(rows: list[dict[str, Any]]) -> str:
    """Format runs as a table: measured speedup over the first row first, then the demo data's top-1.

    Args:
        rows: Dicts with ``label``, ``top1``, ``train_time_s`` and ``theoretical_speedup``.

    Returns:
        The table as text, with :data:`DEMO_DATA_NOTE` under it.
    """
    base = rows[0]["train_time_s"]
    head = f"{'run':<16} {'train time':>11} {'speedup':>8} {'theory':>7} {'top-1 (demo data)':>18}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['label']:<16} {r['train_time_s']:>10.1f}s {base / r['train_time_s']:>7.2f}x {r['theoretical_speedup']:>6.2f}x {r['top1']:>17.2f}%"
        )
    return "\n".join(lines + ["", DEMO_DATA_NOTE])


def run_demo(
    *,
    model: str = "resnet10t",
    epochs: float = 12,
    image_size: int = 64,
    per_class: int = 120,
    output: Optional[str] = None,
    seed: int = 0,
    progress: Optional[bool] = None,
) -> list[dict[str, Any]]:
    """Train baseline and EfficientTrain on the demo data and compare them.

    Args:
        model: timm model name.
        epochs: Epochs of each run.
        image_size: Demo image (and final) size.
        per_class: Demo training images per class.
        output: Output directory (default ``runs/demo-<timestamp>``).
        seed: Seed of both runs.
        progress: Show progress bars (default: when on a terminal).

    Returns:
        One summary dict per run (baseline first).
    """
    from .plots import plot_runs
    from .runner.config import make_config
    from .runner.loop import Trainer

    out = Path(output) if output else Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    rows = []
    for label, curriculum in (("baseline", "none"), ("efficienttrain", "efficienttrain")):
        print(f"\n=== {label}: {model}, {epochs:g} epochs on the demo data ({image_size}px) ===", flush=True)
        cfg = make_config(
            {
                "data": "demo",
                "model": model,
                "curriculum": curriculum,
                "epochs": epochs,
                "demo_image_size": image_size,
                "demo_per_class": per_class,
                "output": str(out / label),
                "name": label,
                "seed": seed,
                "progress": progress,
                "safetensors": False,
            },
            preset="cpu",
        )
        result = Trainer(cfg).run()
        rows.append({"label": label, "top1": result.final_top1, "train_time_s": result.train_time, "theoretical_speedup": result.summary["theoretical_speedup"]})
    table = comparison_table(rows)
    plot = plot_runs([out / "baseline", out / "efficienttrain"], out / "accuracy_vs_time.png", labels=["baseline", "EfficientTrain"], title=f"{model} on the demo data")
    (out / "comparison.json").write_text(json.dumps(rows, indent=2))
    (out / "comparison.txt").write_text(table + "\n")
    print("\n" + table)
    print(f"\nwrote {plot} and {out / 'comparison.json'}")
    return rows
