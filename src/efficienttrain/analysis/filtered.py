"""Accuracy on low-pass and high-pass filtered validation images (paper Fig. 4 and Table 1).

A model trained on the original images is evaluated on validation images whose spectrum is cut
by a centred circle of radius ``r`` (in cycles per image, at the evaluation size): the low-pass
filter keeps the inside, the high-pass filter the outside. Evaluating every checkpoint of a run
this way shows *when* the model learns to use each band: in the paper, accuracy on low-passed
images rises early, accuracy on high-passed images only later.

Which space is filtered
-----------------------
The images reach the model normalised, ``z = (x - mean) / std`` per channel, with ``x`` in
``[0, 1]``. Both filters are linear, and a constant lives only in the DC term, so:

* low-pass: ``LP(z) = (LP(x) - mean) / std``. Filtering the normalised tensor is *exactly* the
  same as filtering the pixels and then normalising. The space does not matter.
* high-pass: ``HP(z) = HP(x) / std``, while normalising a filtered pixel image gives
  ``(HP(x) - mean) / std``. They differ by a constant ``-mean / std`` per channel.

The default, ``space="normalized"``, filters the normalised tensor: the high-passed input is
zero-mean, i.e. the high frequencies drawn on a background of the dataset's mean colour, which
is where the model's inputs are centred. ``space="pixel"`` filters ``[0, 1]`` pixels (the
literal reading of Fig. 2) and normalises afterwards: the high-passed image then sits on a black
background, several standard deviations away from anything the model saw in training, which
mixes "no low frequencies" with "a large shift of the input mean". Both are available; results
of the two spaces differ only for the high-pass filter.

A radius of at least ``size / sqrt(2)`` reaches the corners of the spectrum: the low-pass
filter is then the identity and the high-pass filter returns zeros.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import torch
from torch import nn

from ..errors import UserError
from ..frequency import high_pass_filter, low_pass_filter
from .checkpoints import LoadedModel, for_each_model, resolve_checkpoints, series_info
from .evaldata import EvalSet
from .report import format_table, write_csv, write_json

__all__ = [
    "FILTER_KINDS",
    "FILTER_SPACES",
    "FilterSetting",
    "FilteredResult",
    "apply_filter",
    "parse_radii",
    "default_radii",
    "make_settings",
    "sort_settings",
    "filtered_accuracy",
    "evaluate_series",
    "match_highpass_radius",
]

FILTER_KINDS = ("low", "high")
FILTER_SPACES = ("normalized", "pixel")
PathLike = Union[str, Path]
FilterSetting = tuple[str, Optional[float]]
"""``(kind, radius)``: ``("none", None)`` for the original images, else ``("low"|"high", r)``."""


def parse_radii(text: Union[str, Sequence[Union[str, float]]], flag: str = "--radii") -> list[float]:
    """Parse radii given as ``"4,8,16"`` or a list of numbers or strings.

    Args:
        text: Comma- or space-separated numbers, or a sequence of them.
        flag: Name of the option, for the error message.

    Returns:
        The radii in the order given, duplicates removed.

    Raises:
        UserError: On an empty list, a non-number, or a negative or non-finite radius.
    """
    items: list[Union[str, float]] = []
    for item in [text] if isinstance(text, str) else list(text):
        items.extend(str(item).replace(",", " ").split() if isinstance(item, str) else [item])
    if not items:
        raise UserError(f"{flag} is empty; give radii in cycles per image, e.g. {flag} 4,8,16")
    out: list[float] = []
    for item in items:
        try:
            r = float(item)
        except ValueError:
            raise UserError(f"bad radius {item!r} in {flag}; give non-negative numbers in cycles per image, e.g. {flag} 4,8,16") from None
        if not math.isfinite(r) or r < 0:
            raise UserError(f"bad radius {item!r} in {flag}; radii must be non-negative numbers of cycles per image, e.g. {flag} 4,8,16")
        if r not in out:
            out.append(r)
    return out


def default_radii(size: int) -> list[float]:
    """Radii that span the spectrum of a ``size``-pixel image: 1/16, 1/8, 1/4, 3/8 and 1/2 of ``size``.

    ``size / 2`` is the Nyquist frequency along each axis; the corners lie at ``size / sqrt(2)``.

    Args:
        size: Evaluation size.

    Returns:
        Distinct positive radii, rounded to whole cycles.
    """
    out: list[float] = []
    for frac in (1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2):
        r = float(max(1, round(size * frac)))
        if r not in out:
            out.append(r)
    return out


def make_settings(radii: Sequence[float], filters: Sequence[str] = FILTER_KINDS, *, include_original: bool = True) -> list[FilterSetting]:
    """The grid of filter settings: the original images, then each filter at each radius.

    Args:
        radii: Radii in cycles per image.
        filters: ``low`` and/or ``high``.
        include_original: Start with ``("none", None)``.

    Returns:
        The settings.

    Raises:
        UserError: On an unknown filter kind.
    """
    for kind in filters:
        if kind not in FILTER_KINDS:
            raise UserError(f"unknown filter {kind!r}; choose low, high or both (--filters low,high)")
    settings: list[FilterSetting] = [("none", None)] if include_original else []
    settings += [(kind, float(r)) for kind in filters for r in radii]
    return settings


def sort_settings(settings: Sequence[FilterSetting]) -> list[FilterSetting]:
    """Distinct settings in table order: the original images, low-pass by radius, high-pass by radius.

    Args:
        settings: Settings in any order, possibly repeated.

    Returns:
        The sorted settings.
    """
    order = {"none": 0, "low": 1, "high": 2}
    return sorted(dict.fromkeys(settings), key=lambda s: (order.get(s[0], 3), s[1] if s[1] is not None else -1.0))


def apply_filter(
    x: torch.Tensor,
    kind: str,
    radius: Optional[float],
    *,
    space: str = "normalized",
    mean: Optional[torch.Tensor] = None,
    std: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Filter a batch of normalised images (see the module docstring for the choice of space).

    Args:
        x: Normalised images ``(..., C, H, W)``.
        kind: ``none``, ``low`` or ``high``.
        radius: Radius in cycles per image (ignored for ``none``).
        space: ``normalized`` filters ``x`` itself; ``pixel`` undoes the normalisation with
            ``mean`` and ``std``, filters the ``[0, 1]`` pixels, and normalises again.
        mean: ``(C, 1, 1)`` normalisation mean (needed for ``pixel``).
        std: ``(C, 1, 1)`` normalisation std (needed for ``pixel``).

    Returns:
        The filtered, normalised images.

    Raises:
        ValueError: On an unknown kind or space, a missing radius, or missing statistics.
    """
    if kind == "none":
        return x
    if kind not in FILTER_KINDS:
        raise ValueError(f"unknown filter {kind!r}; expected none, low or high")
    if radius is None:
        raise ValueError(f"the {kind}-pass filter needs a radius")
    filt: Callable[[torch.Tensor, float], torch.Tensor] = low_pass_filter if kind == "low" else high_pass_filter
    if space == "normalized":
        return filt(x, radius)
    if space != "pixel":
        raise ValueError(f"unknown space {space!r}; expected normalized or pixel")
    if mean is None or std is None:
        raise ValueError("space='pixel' needs the normalisation mean and std")
    return (filt(x * std + mean, radius) - mean) / std


