"""Curricula: pure functions from training progress to the settings of that moment.

A :class:`Curriculum` is a staircase of stages over continuous training progress, measured in
epochs (``0 <= progress <= epochs``; fractional values fall inside an epoch). Each stage has an
input size ``B`` for the low-frequency crop, and optionally its own RandAugment magnitude;
otherwise the magnitude follows the curriculum's rule:

* ``linear``: ``m = max_magnitude * t / T`` with ``t`` the current epoch counted from 1
  (Table 5: ``m = (t/T) * 9``), constant within an epoch;
* ``constant``: ``m = max_magnitude`` throughout (the baseline recipe).

Because a curriculum holds no state, the same call gives the same answer on every rank, in
every data-loader worker and after a resume.

Factories: :func:`efficienttrain` (Table 5 and 8), :func:`efficienttrain_pp` (EfficientTrain++),
:func:`linear` (Table 13c), :func:`constant` (the baseline), :func:`load_curriculum` (a YAML or JSON
file), and :func:`create_curriculum`, which picks one by name.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import yaml

__all__ = [
    "Stage",
    "Settings",
    "Curriculum",
    "efficienttrain",
    "efficienttrain_pp",
    "linear",
    "constant",
    "load_curriculum",
    "create_curriculum",
    "list_curricula",
    "ETPP_FAMILIES",
    "etpp_family_for_model",
    "round_size",
]

MAGNITUDE_RULES = ("linear", "constant")
DEFAULT_MAX_MAGNITUDE = 9.0

# EfficientTrain++ stage tables: (size at final size 224, number of tenths of the budget).
ETPP_FAMILIES: dict[str, tuple[tuple[int, int], ...]] = {
    "resnet": ((96, 2), (160, 4), (224, 4)),
    "swin": ((96, 2), (160, 4), (224, 4)),
    "cswin": ((96, 2), (160, 4), (224, 4)),
    "deit": ((96, 2), (160, 4), (192, 2), (224, 2)),
    "convnext": ((160, 6), (224, 4)),
}
_ETPP_PREFIXES = (
    ("cswin", "cswin"),
    ("swin", "swin"),
    ("convnext", "convnext"),
    ("deit", "deit"),
    ("vit", "deit"),
    ("resnet", "resnet"),
    ("resnext", "resnet"),
)

_EPS = 1e-9


@dataclass(frozen=True)
class Stage:
    """One step of the staircase: ``size`` from ``start`` up to (not including) ``end`` epochs.

    Args:
        start: Progress, in epochs, where the stage begins.
        end: Progress, in epochs, where it ends.
        size: Input size ``B`` (square) during the stage.
        magnitude: RandAugment magnitude for the whole stage, or ``None`` to follow the
            curriculum's magnitude rule.
    """

    start: float
    end: float
    size: int
    magnitude: Optional[float] = None

    @property
    def epochs(self) -> float:
        """Length of the stage in epochs."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict, omitting an unset magnitude."""
        out: dict[str, Any] = {"start": _clean_number(self.start), "end": _clean_number(self.end), "size": self.size}
        if self.magnitude is not None:
            out["magnitude"] = _clean_number(self.magnitude)
        return out


