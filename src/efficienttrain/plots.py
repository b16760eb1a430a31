"""Figures: a curriculum's schedule and cost, accuracy against wall time, and crops per stage."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from .cost import CostFunction, curriculum_cost, pixel_cost
from .curricula import Curriculum

__all__ = ["plot_curriculum", "plot_runs", "plot_stage_examples", "pyplot", "save_figure"]

PathLike = Union[str, Path]


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_plt = pyplot


def save_figure(fig, path: PathLike, *, dpi: int = 130, palette: bool = False) -> Path:
    """Write ``fig`` as a PNG (and close it): every figure of the package and its docs goes through here.

    Args:
        fig: A matplotlib figure.
        path: Output PNG (its folder is created).
        dpi: Resolution.
        palette: Store a 256-colour palette: figures made of many small photos compress badly as
            RGB PNG, and a palette makes them about 3x smaller.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:
        import io

        from PIL import Image

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        buf.seek(0)
        # No dithering: it would undo most of the saving; k-means refinement of the median-cut
        # palette keeps the banding in smooth (low-passed) images faint.
        rgb = Image.open(buf).convert("RGB")
        rgb.quantize(256, method=Image.Quantize.MEDIANCUT, kmeans=3).save(path, optimize=True)
    else:
        fig.savefig(path, dpi=dpi, bbox_inches="tight", pil_kwargs={"optimize": True})
    pyplot().close(fig)
    return path


def _save(fig, path: PathLike, *, palette: bool = False) -> Path:
    return save_figure(fig, path, palette=palette)


def plot_curriculum(curricula: Union[Curriculum, Sequence[Curriculum]], path: PathLike, cost: Optional[CostFunction] = None) -> Path:
    """Plot input size and RandAugment magnitude against epoch, and the cumulative cost.

    Args:
        curricula: One curriculum or several to compare (the first is the main one).
        path: Output PNG.
        cost: Per-image cost function (default: pixels).

    Returns:
        The path written.
    """
    plt = _plt()
    curricula = [curricula] if isinstance(curricula, Curriculum) else list(curricula)
    cost = cost or pixel_cost
    fig, (ax1, ax3) = plt.subplots(1, 2, figsize=(11, 4))
    ax2 = ax1.twinx()
    for i, cur in enumerate(curricula):
        t = np.linspace(0, cur.epochs, 1000, endpoint=False)
        s = [cur(x) for x in t]
        ax1.step(t, [x.size for x in s], where="post", label=f"{cur.name}: B", color=f"C{i}")
        ax2.plot(t, [x.magnitude for x in s], linestyle="--", color=f"C{i}", alpha=0.6, label=f"{cur.name}: m")
        rep = curriculum_cost(cur, cost)
        xs, ys = zip(*rep.cumulative)
        ax3.plot(xs, [y * cur.epochs for y in ys], color=f"C{i}", label=f"{cur.name} ({rep.speedup:.2f}x)")
        if i == 0:
            ax3.plot([0, cur.epochs], [0, cur.epochs], color="grey", linestyle=":", label="constant final size")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("input size B")
    ax2.set_ylabel("RandAugment magnitude m")
    ax1.set_title("schedule")
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=8)
    ax3.set_xlabel("epoch")
    ax3.set_ylabel("cumulative cost (epochs at final size)")
    ax3.set_title("training cost")
    ax3.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_runs(run_dirs: Sequence[PathLike], path: PathLike, labels: Optional[Sequence[str]] = None, title: Optional[str] = None) -> Path:
    """Top-1 accuracy against training wall time for one or more runs (paper Fig. 7).

    Args:
        run_dirs: Run directories holding ``metrics.jsonl``.
        path: Output PNG.
        labels: Legend labels (default: directory names).
        title: Figure title.

    Returns:
        The path written.
    """
    from .rundir import read_history

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, run in enumerate(run_dirs):
        hist = read_history(Path(run))
        minutes = [0.0] + [h.train_time / 60.0 for h in hist]
        acc = [np.nan] + [h.top1 for h in hist]
        label = labels[i] if labels else Path(run).name
        ax.plot(minutes, acc, marker="o", markersize=3, label=label, color=f"C{i}")
    ax.set_xlabel("training wall time (minutes)")
    ax.set_ylabel("validation top-1 (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_stage_examples(images: torch.Tensor, sizes: Sequence[int], path: PathLike, op: str = "lowfreq", titles: Optional[Sequence[str]] = None) -> Path:
    """Show images cropped to each size (paper Fig. 5), each displayed at the same scale.

    Args:
        images: ``(N, 3, H, W)`` images in ``[0, 1]``.
        sizes: Sizes to show, e.g. a curriculum's stage sizes.
        path: Output PNG.
        op: Crop operator (``lowfreq`` or a down-sampling mode).
        titles: Column titles (default ``B = size``).

    Returns:
        The path written.
    """
    from .frequency import resize_to

    plt = _plt()
    n = images.shape[0]
    fig, axes = plt.subplots(n, len(sizes), figsize=(2.2 * len(sizes), 2.2 * n), squeeze=False)
    for j, size in enumerate(sizes):
        cropped = resize_to(images.float(), size, op).clamp(0, 1)
        for i in range(n):
            ax = axes[i][j]
            ax.imshow(cropped[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j] if titles else f"B = {size}", fontsize=9)
    fig.tight_layout()
    return _save(fig, path, palette=True)