def _setting_name(kind: str, radius: Optional[float]) -> str:
    if kind == "none":
        return "original"
    return f"{kind} r={radius:g}"


def _check_classes(model: nn.Module, evalset: EvalSet, label: str) -> None:
    classes = getattr(model, "num_classes", None)
    if isinstance(classes, int) and classes != evalset.num_classes:
        raise UserError(
            f"{label} has {classes} classes but {evalset.source} has {evalset.num_classes}; pass the --data the model was trained on"
        )


@torch.no_grad()
def filtered_accuracy(
    model: nn.Module,
    evalset: EvalSet,
    settings: Sequence[FilterSetting],
    *,
    space: str = "normalized",
    batch_size: int = 128,
    device: Union[str, torch.device] = "cpu",
    on_batch: Optional[Callable[[], None]] = None,
) -> list[dict[str, Any]]:
    """Top-1 accuracy of one model under each filter setting, in one pass over the data.

    Each batch is loaded once and filtered for every setting, so adding settings costs forward
    passes and FFTs but no extra data loading.

    Args:
        model: A classifier in eval mode (it is put in eval mode here too).
        evalset: The validation images.
        settings: ``(kind, radius)`` pairs, e.g. from :func:`make_settings`.
        space: ``normalized`` or ``pixel``; see :func:`apply_filter`.
        batch_size: Images per forward pass.
        device: Where to run.
        on_batch: Called after each batch (progress bars).

    Returns:
        One row per setting: ``filter``, ``radius``, ``top1`` (percent), ``correct``, ``images``.

    Raises:
        UserError: If the model's class count differs from the data's.
    """
    device = torch.device(device)
    model.eval()
    _check_classes(model, evalset, "the model")
    mean, std = evalset.stats(device)
    correct = torch.zeros(len(settings), dtype=torch.int64)
    seen = 0
    for x, y in evalset.batches(batch_size):
        x = x.to(device)
        y = y.to(device)
        for i, (kind, radius) in enumerate(settings):
            logits = model(apply_filter(x, kind, radius, space=space, mean=mean, std=std))
            correct[i] += int((logits.argmax(dim=1) == y).sum())
        seen += int(y.numel())
        if on_batch is not None:
            on_batch()
    n = max(seen, 1)
    return [
        {"filter": kind, "radius": radius, "top1": 100.0 * int(c) / n, "correct": int(c), "images": seen}
        for (kind, radius), c in zip(settings, correct.tolist())
    ]


