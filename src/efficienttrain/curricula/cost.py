"""The pure cost models of a curriculum: per-image cost of a size, and its integral over stages.

* :func:`pixel_cost` (ConvNets): proportional to ``B^2``. The default EfficientTrain schedule costs
  0.653 of the baseline, a 1.53x speedup.
* :func:`token_cost` (ViTs): per-block FLOPs ``n * (12 d^2 + 2 n d)`` for ``n`` tokens of width
  ``d``: the linear layers plus attention's quadratic term. DeiT-Tiny/Small give the paper's
  1.59x/1.56x (Table 6).
* :func:`curriculum_cost` and :func:`cost_between` integrate any per-image cost over a
  curriculum's stages.

Nothing here needs a model or a device; cost models that do (a model's token shape, measured
step times, counted FLOPs) live in :mod:`efficienttrain.cost`, above the models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .schedule import Curriculum

__all__ = ["CostFunction", "CostReport", "pixel_cost", "token_cost", "curriculum_cost", "cost_between"]

CostFunction = Callable[[int], float]


def pixel_cost(size: int) -> float:
    """Per-image cost of a ConvNet at input size ``size``: the number of pixels.

    Args:
        size: Square input size.

    Returns:
        ``size ** 2``.
    """
    return float(size) ** 2


def token_cost(size: int, *, patch_size: int = 16, embed_dim: int = 384, num_prefix_tokens: int = 1) -> float:
    """Per-image FLOPs (up to a constant) of one ViT block at input size ``size``.

    A block with ``n`` tokens of width ``d`` spends ``12 n d^2`` on its linear layers (QKV,
    projection, a 4x MLP) and ``2 n^2 d`` on attention scores and their weighted sum.

    Args:
        size: Square input size.
        patch_size: Patch size of the embedding.
        embed_dim: Token width ``d``.
        num_prefix_tokens: Class and register tokens added to the patch tokens.

    Returns:
        The cost ``n * d * (12 d + 2 n)``.
    """
    n = (size // patch_size) ** 2 + num_prefix_tokens
    return float(n) * embed_dim * (12.0 * embed_dim + 2.0 * n)


@dataclass
class CostReport:
    """A curriculum's cost relative to the constant final size.

    Attributes:
        kind: Cost model used (``pixel``, ``tokens``, ``measured``).
        relative_cost: Cost divided by the cost of the same number of epochs at the final size.
        speedup: ``1 / relative_cost``: the theoretical speedup over that baseline.
        final_size_epochs: Total cost expressed in epochs at the final size.
        stage_costs: Each stage's share of the baseline cost (they sum to ``relative_cost``).
        cumulative: ``(progress, cumulative relative cost)`` points at stage boundaries, for plots.
        per_size: The per-image cost at each size, normalised to the final size.
    """

    kind: str
    relative_cost: float
    speedup: float
    final_size_epochs: float
    stage_costs: list[float]
    cumulative: list[tuple[float, float]] = field(default_factory=list)
    per_size: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {
            "kind": self.kind,
            "relative_cost": self.relative_cost,
            "speedup": self.speedup,
            "final_size_epochs": self.final_size_epochs,
            "stage_costs": self.stage_costs,
            "per_size": {str(k): v for k, v in self.per_size.items()},
        }


def curriculum_cost(curriculum: Curriculum, cost: Optional[CostFunction] = None, kind: str = "pixel") -> CostReport:
    """Integrate a per-image cost over a curriculum.

    Args:
        curriculum: The curriculum.
        cost: Per-image cost function of the size (default :func:`pixel_cost`).
        kind: Label for the report.

    Returns:
        The :class:`CostReport`.
    """
    cost = cost or pixel_cost
    ref = cost(curriculum.final_size)
    per_size = {s: cost(s) / ref for s in curriculum.sizes}
    total_epochs = curriculum.epochs
    stage_costs = [per_size[st.size] * st.epochs / total_epochs for st in curriculum.stages]
    relative = sum(stage_costs)
    cumulative = [(0.0, 0.0)]
    acc = 0.0
    for st, c in zip(curriculum.stages, stage_costs):
        acc += c
        cumulative.append((st.end, acc))
    return CostReport(
        kind=kind,
        relative_cost=relative,
        speedup=1.0 / relative,
        final_size_epochs=relative * total_epochs,
        stage_costs=stage_costs,
        cumulative=cumulative,
        per_size=per_size,
    )


def cost_between(curriculum: Curriculum, start: float, end: float, cost: Optional[CostFunction] = None) -> float:
    """Cost of training from ``start`` to ``end`` epochs, in epochs at the final size.

    Args:
        curriculum: The curriculum.
        start: Progress where the interval begins.
        end: Progress where it ends.
        cost: Per-image cost function (default :func:`pixel_cost`).

    Returns:
        ``sum over stages of overlap * cost(B) / cost(final)``.
    """
    cost = cost or pixel_cost
    ref = cost(curriculum.final_size)
    total = 0.0
    for st in curriculum.stages:
        overlap = min(end, st.end) - max(start, st.start)
        if overlap > 0:
            total += overlap * cost(st.size) / ref
    return total