@dataclass(frozen=True)
class Settings:
    """What the curriculum prescribes at one moment of training.

    Attributes:
        size: Input size ``B`` for the low-frequency crop (square).
        magnitude: RandAugment magnitude.
        stage: Index of the current stage, from 0.
        epoch: Current epoch counted from 1.
        progress: The progress (in epochs) these settings were computed for.
    """

    size: int
    magnitude: float
    stage: int
    epoch: int
    progress: float

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (for logs and checkpoints)."""
        return asdict(self)


def _clean_number(value: float) -> Union[int, float]:
    return int(round(value)) if abs(value - round(value)) < _EPS else round(float(value), 6)


def round_size(size: float, multiple_of: int = 1, final_size: Optional[int] = None) -> int:
    """Round a size to the nearest multiple of ``multiple_of``, never above ``final_size``.

    Args:
        size: The unrounded size.
        multiple_of: Rounding quantum (e.g. 32 for Swin windows, 16 for ViT patches).
        final_size: Upper bound; the result is rounded down to a multiple below it if needed.

    Returns:
        The rounded size, at least ``multiple_of``.

    Raises:
        ValueError: If ``multiple_of`` is not positive.
    """
    if multiple_of < 1:
        raise ValueError(f"multiple_of must be a positive integer, got {multiple_of}")
    out = int(math.floor(size / multiple_of + 0.5)) * multiple_of
    if final_size is not None and out > final_size:
        out = (final_size // multiple_of) * multiple_of
    return max(out, multiple_of)


class Curriculum:
    """A staircase of input sizes and a RandAugment magnitude rule over training progress.

    Args:
        stages: Stages in time order; the first starts at 0, each starts where the previous
            ends, and the last ends at the total number of epochs. The last stage must use
            ``final_size``, so the model finishes on full images.
        final_size: Input size at the end of training and at evaluation. Defaults to the last
            stage's size.
        magnitude: Rule for stages without their own magnitude: ``linear`` or ``constant``.
        max_magnitude: ``m0``, the magnitude reached at the end (``linear``) or used throughout
            (``constant``).
        name: Label used in tables, logs and plots.
        budget: For budgeted curricula (EfficientTrain++), the compute budget in epochs at the
            final size; informational.

    Raises:
        ValueError: If the stages are empty, out of order, leave gaps or overlap, have
            non-positive sizes, sizes above ``final_size``, negative values, or the last stage
            is not at ``final_size``; or if the magnitude settings are invalid.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        final_size: Optional[int] = None,
        magnitude: str = "linear",
        max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
        name: str = "custom",
        budget: Optional[float] = None,
    ) -> None:
        stages = tuple(stages)
        if not stages:
            raise ValueError("a curriculum needs at least one stage")
        if final_size is None:
            final_size = stages[-1].size
        _validate(stages, int(final_size), magnitude, max_magnitude)
        self.stages: tuple[Stage, ...] = stages
        self.final_size = int(final_size)
        self.magnitude = magnitude
        self.max_magnitude = float(max_magnitude)
        self.name = name
        self.budget = budget

    # -- evaluation -------------------------------------------------------------------------
    @property
    def epochs(self) -> float:
        """Total length of the curriculum in epochs (may be fractional)."""
        return self.stages[-1].end

    @property
    def num_epochs(self) -> int:
        """Number of (possibly partial) epochs a training loop runs: ``ceil(epochs)``."""
        return int(math.ceil(self.epochs - _EPS))

    @property
    def sizes(self) -> list[int]:
        """Distinct sizes in order of first use."""
        seen: list[int] = []
        for stage in self.stages:
            if stage.size not in seen:
                seen.append(stage.size)
        return seen

    def stage_index(self, progress: float) -> int:
        """Return the index of the stage in effect at ``progress`` epochs."""
        p = min(max(float(progress), 0.0), self.epochs)
        for i, stage in enumerate(self.stages):
            if p < stage.end - _EPS:
                return i
        return len(self.stages) - 1

    def __call__(self, progress: float) -> Settings:
        """Return the settings at ``progress`` epochs of training.

        Args:
            progress: Epochs completed so far; fractional values lie within an epoch. Values
                outside ``[0, epochs]`` are clamped.

        Returns:
            The :class:`Settings` in effect.
        """
        if math.isnan(progress):
            raise ValueError("progress must be a number, got NaN")
        p = min(max(float(progress), 0.0), self.epochs)
        index = self.stage_index(p)
        stage = self.stages[index]
        epoch = min(int(math.floor(p + _EPS)) + 1, self.num_epochs)
        if stage.magnitude is not None:
            mag = stage.magnitude
        elif self.magnitude == "constant":
            mag = self.max_magnitude
        else:
            mag = self.max_magnitude * min(epoch / self.epochs, 1.0)
        return Settings(size=stage.size, magnitude=float(mag), stage=index, epoch=epoch, progress=p)

    settings = __call__

    def at_epoch(self, epoch: int) -> Settings:
        """Settings at the start of ``epoch`` (counted from 0), for loops that change per epoch."""
        return self(float(epoch))

    # -- derived curricula ------------------------------------------------------------------
    def scaled(
        self,
        epochs: Optional[float] = None,
        final_size: Optional[int] = None,
        multiple_of: int = 1,
    ) -> "Curriculum":
        """Port the schedule to another length and/or final size by linear scaling.

        Epoch boundaries scale by ``epochs / self.epochs``; sizes scale by
        ``final_size / self.final_size`` and are rounded with :func:`round_size`. (For the
        paper's schedule at final sizes above 224, prefer :func:`efficienttrain`, which uses
        Table 8's rule ``160, (160 + gamma) / 2, gamma``.)

        Args:
            epochs: New total length, default unchanged.
            final_size: New final size, default unchanged.
            multiple_of: Rounding quantum for the scaled sizes.

        Returns:
            A new curriculum.
        """
        t_scale = (epochs / self.epochs) if epochs is not None else 1.0
        new_final = int(final_size) if final_size is not None else self.final_size
        s_scale = new_final / self.final_size
        stages = []
        for st in self.stages:
            size = new_final if st.size == self.final_size else round_size(st.size * s_scale, multiple_of, new_final)
            stages.append(Stage(st.start * t_scale, st.end * t_scale, size, st.magnitude))
        return Curriculum(
            _merge(stages),
            final_size=new_final,
            magnitude=self.magnitude,
            max_magnitude=self.max_magnitude,
            name=self.name,
            budget=self.budget * t_scale if self.budget is not None else None,
        )

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return a plain, JSON/YAML-ready description that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {
            "name": self.name,
            "epochs": _clean_number(self.epochs),
            "final_size": self.final_size,
            "magnitude": self.magnitude,
            "max_magnitude": _clean_number(self.max_magnitude),
            "stages": [s.to_dict() for s in self.stages],
        }
        if self.budget is not None:
            out["budget"] = _clean_number(self.budget)
        return out

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "Curriculum":
        """Build a curriculum from a dict such as :meth:`to_dict` returns.

        Stages take ``size`` and ``end`` (cumulative epochs; ``start`` is optional and must
        match the previous stage's end). Instead of ``end`` a stage may give ``epochs`` (its
        length). Top-level ``epochs`` is optional and must equal the last stage's end.

        Args:
            spec: The description.

        Returns:
            The curriculum.

        Raises:
            ValueError: On unknown keys, missing fields or an invalid schedule.
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"a curriculum spec must be a mapping, got {type(spec).__name__}")
        allowed = {"name", "epochs", "final_size", "magnitude", "max_magnitude", "stages", "budget"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown curriculum key(s) {sorted(unknown)}; allowed keys are {sorted(allowed)}")
        raw = spec.get("stages")
        if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)) or not raw:
            raise ValueError("a curriculum spec needs a non-empty 'stages' list, e.g. [{end: 180, size: 160}, ...]")
        stages: list[Stage] = []
        cursor = 0.0
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise ValueError(f"stage {i + 1} must be a mapping with 'size' and 'end', got {item!r}")
            extra = set(item) - {"start", "end", "epochs", "size", "magnitude"}
            if extra:
                raise ValueError(f"stage {i + 1} has unknown key(s) {sorted(extra)}; use start, end, epochs, size, magnitude")
            if "size" not in item:
                raise ValueError(f"stage {i + 1} is missing 'size'")
            start = float(item.get("start", cursor))
            if "end" in item:
                end = float(item["end"])
            elif "epochs" in item:
                end = start + float(item["epochs"])
            else:
                raise ValueError(f"stage {i + 1} needs 'end' (cumulative epochs) or 'epochs' (its length)")
            size = item["size"]
            if isinstance(size, bool) or not isinstance(size, (int, float)) or int(size) != size:
                raise ValueError(f"stage {i + 1}: size must be an integer, got {size!r}")
            mag = item.get("magnitude")
            stages.append(Stage(start, end, int(size), None if mag is None else float(mag)))
            cursor = end
        if "epochs" in spec and abs(float(spec["epochs"]) - stages[-1].end) > 1e-6:
            raise ValueError(
                f"'epochs' is {spec['epochs']} but the last stage ends at {_clean_number(stages[-1].end)}; "
                "make them agree (or drop 'epochs')"
            )
        return cls(
            stages,
            final_size=spec.get("final_size"),
            magnitude=spec.get("magnitude", "linear"),
            max_magnitude=float(spec.get("max_magnitude", DEFAULT_MAX_MAGNITUDE)),
            name=str(spec.get("name", "custom")),
            budget=spec.get("budget"),
        )

    def to_yaml(self) -> str:
        """Return the YAML form of :meth:`to_dict`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: Union[str, Path]) -> None:
        """Write the curriculum to ``path`` as JSON (``.json``) or YAML (anything else)."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if path.suffix == ".json" else self.to_yaml()
        path.write_text(text)

    # -- display ----------------------------------------------------------------------------
    def epoch_range(self, stage: Stage) -> str:
        """Human-readable epoch range of a stage: ``1-180`` style when boundaries are whole."""
        if _is_whole(stage.start) and _is_whole(stage.end):
            return f"{int(round(stage.start)) + 1}-{int(round(stage.end))}"
        return f"{stage.start:.2f}-{stage.end:.2f}"

    def magnitude_range(self, stage: Stage) -> str:
        """Human-readable magnitude of a stage (a range under the linear rule)."""
        first = self(stage.start).magnitude
        last = self(max(stage.end - 1e-6, stage.start)).magnitude
        return f"{first:.2f}" if abs(first - last) < 1e-9 else f"{first:.2f}-{last:.2f}"

    def table(self, cost: Optional[Callable[[int], float]] = None) -> str:
        """Render the stages as a text table.

        Args:
            cost: Optional per-image cost function of the size; adds each stage's share of the
                cost relative to training the whole time at the final size.

        Returns:
            The table, one line per stage, with a header.
        """
        rule = "per stage" if any(s.magnitude is not None for s in self.stages) else self.magnitude
        head = (
            f"{self.name}: {_fmt(self.epochs)} epochs, final size {self.final_size}, "
            f"RandAugment magnitude {rule} (m0={_clean_number(self.max_magnitude)})"
        )
        cols = ["stage", "epochs", "length", "B", "magnitude"] + (["cost share"] if cost else [])
        rows = []
        ref = cost(self.final_size) * self.epochs if cost else None
        for i, st in enumerate(self.stages):
            row = [str(i + 1), self.epoch_range(st), _fmt(st.epochs), str(st.size), self.magnitude_range(st)]
            if cost and ref:
                row.append(f"{cost(st.size) * st.epochs / ref:.3f}")
            rows.append(row)
        widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [head, fmt.format(*cols), fmt.format(*("-" * w for w in widths))]
        lines += [fmt.format(*r) for r in rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        stages = ", ".join(f"{_clean_number(s.end)}:{s.size}" for s in self.stages)
        return f"Curriculum(name={self.name!r}, epochs={_clean_number(self.epochs)}, stages=[{stages}], magnitude={self.magnitude!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Curriculum) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))


def _fmt(value: float) -> str:
    return str(int(round(value))) if _is_whole(value) else f"{value:.2f}"


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < 1e-6


def _validate(stages: Sequence[Stage], final_size: int, magnitude: str, max_magnitude: float) -> None:
    if final_size <= 0:
        raise ValueError(f"final_size must be positive, got {final_size}")
    if magnitude not in MAGNITUDE_RULES:
        raise ValueError(f"magnitude rule must be one of {MAGNITUDE_RULES}, got {magnitude!r}")
    if not (max_magnitude >= 0 and math.isfinite(max_magnitude)):
        raise ValueError(f"max_magnitude must be a non-negative number, got {max_magnitude}")
    if abs(stages[0].start) > 1e-9:
        raise ValueError(f"the first stage must start at epoch 0, not {stages[0].start}")
    prev_end = 0.0
    for i, st in enumerate(stages, start=1):
        for label, value in (("start", st.start), ("end", st.end)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"stage {i}: {label} must be a non-negative number, got {value}")
        if st.end <= st.start:
            raise ValueError(
                f"stage {i} ends at {_clean_number(st.end)} but starts at {_clean_number(st.start)}; "
                "stages must be listed in time order with positive length"
            )
        if abs(st.start - prev_end) > 1e-6:
            kind = "gap" if st.start > prev_end else "overlap"
            raise ValueError(
                f"{kind} between stage {i - 1} (ends at {_clean_number(prev_end)}) and stage {i} "
                f"(starts at {_clean_number(st.start)}); each stage must start where the previous one ends"
            )
        if st.size <= 0:
            raise ValueError(f"stage {i}: size must be positive, got {st.size}")
        if st.size > final_size:
            raise ValueError(
                f"stage {i}: size {st.size} is above the final size {final_size}; the low-frequency crop "
                "can only shrink images (lower the size or raise final_size)"
            )
        if st.magnitude is not None and not (st.magnitude >= 0 and math.isfinite(st.magnitude)):
            raise ValueError(f"stage {i}: magnitude must be a non-negative number, got {st.magnitude}")
        prev_end = st.end
    if stages[-1].size != final_size:
        raise ValueError(
            f"the last stage uses size {stages[-1].size}, not the final size {final_size}; "
            "a curriculum must end on full-size images (add a final stage at the final size)"
        )


def _merge(stages: Sequence[Stage]) -> list[Stage]:
    """Merge neighbouring stages with equal size and magnitude."""
    out: list[Stage] = []
    for st in stages:
        if out and out[-1].size == st.size and out[-1].magnitude == st.magnitude:
            out[-1] = Stage(out[-1].start, st.end, st.size, st.magnitude)
        else:
            out.append(st)
    return out


def _check_epochs(epochs: float) -> float:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not epochs > 0 or not math.isfinite(epochs):
        raise ValueError(f"epochs must be a positive number, got {epochs!r}")
    return float(epochs)


def _check_final_size(final_size: int) -> int:
    if isinstance(final_size, bool) or not isinstance(final_size, int) or final_size <= 0:
        raise ValueError(f"final_size must be a positive integer, got {final_size!r}")
    return final_size


def efficienttrain(
    epochs: float = 300,
    final_size: int = 224,
    *,
    multiple_of: int = 1,
    max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
    magnitude: str = "linear",
) -> Curriculum:
    """The EfficientTrain curriculum (Table 5), scaled to any length and final size (Table 8).

    At 300 epochs and final size 224: ``B = 160`` for epochs 1-180, 192 for 181-240 and 224 for
    241-300, with ``m = (t / T) * 9``. Other lengths scale the stage boundaries (60% and 80% of
    training). For a final size ``gamma >= 224`` the sizes are ``160, (160 + gamma) / 2, gamma``
    (Table 8c). For ``gamma < 224`` (not covered by the paper) they scale in proportion:
    ``160 * gamma / 224, 192 * gamma / 224, gamma``, which keeps the relative cost at 0.653.

    Args:
        epochs: Total training epochs ``T`` (fractional boundaries are kept exact).
        final_size: Final input size ``gamma``.
        multiple_of: Round the smaller sizes to a multiple of this (32 for Swin, 16 for ViT),
            never above ``final_size``.
        max_magnitude: ``m0``, the RandAugment magnitude at the end.
        magnitude: ``linear`` (the paper) or ``constant`` (crop-only ablation, Table 13a).

    Returns:
        The curriculum.

    Raises:
        ValueError: On non-positive epochs or sizes.
    """
    t = _check_epochs(epochs)
    g = _check_final_size(final_size)
    if g >= 224:
        raw = (160.0, (160.0 + g) / 2.0)
    else:
        raw = (160.0 * g / 224.0, 192.0 * g / 224.0)
    s1, s2 = (round_size(s, multiple_of, g) for s in raw)
    stages = [Stage(0.0, 0.6 * t, s1), Stage(0.6 * t, 0.8 * t, s2), Stage(0.8 * t, t, g)]
    return Curriculum(_merge(stages), final_size=g, magnitude=magnitude, max_magnitude=max_magnitude, name="efficienttrain")


def etpp_family_for_model(model_name: str) -> str:
    """Map a timm model name to an EfficientTrain++ family (``resnet`` when unknown).

    Args:
        model_name: e.g. ``deit_small_patch16_224`` or ``convnext_tiny``.

    Returns:
        One of the keys of :data:`ETPP_FAMILIES`.
    """
    name = model_name.lower()
    for prefix, family in _ETPP_PREFIXES:
        if name.startswith(prefix):
            return family
    return "resnet"


def efficienttrain_pp(
    budget: float = 300,
    final_size: int = 224,
    *,
    family: str = "resnet",
    multiple_of: int = 1,
    round_epochs: bool = False,
) -> Curriculum:
    """The budgeted 10-stage schedule of EfficientTrain++ for a model family.

    The budget is split into ten equal parts. Part ``i`` (from 0) uses RandAugment magnitude
    ``i`` and the family's size for that part; at size ``B`` it lasts
    ``(final_size / B)^2 * budget / 10`` epochs, so every part costs the same under the pixel
    model and the whole run costs ``budget`` epochs at the final size. Sizes scale in
    proportion to ``final_size / 224``.

    Args:
        budget: Compute budget in epochs at the final size.
        final_size: Final input size.
        family: ``resnet``, ``swin``, ``cswin``, ``deit`` or ``convnext``.
        multiple_of: Rounding quantum for the sizes.
        round_epochs: Round stage boundaries to whole epochs (the total cost then differs
            slightly from the budget).

    Returns:
        The curriculum; its ``epochs`` exceeds the budget, its ``budget`` attribute is set.

    Raises:
        ValueError: On an unknown family or invalid numbers.
    """
    b = _check_epochs(budget)
    g = _check_final_size(final_size)
    if family not in ETPP_FAMILIES:
        raise ValueError(f"unknown EfficientTrain++ family {family!r}; choose one of {', '.join(ETPP_FAMILIES)}")
    sizes: list[int] = []
    for size224, tenths in ETPP_FAMILIES[family]:
        size = g if size224 == 224 else round_size(size224 * g / 224.0, multiple_of, g)
        sizes += [size] * tenths
    stages = []
    cursor = 0.0
    for i, size in enumerate(sizes):
        end = cursor + (g / size) ** 2 * b / 10.0
        stages.append((cursor, end, size, float(i)))
        cursor = end
    if round_epochs:
        bounds = [0.0] + [float(max(round(e), 1)) for _, e, _, _ in stages]
        for i in range(1, len(bounds)):
            bounds[i] = max(bounds[i], bounds[i - 1] + 1)
        stages = [(bounds[i], bounds[i + 1], s, m) for i, (_, _, s, m) in enumerate(stages)]
    return Curriculum(
        [Stage(a, e, s, m) for a, e, s, m in stages],
        final_size=g,
        magnitude="linear",
        max_magnitude=9.0,
        name=f"efficienttrain++ ({family})",
        budget=b,
    )


def _pixel_relative_cost(stages: Sequence[Stage], final_size: int) -> float:
    total = stages[-1].end
    return sum(st.epochs * (st.size / final_size) ** 2 for st in stages) / total


def linear(
    epochs: float = 300,
    final_size: int = 224,
    *,
    start_size: Optional[int] = None,
    multiple_of: int = 1,
    target_cost: Optional[float] = None,
    max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
) -> Curriculum:
    """Progressive-learning baseline (Table 13c): ``B`` grows linearly, one size per epoch.

    Epoch ``e`` (from 0) of ``n = ceil(epochs)`` uses
    ``round(start + (final - start) * e / (n - 1))``. When ``start_size`` is not given it is
    chosen so that the pixel cost matches ``target_cost`` (by default EfficientTrain's cost for
    the same length and final size), which is how the paper compares the two at equal cost.

    Args:
        epochs: Total epochs.
        final_size: Final input size.
        start_size: Size of the first epoch; solved for when ``None``.
        multiple_of: Rounding quantum for the per-epoch sizes.
        target_cost: Relative pixel cost to match when solving for ``start_size``.
        max_magnitude: ``m0`` of the linear RandAugment ramp.

    Returns:
        The curriculum, with neighbouring equal sizes merged into one stage.

    Raises:
        ValueError: On invalid numbers or a ``start_size`` above ``final_size``.
    """
    t = _check_epochs(epochs)
    g = _check_final_size(final_size)
    n = int(math.ceil(t - _EPS))

    def build(start: float) -> list[Stage]:
        out = []
        for e in range(n):
            frac = e / (n - 1) if n > 1 else 1.0
            size = g if e == n - 1 else round_size(start + (g - start) * frac, multiple_of, g)
            out.append(Stage(float(e), min(float(e + 1), t), size))
        return _merge(out)

    if start_size is None:
        target = target_cost if target_cost is not None else _pixel_relative_cost(efficienttrain(t, g).stages, g)
        best = min(range(1, g + 1), key=lambda s: abs(_pixel_relative_cost(build(float(s)), g) - target))
        start = float(best)
    else:
        if not 0 < start_size <= g:
            raise ValueError(f"start_size must be between 1 and the final size {g}, got {start_size}")
        start = float(start_size)
    return Curriculum(build(start), final_size=g, magnitude="linear", max_magnitude=max_magnitude, name="linear")


def constant(epochs: float = 300, final_size: int = 224, *, max_magnitude: float = DEFAULT_MAX_MAGNITUDE) -> Curriculum:
    """The baseline: the final size and the full RandAugment magnitude throughout.

    Args:
        epochs: Total epochs.
        final_size: Input size.
        max_magnitude: Constant RandAugment magnitude.

    Returns:
        A one-stage curriculum.
    """
    t = _check_epochs(epochs)
    g = _check_final_size(final_size)
    return Curriculum([Stage(0.0, t, g)], final_size=g, magnitude="constant", max_magnitude=max_magnitude, name="baseline")


def load_curriculum(path: Union[str, Path]) -> Curriculum:
    """Read a curriculum from a YAML or JSON file (see :meth:`Curriculum.from_dict`).

    Args:
        path: File path.

    Returns:
        The curriculum.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file cannot be parsed or describes an invalid schedule.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"curriculum file not found: {path}")
    text = path.read_text()
    try:
        spec = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"cannot parse curriculum file {path}: {str(err).splitlines()[0]}") from None
    try:
        return Curriculum.from_dict(spec)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


