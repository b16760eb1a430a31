"""Figures of the analyses: filtered accuracy (Fig. 4), CKA heatmaps (Fig. 6), spectra (Figs. 2, 5)
and Proposition 1's leakage. All use matplotlib's Agg backend and write PNG files.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from ..plots import pyplot, save_figure
from .cka import CKAResult
from .filtered import FilteredResult
from .spectra import LeakageResult, log_spectrum, remove_window

__all__ = ["plot_filtered", "plot_cka", "plot_spectra", "plot_leakage"]

PathLike = Union[str, Path]
# Enough resolution to read, small enough for the docs (about 50-150 KB per figure).
_DPI = 90


def _plt():
    return pyplot()


def _save(fig, path: PathLike, *, palette: bool = False) -> Path:
    return save_figure(fig, path, dpi=_DPI, palette=palette)


def _x_values(checkpoints: Sequence[dict], axis: str) -> tuple[list[float], str]:
    if axis == "cost" and all(c.get("cost") is not None for c in checkpoints):
        return [float(c["cost"]) for c in checkpoints], "training cost (epochs at the final size)"
    if all(c.get("epoch") is not None for c in checkpoints):
        return [float(c["epoch"]) for c in checkpoints], "training epoch"
    return [float(i) for i in range(len(checkpoints))], "checkpoint"


def plot_filtered(result: FilteredResult, path: PathLike, *, title: Optional[str] = None, max_curves: int = 8) -> Path:
    """Accuracy on filtered validation sets (paper Fig. 4).

    With several checkpoints the left panel shows accuracy against epoch, one curve per radius
    (solid: low-pass, dashed: high-pass, black: original images); the right panel shows
    accuracy against radius for up to ``max_curves`` checkpoints, evenly chosen. With one
    checkpoint only the radius panel is drawn.

    Args:
        result: The evaluation result.
        path: Output PNG.
        title: Figure title.
        max_curves: Most checkpoints drawn in the radius panel.

    Returns:
        The path written.
    """
    plt = _plt()
    ckpts = result.checkpoints
    series = len(ckpts) > 1
    fig, axes = plt.subplots(1, 2 if series else 1, figsize=(13.0 if series else 6.5, 4.0), squeeze=False)
    lows = sorted(r for k, r in result.settings if k == "low" and r is not None)
    highs = sorted(r for k, r in result.settings if k == "high" and r is not None)
    has_orig = ("none", None) in result.settings
    low_cmap, high_cmap = plt.get_cmap("viridis"), plt.get_cmap("plasma")

    def shade(cmap, i: int, n: int):
        return cmap(0.1 + 0.75 * i / max(n - 1, 1))

    if series:
        ax = axes[0][0]
        xs, xlabel = _x_values(ckpts, "epoch")
        if has_orig:
            ax.plot(xs, [result.accuracy(i, "none") for i in range(len(ckpts))], color="black", marker="o", ms=3, lw=2, label="original")
        for j, r in enumerate(lows):
            ax.plot(
                xs,
                [result.accuracy(i, "low", r) for i in range(len(ckpts))],
                color=shade(low_cmap, j, len(lows)),
                marker="o",
                ms=3,
                label=f"low-pass r={r:g}",
            )
        for j, r in enumerate(highs):
            ax.plot(
                xs,
                [result.accuracy(i, "high", r) for i in range(len(ckpts))],
                color=shade(high_cmap, j, len(highs)),
                ls="--",
                marker="s",
                ms=3,
                label=f"high-pass r={r:g}",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation top-1 (%)")
        ax.set_title("accuracy during training")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax = axes[0][-1]
    picks = sorted({round(v) for v in np.linspace(0, len(ckpts) - 1, min(max_curves, len(ckpts)))})
    grey = plt.get_cmap("cividis")
    from matplotlib.lines import Line2D

    handles = []
    for n, i in enumerate(picks):
        color = grey(0.05 + 0.85 * n / max(len(picks) - 1, 1)) if len(picks) > 1 else "C0"
        if lows:
            ax.plot(lows, [result.accuracy(i, "low", r) for r in lows], color=color, marker="o", ms=3)
        if highs:
            ax.plot(highs, [result.accuracy(i, "high", r) for r in highs], color=color, ls="--", marker="s", ms=3)
        if has_orig:
            ax.axhline(result.accuracy(i, "none"), color=color, lw=0.8, ls=":")
        handles.append(Line2D([], [], color=color, lw=2, label=ckpts[i]["label"]))
    # One legend entry per checkpoint (colour) and per line style, not one per curve.
    handles += [Line2D([], [], color="grey", marker="o", ms=3, label="low-pass")] if lows else []
    handles += [Line2D([], [], color="grey", ls="--", marker="s", ms=3, label="high-pass")] if highs else []
    handles += [Line2D([], [], color="grey", ls=":", lw=0.8, label="original")] if has_orig else []
    ax.set_xlabel("filter radius r (cycles per image)")
    ax.set_ylabel("validation top-1 (%)")
    ax.set_title("accuracy against radius")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    meta = result.meta
    default_title = (
        f"{meta.get('model', '')} on filtered {meta.get('data', '')} val "
        f"({meta.get('images', '?')} images, {meta.get('size', '?')} px, {meta.get('space', '')} space)"
    )
    fig.suptitle(title or default_title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_cka(
    result: CKAResult, path: PathLike, *, axis: str = "epoch", labels: Sequence[str] = ("A", "B"), title: Optional[str] = None
) -> Path:
    """CKA heatmap between two series of checkpoints (paper Fig. 6).

    Args:
        result: The CKA result.
        path: Output PNG.
        axis: ``epoch`` or ``cost`` (training cost in final-size epochs, as in the paper;
            falls back to epochs when a checkpoint has no curriculum). On a cost axis the
            dashed diagonal marks equal training cost.
        labels: Names of the two series (x axis, y axis).
        title: Figure title.

    Returns:
        The path written.
    """
    plt = _plt()
    xs, xlabel = _x_values(result.a, axis)
    ys, ylabel = _x_values(result.b, axis)
    m = result.matrix.numpy().T  # rows: series B (y), columns: series A (x)
    fig, ax = plt.subplots(figsize=(5.6, 4.8))

    def edges(v: list[float]) -> np.ndarray:
        # Cell boundaries halfway between checkpoints, so uneven spacing (costs) is drawn to scale.
        v_arr = np.asarray(v, dtype=float)
        if len(v_arr) == 1:
            return np.array([v_arr[0] - 0.5, v_arr[0] + 0.5])
        mid = (v_arr[1:] + v_arr[:-1]) / 2
        return np.concatenate([[v_arr[0] - (mid[0] - v_arr[0])], mid, [v_arr[-1] + (v_arr[-1] - mid[-1])]])

    monotone = all(np.diff(xs) > 0) and all(np.diff(ys) > 0)
    if monotone:
        mesh = ax.pcolormesh(edges(xs), edges(ys), m, cmap="inferno", vmin=0.0, vmax=1.0, shading="flat")
    else:
        mesh = ax.imshow(m, origin="lower", cmap="inferno", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(xs)), [c["label"] for c in result.a], rotation=60, fontsize=7)
        ax.set_yticks(range(len(ys)), [c["label"] for c in result.b], fontsize=7)
    if monotone and len(result.a) * len(result.b) <= 64:
        for i, x in enumerate(xs):
            for j, y in enumerate(ys):
                v = m[j, i]
                if not math.isnan(v):
                    ax.text(x, y, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
    if monotone and xlabel == ylabel:
        lo, hi = min(xs[0], ys[0]), max(xs[-1], ys[-1])
        ax.plot([lo, hi], [lo, hi], color="white", ls="--", lw=1)
        ax.set_xlim(edges(xs)[0], edges(xs)[-1])
        ax.set_ylim(edges(ys)[0], edges(ys)[-1])
    ax.set_xlabel(f"{labels[0]}: {xlabel}")
    ax.set_ylabel(f"{labels[1]}: {ylabel}")
    fig.colorbar(mesh, ax=ax, label="linear CKA (final-layer features)")
    ax.set_title(title or f"CKA on {result.meta.get('images', '?')} {result.meta.get('data', '')} val images", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _show(ax, img: torch.Tensor, title: str) -> None:
    arr = img.clamp(0, 1).permute(1, 2, 0).numpy() if img.dim() == 3 else img.numpy()
    ax.imshow(arr, interpolation="nearest", cmap=None if img.dim() == 3 else "magma")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)


def plot_spectra(images: torch.Tensor, radii: Sequence[float], sizes: Sequence[int], path: PathLike) -> Path:
    """Images, their spectra, low-pass filtered versions and low-frequency crops (Figs. 2 and 5).

    One row per image: the image; its centred log-magnitude spectrum with the filter circles
    (dashed) and crop windows (solid) drawn on it; the low-pass filtered image at each radius;
    the low-frequency crop at each size, shown at the same display size as the rest.

    Args:
        images: ``(N, 3, H, W)`` images in ``[0, 1]``.
        radii: Low-pass radii in cycles per image.
        sizes: Crop sizes ``B``.
        path: Output PNG.

    Returns:
        The path written.
    """
    from ..frequency import low_frequency_crop, low_pass_filter

    plt = _plt()
    n, _, h, w = images.shape
    cols = 2 + len(radii) + len(sizes)
    fig, axes = plt.subplots(n, cols, figsize=(1.3 * cols, 1.4 * n + 0.2), squeeze=False)
    for i in range(n):
        x = images[i].to(torch.float64)
        _show(axes[i][0], x.float(), "image" if i == 0 else "")
        ax = axes[i][1]
        _show(ax, log_spectrum(x).float(), "log |spectrum|" if i == 0 else "")
        cy, cx = h // 2, w // 2
        for r in radii:
            ax.add_patch(plt.Circle((cx, cy), r, fill=False, color="cyan", lw=0.7, ls="--"))
        for b in sizes:
            half = b // 2
            ax.add_patch(plt.Rectangle((cx - half - 0.5, cy - half - 0.5), 2 * half + 1, 2 * half + 1, fill=False, color="white", lw=0.7))
        for j, r in enumerate(radii):
            _show(axes[i][2 + j], low_pass_filter(x, r).float(), f"low-pass r={r:g}" if i == 0 else "")
        for j, b in enumerate(sizes):
            _show(axes[i][2 + len(radii) + j], low_frequency_crop(x, b).float(), f"crop B={b}" if i == 0 else "")
    fig.tight_layout(pad=0.3)
    return _save(fig, path, palette=True)


def plot_leakage(result: LeakageResult, images: torch.Tensor, path: PathLike, *, example_size: Optional[int] = None) -> Path:
    """Proposition 1 in numbers and pictures.

    Top: for each window size, the share of each operator's output energy that comes from
    outside the window (log scale; the crop's values are float rounding). Bottom: for one image,
    the log spectrum of ``op(remainder)`` per operator, where the remainder is the image with the
    window's frequencies removed; the crop's is empty.

    Args:
        result: The leakage result.
        images: The images it was computed on (``(N, 3, H, W)``, ``[0, 1]``).
        path: Output PNG.
        example_size: Window size of the bottom row (default: the middle one).

    Returns:
        The path written.
    """
    from ..frequency import resize_to

    plt = _plt()
    ops, sizes = result.ops, result.sizes
    b = example_size or sizes[len(sizes) // 2]
    fig = plt.figure(figsize=(max(8.0, 1.5 * len(ops)), 5.6))
    grid = fig.add_gridspec(2, len(ops), height_ratios=[1.25, 1.0])
    ax = fig.add_subplot(grid[0, :])
    width = 0.8 / max(len(sizes), 1)
    floor = 1e-35
    for j, size in enumerate(sizes):
        vals = [max(result.value(op, size), floor) for op in ops]
        ax.bar(np.arange(len(ops)) + (j - (len(sizes) - 1) / 2) * width, vals, width, label=f"B={size}", color=f"C{j}")
    ax.set_yscale("log")
    ax.set_ylim(floor, 2.0)
    ax.set_xticks(range(len(ops)), [("low-freq. crop" if op == "lowfreq" else op) for op in ops])
    ax.set_ylabel("output energy from outside\nthe BxB window (share)")
    ax.axhline(1e-12, color="grey", ls=":", lw=0.8)
    ax.text(-0.45, 3e-12, "below: float rounding", ha="left", va="bottom", fontsize=7, color="grey")
    # The crop's bars end near 1e-30, which leaves the middle of the left side free for the legend.
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(0.0, 0.3))
    ax.set_xlabel(f"below: log spectrum of op(first image with its {b}x{b} window removed), one colour scale (4 decades)", fontsize=8)
    side, count = result.meta.get("image_size", ["?"])[0], result.meta.get("images", "?")
    ax.set_title(f"Proposition 1: energy leaked into {side} px images shrunk to BxB ({count} images)", fontsize=10)
    x = images[0:1].to(torch.float64)
    rest = remove_window(x, b)
    outs = [resize_to(rest, b, op)[0] for op in ops]
    specs = [torch.fft.fftshift(torch.fft.fft2(o), dim=(-2, -1)).abs().mean(0) for o in outs]
    vmax = max(float(torch.log10(1e-12 + s).max()) for s in specs)
    for k, (op, s) in enumerate(zip(ops, specs)):
        a = fig.add_subplot(grid[1, k])
        a.imshow(torch.log10(1e-12 + s).numpy(), cmap="magma", vmin=vmax - 4, vmax=vmax, interpolation="nearest")
        a.set_xticks([])
        a.set_yticks([])
        a.set_title(f"{'crop' if op == 'lowfreq' else op}", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
