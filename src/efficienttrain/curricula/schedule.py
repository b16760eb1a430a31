"""Curricula as pure functions of training progress: stages, settings, and the Curriculum type.

A :class:`Curriculum` is a staircase of stages over continuous training progress, measured in
epochs (``0 <= progress <= epochs``; fractional values fall inside an epoch). Each stage has an
input size ``B`` for the low-frequency crop, and optionally its own RandAugment magnitude;
otherwise the magnitude follows the curriculum's *magnitude rule*:

* ``linear``: ``m = max_magnitude * t / T`` with ``t`` the current epoch counted from 1
  (Table 5: ``m = (t/T) * 9``), constant within an epoch;
* ``constant``: ``m = max_magnitude`` throughout (the baseline recipe).

Because a curriculum holds no state, the same call gives the same answer on every rank, in
every data-loader worker and after a resume. The factories that build the paper's curricula
live in :mod:`efficienttrain.curricula.factories`.
"""

from __future__ import annotations

import json
import math
import numbers
import reprlib
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import yaml

from ..limits import MAX_IMAGE_SIZE

__all__ = [
    "Stage",
    "Settings",
    "Curriculum",
    "round_size",
    "merge_stages",
    "MAGNITUDE_RULES",
    "DEFAULT_MAX_MAGNITUDE",
    "MAX_EPOCHS",
    "MAX_RANDAUGMENT_MAGNITUDE",
]

MAGNITUDE_RULES = ("linear", "constant")
# m0, the RandAugment magnitude of the paper's recipe (rand-m9-mstd0.5-inc1) and of every default here.
DEFAULT_MAX_MAGNITUDE = 9.0

# The longest curriculum a file may describe, in epochs (stage boundaries, lengths, 'epochs' and
# 'budget'). Real recipes run at most a few thousand epochs (MAE pre-trains for 1600); 100000 is far
# beyond any of them, yet it turns a unit mix-up (iterations typed as epochs) or a typo such as 1e308
# into an error at load time instead of a run, a table or a per-epoch loop that never ends.
MAX_EPOCHS = 100_000
# The largest RandAugment magnitude a file may give ('max_magnitude' and a stage's 'magnitude').
# timm's RandAugment caps magnitudes at 10 by default (its op levels are magnitude / 10) and lets
# 'mmax' raise the cap; the paper uses 9. 100, ten times the default scale, leaves room for such
# experiments while rejecting values that can only be mistakes.
MAX_RANDAUGMENT_MAGNITUDE = 100.0

_EPS = 1e-9
_TOP_KEYS = frozenset({"name", "epochs", "final_size", "magnitude", "max_magnitude", "stages", "budget"})
_STAGE_KEYS = frozenset({"start", "end", "epochs", "size", "magnitude"})

