"""Linear CKA similarity of final-layer features (paper Fig. 6; Kornblith et al., 2019).

For two feature matrices ``X`` (n x p) and ``Y`` (n x q) computed on the same ``n`` inputs,
after centring each column::

    HSIC(X, Y) = || Y^T X ||_F^2
    CKA(X, Y)  = HSIC(X, Y) / sqrt(HSIC(X, X) * HSIC(Y, Y))

Linear CKA lies in ``[0, 1]``, is symmetric, equals 1 for identical representations, and does
not change under orthogonal transforms or isotropic scaling of either side, so it compares
networks whose features live in unrelated bases (the normalisation constants of HSIC cancel).

The paper feeds the same original images to every model, including those trained on
low-frequency crops, and takes the final layer's features; for timm models these are the pooled
pre-logits features, ``forward_head(forward_features(x), pre_logits=True)``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import nn

from ..errors import UserError
from .checkpoints import LoadedModel, for_each_model, resolve_checkpoints, series_info
from .evaldata import EvalSet
from .report import format_table, write_csv, write_json

__all__ = ["linear_cka", "cka_matrix", "extract_features", "final_features", "CKAResult", "cka_series"]

PathLike = Union[str, Path]


def _centred(x: torch.Tensor) -> torch.Tensor:
    if x.dim() != 2:
        x = x.reshape(x.shape[0], -1)
    # float64: HSIC sums n^2 (or p^2) products, and float32 loses the 1.0 of CKA(X, X) by ~1e-6.
    x = x.to(torch.float64)
    return x - x.mean(dim=0, keepdim=True)


def _hsic(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # ||Y^T X||_F^2 equals <X X^T, Y Y^T>_F; use whichever side is smaller.
    n, p, q = x.shape[0], x.shape[1], y.shape[1]
    if n < p * q / max(p + q, 1):
        return (torch.mm(x, x.t()) * torch.mm(y, y.t())).sum()
    return torch.linalg.matrix_norm(torch.mm(y.t(), x)) ** 2


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between two sets of features of the same inputs.

    Args:
        x: ``(n, p)`` features (more dimensions are flattened after the first).
        y: ``(n, q)`` features of the same ``n`` inputs, in the same order.

    Returns:
        CKA in ``[0, 1]``, or NaN (with a warning) if either side is constant over the inputs.

    Raises:
        ValueError: If the two sides have different numbers of rows, or fewer than two.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs features of the same inputs: got {x.shape[0]} and {y.shape[0]} rows")
    if x.shape[0] < 2:
        raise ValueError("CKA needs at least two inputs")
    xc, yc = _centred(x), _centred(y)
    xy = _hsic(xc, yc)
    xx = _hsic(xc, xc)
    yy = _hsic(yc, yc)
    denom = torch.sqrt(xx * yy)
    if float(denom) <= 0.0 or not math.isfinite(float(denom)):
        warnings.warn("linear CKA is undefined for features that are constant over the inputs; returning NaN", stacklevel=2)
        return float("nan")
    return float((xy / denom).clamp(0.0, 1.0))


def cka_matrix(features_a: Sequence[torch.Tensor], features_b: Sequence[torch.Tensor]) -> torch.Tensor:
    """CKA of every pair of feature matrices: entry ``[i, j]`` is ``CKA(features_a[i], features_b[j])``.

    Args:
        features_a: Feature matrices of the first series, all of the same inputs.
        features_b: Feature matrices of the second series.

    Returns:
        ``(len(features_a), len(features_b))`` float64 tensor.
    """
    out = torch.empty(len(features_a), len(features_b), dtype=torch.float64)
    for i, fa in enumerate(features_a):
        for j, fb in enumerate(features_b):
            out[i, j] = linear_cka(fa, fb)
    return out


def final_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pooled final-layer features of a timm model: the input of its classifier.

    Args:
        model: A timm model (with ``forward_features`` and ``forward_head``).
        x: Input batch.

    Returns:
        ``(batch, features)`` tensor.

    Raises:
        UserError: If the model lacks the timm feature API.
    """
    if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
        raise UserError(f"{type(model).__name__} has no forward_features/forward_head; CKA needs a timm model")
    feats = model.forward_head(model.forward_features(x), pre_logits=True)
    return feats.reshape(feats.shape[0], -1)