@torch.no_grad()
def match_highpass_radius(
    model: nn.Module,
    evalset: EvalSet,
    low_radius: float,
    *,
    space: str = "normalized",
    batch_size: int = 128,
    device: Union[str, torch.device] = "cpu",
) -> dict[str, float]:
    """Find the high-pass radius at which a model is as accurate as at a low-pass radius (Table 1).

    The paper picks the two bandwidths so that the final model scores the same on both filtered
    sets, then compares earlier checkpoints. Accuracy on high-passed images falls as the radius
    grows (more of the spectrum is removed), so a bisection over whole radii finds the crossing
    in about ``log2(size)`` passes over the data; the closer of the two radii around it is kept.

    Args:
        model: The (final) model.
        evalset: The validation images.
        low_radius: Radius of the low-pass filter.
        space: ``normalized`` or ``pixel``.
        batch_size: Images per forward pass.
        device: Where to run.

    Returns:
        ``low_radius``, ``low_top1``, ``high_radius`` and ``high_top1``.
    """
    cache: dict[tuple[str, float], float] = {}

    def acc(kind: str, r: float) -> float:
        if (kind, r) not in cache:
            cache[(kind, r)] = filtered_accuracy(model, evalset, [(kind, r)], space=space, batch_size=batch_size, device=device)[0]["top1"]
        return cache[(kind, r)]

    target = acc("low", float(low_radius))
    lo, hi = 0, math.ceil(evalset.size / math.sqrt(2))
    # Invariant: acc(high, lo) > target >= acc(high, hi), unless the ends already decide it.
    if acc("high", float(lo)) <= target:
        best = lo
    else:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if acc("high", float(mid)) > target:
                lo = mid
            else:
                hi = mid
        best = min((lo, hi), key=lambda r: (abs(acc("high", float(r)) - target), r))
    return {"low_radius": float(low_radius), "low_top1": target, "high_radius": float(best), "high_top1": acc("high", float(best))}