# Shows a bad value in an error message: bounded in length and nesting depth, so a huge or deeply
# nested value from a file still gives a short, one-line message (repr escapes line breaks).
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 2, 40, 40, 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


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
        magnitude_rule: Rule for stages without their own magnitude: ``linear`` or ``constant``.
        max_magnitude: ``m0``, the magnitude reached at the end (``linear``) or used throughout
            (``constant``).
        name: Label used in tables, logs and plots.
        budget: For budgeted curricula (EfficientTrain++), the compute budget in epochs at the
            final size; informational.
        magnitude: Deprecated name of ``magnitude_rule`` (kept for one release).

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
        magnitude_rule: str = "linear",
        max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
        name: str = "custom",
        budget: Optional[float] = None,
        magnitude: Optional[str] = None,
    ) -> None:
        if magnitude is not None:
            warnings.warn("Curriculum(magnitude=...) is deprecated; use magnitude_rule=...", DeprecationWarning, stacklevel=2)
            magnitude_rule = magnitude
        stages = tuple(stages)
        if not stages:
            raise ValueError("a curriculum needs at least one stage")
        if final_size is None:
            final_size = stages[-1].size
        _validate(stages, int(final_size), magnitude_rule, max_magnitude)
        self.stages: tuple[Stage, ...] = stages
        self.final_size = int(final_size)
        self.magnitude_rule = magnitude_rule
        self.max_magnitude = float(max_magnitude)
        self.name = name
        self.budget = budget

    @property
    def magnitude(self) -> str:
        """Deprecated name of :attr:`magnitude_rule` (a rule name, not a number)."""
        return self.magnitude_rule

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
        elif self.magnitude_rule == "constant":
            mag = self.max_magnitude
        else:
            mag = self.max_magnitude * min(epoch / self.epochs, 1.0)
        return Settings(size=stage.size, magnitude=float(mag), stage=index, epoch=epoch, progress=p)

    settings = __call__

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
            merge_stages(stages),
            final_size=new_final,
            magnitude_rule=self.magnitude_rule,
            max_magnitude=self.max_magnitude,
            name=self.name,
            budget=self.budget * t_scale if self.budget is not None else None,
        )

    def with_magnitude(self, rule: str, max_magnitude: Optional[float] = None) -> "Curriculum":
        """The same sizes under another magnitude rule (per-stage magnitudes are dropped).

        This is how the ablations are built: ``efficienttrain(...).with_magnitude("constant")`` is
        the crop without the RandAugment ramp, ``constant(...).with_magnitude("linear")`` the ramp
        without the crop.

        Args:
            rule: ``linear`` or ``constant``.
            max_magnitude: New ``m0`` (default: unchanged).

        Returns:
            A new curriculum named ``"<name> (magnitude <rule>)"``.
        """
        return Curriculum(
            [Stage(s.start, s.end, s.size) for s in self.stages],
            final_size=self.final_size,
            magnitude_rule=rule,
            max_magnitude=self.max_magnitude if max_magnitude is None else max_magnitude,
            name=f"{self.name} (magnitude {rule})",
            budget=self.budget,
        )

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return a plain, JSON/YAML-ready description that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {
            "name": self.name,
            "epochs": _clean_number(self.epochs),
            "final_size": self.final_size,
            "magnitude": self.magnitude_rule,
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

        Numbers must be YAML/JSON numbers, not strings or booleans, and finite. ``null`` is
        accepted only where the Python API takes ``None``: ``final_size`` (the last stage's
        size), ``budget`` (none) and a stage's ``magnitude`` (follow the magnitude rule).

        Args:
            spec: The description.

        Returns:
            The curriculum.

        Raises:
            ValueError: On unknown keys, missing fields, a field of the wrong type or out of
                range (see :data:`MAX_EPOCHS`, :data:`MAX_RANDAUGMENT_MAGNITUDE` and
                :data:`~efficienttrain.frequency.MAX_IMAGE_SIZE`), or an invalid schedule; the
                message is one line and names the field.
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"a curriculum spec must be a mapping with a 'stages' list, got {_show(spec)}")
        _check_keys(spec, _TOP_KEYS, "unknown curriculum key(s)", f"allowed keys are {sorted(_TOP_KEYS)}")
        raw = spec.get("stages")
        if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)) or not raw:
            got = f", got {_show(raw)}" if "stages" in spec else ""
            raise ValueError(f"a curriculum spec needs a non-empty 'stages' list, e.g. [{{end: 180, size: 160}}, ...]{got}")
        stages: list[Stage] = []
        cursor = 0.0
        for number, item in enumerate(raw, start=1):
            stages.append(_parse_stage(item, number, cursor))
            cursor = stages[-1].end
        options, epochs = _parse_options(spec)
        # Checked after the schedule itself, so a gap or overlap is reported as such rather than
        # as a total length that disagrees.
        cur = cls(stages, **options)
        if epochs is not None and abs(epochs - cur.epochs) > 1e-6:
            raise ValueError(
                f"'epochs' is {_clean_number(epochs)} but the last stage ends at {_clean_number(cur.epochs)}; "
                "make them agree (or drop 'epochs')"
            )
        return cur

    def to_yaml(self) -> str:
        """Return the YAML form of :meth:`to_dict`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: Union[str, Path]) -> None:
        """Write the curriculum to ``path`` as JSON (``.json``) or YAML (anything else); missing folders are made."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if path.suffix == ".json" else self.to_yaml()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    # -- display ----------------------------------------------------------------------------
    def epoch_range(self, stage: Stage) -> str:
        """A stage's span in epochs of training done, start to end: ``0-180``, ``180-240``, ``0-7.20``.

        One format for whole and fractional boundaries (a whole number prints without decimals).
        """
        return f"{_fmt(stage.start)}-{_fmt(stage.end)}"

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
        m0 = _clean_number(self.max_magnitude)
        if any(s.magnitude is not None for s in self.stages):
            magnitude = f"RandAugment magnitude set per stage, ending at {_clean_number(self.stages[-1].magnitude if self.stages[-1].magnitude is not None else self.max_magnitude)}"
        elif self.magnitude_rule == "linear":
            magnitude = f"RandAugment magnitude ramping linearly to m={m0}"
        else:
            magnitude = f"RandAugment magnitude constant at m={m0}"
        head = f"{self.name}: {_fmt(self.epochs)} epochs, final size {self.final_size}, {magnitude}"
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
        return f"Curriculum(name={self.name!r}, epochs={_clean_number(self.epochs)}, stages=[{stages}], magnitude_rule={self.magnitude_rule!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Curriculum) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))