_KINDS = ("efficienttrain", "efficienttrain++", "linear", "constant")
_ALIASES = {"et": "efficienttrain", "et++": "efficienttrain++", "etpp": "efficienttrain++", "baseline": "constant", "none": "constant"}


def list_curricula() -> list[str]:
    """Names accepted by :func:`create_curriculum` (besides a file path)."""
    return list(_KINDS)


def create_curriculum(
    kind: str = "efficienttrain",
    epochs: Optional[float] = None,
    final_size: Optional[int] = None,
    *,
    multiple_of: int = 1,
    family: Optional[str] = None,
    model: Optional[str] = None,
    max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
) -> Curriculum:
    """Create a curriculum by name, or load one from a file and port it.

    Args:
        kind: ``efficienttrain``, ``efficienttrain++``, ``linear``, ``constant`` (alias
            ``none``/``baseline``), or the path of a YAML/JSON file.
        epochs: Total epochs (for ``efficienttrain++``: the budget); default 300. For a file,
            ``None`` keeps its length and a number rescales it.
        final_size: Final input size, default 224; for a file, ``None`` keeps its own.
        multiple_of: Rounding quantum for the smaller sizes.
        family: EfficientTrain++ family; inferred from ``model`` when omitted.
        model: timm model name, used to infer the EfficientTrain++ family.
        max_magnitude: RandAugment ``m0``.

    Returns:
        The curriculum.

    Raises:
        ValueError: On an unknown kind or invalid numbers.
        FileNotFoundError: If ``kind`` looks like a path that does not exist.
    """
    name = _ALIASES.get(kind.lower(), kind.lower())
    if name not in _KINDS:
        path = Path(kind)
        if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
            cur = load_curriculum(path)
            if epochs is not None or final_size is not None or multiple_of != 1:
                cur = cur.scaled(epochs=epochs, final_size=final_size, multiple_of=multiple_of)
            return cur
        raise ValueError(f"unknown curriculum {kind!r}; choose one of {', '.join(_KINDS)}, none, or a .yaml/.json file")
    epochs = 300 if epochs is None else epochs
    final_size = 224 if final_size is None else final_size
    if name == "efficienttrain":
        return efficienttrain(epochs, final_size, multiple_of=multiple_of, max_magnitude=max_magnitude)
    if name == "efficienttrain++":
        fam = family or (etpp_family_for_model(model) if model else "resnet")
        return efficienttrain_pp(epochs, final_size, family=fam, multiple_of=multiple_of)
    if name == "linear":
        return linear(epochs, final_size, multiple_of=multiple_of, max_magnitude=max_magnitude)
    return constant(epochs, final_size, max_magnitude=max_magnitude)