@dataclass
class FilteredResult:
    """Accuracies of a series of checkpoints under a set of filters.

    Attributes:
        rows: One dict per (checkpoint, setting): ``checkpoint`` (label), ``epoch``, ``cost``,
            ``path``, ``filter``, ``radius``, ``top1``, ``correct``, ``images``.
        checkpoints: One dict per checkpoint, in order: ``label``, ``epoch``, ``cost``, ``path``.
        settings: The filter settings, in order.
        meta: The evaluation set and the filter space.
    """

    rows: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    settings: list[FilterSetting]
    meta: dict[str, Any] = field(default_factory=dict)

    def accuracy(self, checkpoint: Union[int, str], kind: str, radius: Optional[float] = None) -> float:
        """Top-1 of one checkpoint (by index or label) under one setting.

        Raises:
            KeyError: If there is no such row.
        """
        label = self.checkpoints[checkpoint]["label"] if isinstance(checkpoint, int) else checkpoint
        for row in self.rows:
            if row["checkpoint"] == label and row["filter"] == kind and (kind == "none" or row["radius"] == radius):
                return float(row["top1"])
        raise KeyError(f"no result for {label!r}, {kind} r={radius}")

    def table(self, settings: Optional[Sequence[FilterSetting]] = None, transpose: bool = False) -> str:
        """The accuracies as a text table.

        Args:
            settings: Columns to show (default: all).
            transpose: One row per setting and one column per checkpoint (the layout of
                Table 1) instead of one row per checkpoint.

        Returns:
            The table.
        """
        settings = list(settings or self.settings)
        grid = [[self.accuracy(i, k, r) for k, r in settings] for i in range(len(self.checkpoints))]
        labels = [c["label"] for c in self.checkpoints]
        names = [_setting_name(k, r) for k, r in settings]
        if transpose:
            return format_table(["top-1 %"] + labels, [[name] + [grid[i][j] for i in range(len(labels))] for j, name in enumerate(names)])
        return format_table(["checkpoint"] + names, [[label] + grid[i] for i, label in enumerate(labels)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``meta``, ``checkpoints``, ``settings`` and ``rows``."""
        return {
            "meta": self.meta,
            "checkpoints": self.checkpoints,
            "settings": [{"filter": k, "radius": r} for k, r in self.settings],
            "rows": self.rows,
        }

    def to_csv(self, path: PathLike) -> Path:
        """Write the rows (long format: one line per checkpoint and setting) as CSV."""
        return write_csv(self.rows, path, ["checkpoint", "epoch", "cost", "filter", "radius", "top1", "correct", "images", "path"])

    def to_json(self, path: PathLike) -> Path:
        """Write :meth:`to_dict` as JSON."""
        return write_json(self.to_dict(), path)


def evaluate_series(
    checkpoints: Sequence[PathLike],
    evalset: EvalSet,
    settings: Sequence[FilterSetting],
    *,
    space: str = "normalized",
    model: Optional[str] = None,
    num_classes: Optional[int] = None,
    ema: bool = False,
    batch_size: int = 128,
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
    loaded: Optional[Iterable[LoadedModel]] = None,
) -> FilteredResult:
    """Evaluate every checkpoint of one or more runs under every filter setting (Fig. 4).

    Checkpoints are loaded one at a time, so a long series needs the memory of one model.

    Args:
        checkpoints: Checkpoint files and run directories (see :func:`resolve_checkpoints`).
        evalset: The validation images; cached in memory first when small enough.
        settings: Filter settings (:func:`make_settings`).
        space: ``normalized`` or ``pixel``; see :func:`apply_filter`.
        model: timm name for files that do not carry one.
        num_classes: Class count for files that do not carry one.
        ema: Evaluate the EMA weights of runner checkpoints.
        batch_size: Images per forward pass.
        device: Where to run.
        progress: Show a progress bar.
        loaded: Already loaded models to evaluate instead of ``checkpoints`` (for library use).

    Returns:
        The :class:`FilteredResult`.

    Raises:
        UserError: On missing or unreadable checkpoints, or a class count that does not match.
    """
    evalset.cache()
    sources: list[Any] = list(loaded) if loaded is not None else resolve_checkpoints(checkpoints)
    if not sources:
        raise UserError("no checkpoints to evaluate")

    def evaluate(lm: LoadedModel, on_batch: Optional[Callable[[], None]]) -> list[dict[str, Any]]:
        _check_classes(lm.model, evalset, str(lm.path))
        return filtered_accuracy(lm.model, evalset, settings, space=space, batch_size=batch_size, device=device, on_batch=on_batch)

    results = for_each_model(
        sources, evaluate, batches_per_model=evalset.num_batches(batch_size), desc="filtered evaluation",
        model=model, num_classes=num_classes, ema=ema, device=device, progress=progress,
    )  # fmt: skip
    ckpts = series_info([m for m, _ in results])
    out_rows: list[dict[str, Any]] = []
    for info, (_, rows) in zip(ckpts, results):
        out_rows += [{"checkpoint": info["label"], "epoch": info["epoch"], "cost": info["cost"], "path": info["path"], **row} for row in rows]
    meta = {**evalset.describe(), "space": space, "model": results[0][0].name}
    return FilteredResult(out_rows, ckpts, list(settings), meta)