def _fmt(value: float) -> str:
    return str(int(round(value))) if _is_whole(value) else f"{value:.2f}"


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < 1e-6


def _show(value: Any) -> str:
    """A short, one-line rendering of ``value`` for error messages."""
    return _REPR.repr(value)


def _number(value: Any, field: str, high: float, *, low: float = 0.0, above_low: bool = False, integer: bool = False) -> Union[int, float]:
    """Read one numeric field of a curriculum spec.

    Booleans, strings (even numeric-looking ones: YAML already reads unquoted numbers as numbers),
    ``None``, containers, NaN and infinities are rejected, as are values outside the bounds; huge
    integers are compared exactly, so they never overflow a float conversion.

    Args:
        value: The value from the spec.
        field: How the message names the field, e.g. ``"stage 2: 'epochs'"``.
        high: Largest valid value.
        low: Smallest valid value (excluded when ``above_low``).
        above_low: Whether ``low`` itself is invalid.
        integer: Whether the value must be whole (``224.0`` is accepted as ``224``).

    Returns:
        The value as an ``int`` (``integer``) or a ``float``.

    Raises:
        ValueError: One line naming the field, what is valid and what was given.
    """
    kind = "an integer" if integer else "a number"
    low_text = f"> {_clean_number(low)}" if above_low else f">= {_clean_number(low)}"
    expected = f"{field} must be {kind} {low_text} and <= {_clean_number(high)}, got {_show(value)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = " (write numbers without quotes)" if isinstance(value, str) else ""
        raise ValueError(expected + hint)
    if isinstance(value, numbers.Integral):
        number: Union[int, float] = int(value)
    else:
        number = float(value)
        if not math.isfinite(number) or (integer and not number.is_integer()):
            raise ValueError(expected)
    if number > high or number < low or (above_low and number == low):
        raise ValueError(expected)
    return int(number) if integer else float(number)


def _check_keys(spec: Mapping[Any, Any], allowed: frozenset[str], what: str, fix: str) -> None:
    """Raise a one-line ValueError listing the keys of ``spec`` outside ``allowed``."""
    unknown = sorted((_show(key) for key in spec if key not in allowed))
    if unknown:
        listed = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise ValueError(f"{what} [{listed}]; {fix}")