@torch.no_grad()
def extract_features(
    model: nn.Module,
    evalset: EvalSet,
    *,
    batch_size: int = 128,
    device: Union[str, torch.device] = "cpu",
    fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] = final_features,
    on_batch: Optional[Callable[[], None]] = None,
) -> torch.Tensor:
    """Features of every image of ``evalset``, in order.

    Args:
        model: The model (put in eval mode).
        evalset: The images (fed as they are: original, unfiltered).
        batch_size: Images per forward pass.
        device: Where to run.
        fn: Feature function of ``(model, batch)``; default :func:`final_features`.
        on_batch: Called after each batch.

    Returns:
        ``(n, d)`` float32 features on the CPU.
    """
    device = torch.device(device)
    model.eval()
    chunks = []
    for x, _ in evalset.batches(batch_size):
        chunks.append(fn(model, x.to(device)).float().cpu())
        if on_batch is not None:
            on_batch()
    return torch.cat(chunks)


@dataclass
class CKAResult:
    """CKA between the checkpoints of two series.

    Attributes:
        matrix: ``(len(a), len(b))`` CKA values; ``matrix[i, j]`` compares ``a[i]`` with ``b[j]``.
        a: Checkpoints of the first series: dicts with ``label``, ``epoch``, ``cost``, ``path``.
        b: Checkpoints of the second series.
        meta: The evaluation set and what was compared.
    """

    matrix: torch.Tensor
    a: list[dict[str, Any]]
    b: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        """The matrix as text: one row per checkpoint of ``a``, one column per checkpoint of ``b``."""
        return format_table(
            ["A \\ B"] + [c["label"] for c in self.b],
            [[ca["label"]] + [float(v) for v in self.matrix[i]] for i, ca in enumerate(self.a)],
            digits=3,
        )

    def rows(self) -> list[dict[str, Any]]:
        """Long format: one dict per pair."""
        return [
            {
                "a": ca["label"], "a_epoch": ca["epoch"], "a_cost": ca["cost"],
                "b": cb["label"], "b_epoch": cb["epoch"], "b_cost": cb["cost"],
                "cka": float(self.matrix[i, j]), "a_path": ca["path"], "b_path": cb["path"],
            }
            for i, ca in enumerate(self.a)
            for j, cb in enumerate(self.b)
        ]  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``meta``, ``a``, ``b`` and ``matrix`` (a list of rows)."""
        return {"meta": self.meta, "a": self.a, "b": self.b, "matrix": self.matrix.tolist()}

    def to_csv(self, path: PathLike) -> Path:
        """Write :meth:`rows` as CSV."""
        return write_csv(self.rows(), path)

    def to_json(self, path: PathLike) -> Path:
        """Write :meth:`to_dict` as JSON."""
        return write_json(self.to_dict(), path)


def cka_series(
    series_a: Sequence[PathLike],
    series_b: Sequence[PathLike],
    evalset: EvalSet,
    *,
    model: Optional[str] = None,
    num_classes: Optional[int] = None,
    ema: bool = False,
    batch_size: int = 128,
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
) -> CKAResult:
    """CKA of final-layer features between every checkpoint of ``series_a`` and of ``series_b``.

    Features are extracted once per checkpoint (one model in memory at a time) and the matrix
    is formed from them. A checkpoint in both series is evaluated once.

    Args:
        series_a: Checkpoint files and run directories of the first series (the heatmap's x axis).
        series_b: The second series (y axis).
        evalset: The images, the same for every model.
        model: timm name for files that do not carry one.
        num_classes: Class count for files that do not carry one.
        ema: Use the EMA weights of runner checkpoints.
        batch_size: Images per forward pass.
        device: Where to run.
        progress: Show a progress bar.

    Returns:
        The :class:`CKAResult`.

    Raises:
        UserError: On missing or unreadable checkpoints.
    """
    paths_a = resolve_checkpoints(series_a)
    paths_b = resolve_checkpoints(series_b)
    unique = list(dict.fromkeys(paths_a + paths_b))
    evalset.cache()

    def features(lm: LoadedModel, on_batch: Optional[Callable[[], None]]) -> torch.Tensor:
        return extract_features(lm.model, evalset, batch_size=batch_size, device=device, on_batch=on_batch)

    done = for_each_model(
        unique, features, batches_per_model=evalset.num_batches(batch_size), desc="features for CKA",
        model=model, num_classes=num_classes, ema=ema, device=device, progress=progress,
    )  # fmt: skip
    info = {path: lm for path, (lm, _) in zip(unique, done)}
    feats = {path: f for path, (_, f) in zip(unique, done)}
    matrix = cka_matrix([feats[p] for p in paths_a], [feats[p] for p in paths_b])
    meta = {**evalset.describe(), "features": "final layer (pre-logits)", "cka": "linear"}
    return CKAResult(matrix, series_info([info[p] for p in paths_a]), series_info([info[p] for p in paths_b]), meta)