def _parse_stage(item: Any, number: int, cursor: float) -> Stage:
    """Read stage ``number`` (from 1) of a spec; ``cursor`` is where the previous stage ended."""
    where = f"stage {number}"
    if not isinstance(item, Mapping):
        raise ValueError(f"{where} of 'stages' must be a mapping with 'size' and 'end', got {_show(item)}")
    _check_keys(item, _STAGE_KEYS, f"{where} has unknown key(s)", "use start, end, epochs, size, magnitude")
    if "size" not in item:
        raise ValueError(f"{where} is missing 'size'")
    start = _number(item["start"], f"{where}: 'start'", MAX_EPOCHS) if "start" in item else cursor
    length = _number(item["epochs"], f"{where}: 'epochs'", MAX_EPOCHS, above_low=True) if "epochs" in item else None
    if "end" in item:
        end = _number(item["end"], f"{where}: 'end'", MAX_EPOCHS)
        if length is not None and abs(end - start - length) > 1e-6:
            raise ValueError(
                f"{where}: 'epochs' is {_clean_number(length)} but 'end' - 'start' is {_clean_number(end - start)}; "
                "give one of them or make them agree"
            )
    elif length is not None:
        end = start + length
        if end > MAX_EPOCHS:
            raise ValueError(f"{where}: ends at {_clean_number(end)} epochs ('start' + 'epochs'), above the limit of {MAX_EPOCHS}")
    else:
        raise ValueError(f"{where} needs 'end' (cumulative epochs) or 'epochs' (its length)")
    size = int(_number(item["size"], f"{where}: 'size'", MAX_IMAGE_SIZE, low=1, integer=True))
    mag = item.get("magnitude")
    magnitude = None if mag is None else _number(mag, f"{where}: 'magnitude'", MAX_RANDAUGMENT_MAGNITUDE)
    return Stage(start, end, size, magnitude)


def _parse_options(spec: Mapping[str, Any]) -> tuple[dict[str, Any], Optional[float]]:
    """Read the top-level fields of a spec other than ``stages``.

    Args:
        spec: The spec.

    Returns:
        The :class:`Curriculum` keywords (``final_size``, ``magnitude_rule``, ``max_magnitude``,
        ``name``, ``budget``) and the top-level ``epochs`` (``None`` when absent), which the
        caller compares with the schedule's length.
    """
    name = spec.get("name", "custom")
    if not isinstance(name, str) or not name.isprintable():
        raise ValueError(f"'name' must be a one-line string (quote it in YAML if it looks like a number), got {_show(name)}")
    rule = spec.get("magnitude", "linear")
    if not isinstance(rule, str) or rule not in MAGNITUDE_RULES:
        raise ValueError(
            f"'magnitude' (the magnitude rule) must be 'linear' or 'constant', got {_show(rule)}; "
            "a number goes in 'max_magnitude' or in a stage's 'magnitude'"
        )
    epochs = _number(spec["epochs"], "'epochs'", MAX_EPOCHS, above_low=True) if "epochs" in spec else None
    final_size, budget = spec.get("final_size"), spec.get("budget")
    options = {
        "final_size": None if final_size is None else _number(final_size, "'final_size'", MAX_IMAGE_SIZE, low=1, integer=True),
        "magnitude_rule": rule,
        "max_magnitude": _number(spec.get("max_magnitude", DEFAULT_MAX_MAGNITUDE), "'max_magnitude'", MAX_RANDAUGMENT_MAGNITUDE),
        "name": name,
        "budget": None if budget is None else _number(budget, "'budget'", MAX_EPOCHS, above_low=True),
    }
    return options, epochs


def _validate(stages: Sequence[Stage], final_size: int, magnitude_rule: str, max_magnitude: float) -> None:
    if final_size <= 0:
        raise ValueError(f"final_size must be positive, got {final_size}")
    if magnitude_rule not in MAGNITUDE_RULES:
        raise ValueError(f"magnitude rule must be one of {MAGNITUDE_RULES}, got {magnitude_rule!r}")
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


def merge_stages(stages: Sequence[Stage]) -> list[Stage]:
    """Merge neighbouring stages with equal size and magnitude into one.

    Args:
        stages: Stages in time order.

    Returns:
        The merged stages.
    """
    out: list[Stage] = []
    for st in stages:
        if out and out[-1].size == st.size and out[-1].magnitude == st.magnitude:
            out[-1] = Stage(out[-1].start, st.end, st.size, st.magnitude)
        else:
            out.append(st)
    return out

