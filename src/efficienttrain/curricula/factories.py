"""The curricula this package knows by name, and the rules that build them.

* :func:`efficienttrain`: the paper's schedule (Table 5), scaled to any length and final size (Table 8);
* :func:`efficienttrain_pp`: EfficientTrain++'s budgeted ten-stage schedules;
* :func:`linear`: the progressive-learning baseline of Table 13c;
* :func:`constant`: the baseline (final size and full magnitude throughout);
* :func:`progressive_resizing`: Composer's ``ProgressiveResizing`` schedule (a peer, not the paper's);
* :func:`staircase` and :func:`budgeted_staircase`: equal-length and equal-cost stages, which the
  schedule search (Algorithm 1) evaluates;
* :func:`load_curriculum` reads a YAML/JSON file, and :func:`create_curriculum` picks any of the
  above by name (or loads a file), which is what the runner and the CLI call.

The rules that more than one curriculum shares live here once: the budgeted stage length
``(final / B)^2 * budget / N`` and the per-stage magnitude ``m0 * i / (N - 1)`` of
EfficientTrain++ and the budgeted search, the 300-epoch default, and what counts as a curriculum
file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence, Union

import yaml

from ..errors import did_you_mean

from .cost import curriculum_cost
from .schedule import DEFAULT_MAX_MAGNITUDE, Curriculum, Stage, merge_stages, round_size

__all__ = [
    "efficienttrain",
    "efficienttrain_pp",
    "linear",
    "constant",
    "progressive_resizing",
    "staircase",
    "budgeted_staircase",
    "load_curriculum",
    "create_curriculum",
    "list_curricula",
    "is_curriculum_file",
    "ETPP_FAMILIES",
    "etpp_family_for_model",
    "DEFAULT_EPOCHS",
]

# The paper's training length; named curricula use it when no length is given.
DEFAULT_EPOCHS = 300.0
CURRICULUM_FILE_SUFFIXES = (".yaml", ".yml", ".json")

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


def _check_epochs(epochs: float) -> float:
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not epochs > 0 or not math.isfinite(epochs):
        raise ValueError(f"epochs must be a positive number, got {epochs!r}")
    return float(epochs)


def _check_final_size(final_size: int) -> int:
    if isinstance(final_size, bool) or not isinstance(final_size, int) or final_size <= 0:
        raise ValueError(f"final_size must be a positive integer, got {final_size!r}")
    return final_size


def is_curriculum_file(kind: str) -> bool:
    """Whether a ``--curriculum`` value names a file rather than a built-in curriculum."""
    return kind.lower().endswith(CURRICULUM_FILE_SUFFIXES) or (kind.lower() not in _NAMES and Path(kind).is_file())


def efficienttrain(
    epochs: float = DEFAULT_EPOCHS,
    final_size: int = 224,
    *,
    multiple_of: int = 1,
    max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
    magnitude_rule: str = "linear",
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
        magnitude_rule: ``linear`` (the paper) or ``constant`` (crop-only ablation, Table 13a).

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
    return Curriculum(merge_stages(stages), final_size=g, magnitude_rule=magnitude_rule, max_magnitude=max_magnitude, name="efficienttrain")


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


def _budgeted_stages(sizes: Sequence[int], budget: float, final_size: int, max_magnitude: float) -> list[Stage]:
    """Stages that each cost ``budget / N`` final-size epochs, magnitude ``m0 * i / (N - 1)``.

    At size ``B`` a stage lasts ``(final_size / B)^2 * budget / N`` epochs, so under the pixel
    model every stage costs the same and the whole schedule costs ``budget`` epochs at the final
    size (EfficientTrain++). Stage ``i`` (from 0) of ``N`` uses RandAugment magnitude
    ``m0 * i / (N - 1)``: 0, 1, ..., 9 for the ten stages of EfficientTrain++ at ``m0 = 9``.
    """
    n = len(sizes)
    stages, cursor = [], 0.0
    for i, size in enumerate(sizes):
        length = (final_size / size) ** 2 * budget / n
        magnitude = max_magnitude * i / (n - 1) if n > 1 else max_magnitude
        stages.append(Stage(cursor, cursor + length, int(size), magnitude))
        cursor += length
    return stages


def efficienttrain_pp(
    budget: float = DEFAULT_EPOCHS,
    final_size: int = 224,
    *,
    family: str = "resnet",
    multiple_of: int = 1,
    round_epochs: bool = False,
    max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
) -> Curriculum:
    """The budgeted 10-stage schedule of EfficientTrain++ for a model family.

    The budget is split into ten equal parts. Part ``i`` (from 0) uses RandAugment magnitude
    ``m0 * i / 9`` (``i`` itself at the paper's ``m0 = 9``) and the family's size for that part;
    at size ``B`` it lasts ``(final_size / B)^2 * budget / 10`` epochs, so every part costs the
    same under the pixel model and the whole run costs ``budget`` epochs at the final size.
    Sizes scale in proportion to ``final_size / 224``.

    Args:
        budget: Compute budget in epochs at the final size.
        final_size: Final input size.
        family: ``resnet``, ``swin``, ``cswin``, ``deit`` or ``convnext``.
        multiple_of: Rounding quantum for the sizes.
        round_epochs: Round stage boundaries to whole epochs (the total cost then differs
            slightly from the budget).
        max_magnitude: ``m0``, the magnitude of the last part.

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
    stages = _budgeted_stages(sizes, b, g, max_magnitude)
    if round_epochs:
        bounds = [0.0] + [float(max(round(st.end), 1)) for st in stages]
        for i in range(1, len(bounds)):
            bounds[i] = max(bounds[i], bounds[i - 1] + 1)
        stages = [Stage(bounds[i], bounds[i + 1], st.size, st.magnitude) for i, st in enumerate(stages)]
    return Curriculum(stages, final_size=g, magnitude_rule="linear", max_magnitude=max_magnitude, name=f"efficienttrain++ ({family})", budget=b)


def staircase(sizes: Sequence[int], epochs: float, final_size: int, name: str = "searched", *, max_magnitude: float = DEFAULT_MAX_MAGNITUDE) -> Curriculum:
    """A curriculum with ``len(sizes)`` equal stages over ``epochs`` (what Algorithm 1 searches).

    Args:
        sizes: Size of each stage (the last is normally the final size).
        epochs: Total epochs.
        final_size: Final size.
        name: Curriculum name.
        max_magnitude: ``m0`` of the linear RandAugment ramp.

    Returns:
        The curriculum, with equal neighbouring sizes merged; the RandAugment magnitude follows
        the paper's linear rule.
    """
    n = len(sizes)
    stages = [Stage(epochs * i / n, epochs * (i + 1) / n, int(s)) for i, s in enumerate(sizes)]
    return Curriculum(merge_stages(stages), final_size=final_size, magnitude_rule="linear", max_magnitude=max_magnitude, name=name)


def budgeted_staircase(
    sizes: Sequence[int], budget: float, final_size: int, name: str = "searched (budgeted)", *, max_magnitude: float = DEFAULT_MAX_MAGNITUDE
) -> Curriculum:
    """A curriculum whose ``len(sizes)`` stages each cost ``budget / N`` final-size epochs.

    Args:
        sizes: Size of each stage.
        budget: Total cost in epochs at the final size.
        final_size: Final size.
        name: Curriculum name.
        max_magnitude: ``m0``, the magnitude of the last stage.

    Returns:
        The curriculum; stage ``i`` uses RandAugment magnitude ``m0 * i / (N - 1)``.
    """
    stages = _budgeted_stages(sizes, budget, final_size, max_magnitude)
    return Curriculum(stages, final_size=final_size, magnitude_rule="linear", max_magnitude=max_magnitude, name=name, budget=budget)


def _relative_pixel_cost(stages: Sequence[Stage], final_size: int) -> float:
    return curriculum_cost(Curriculum(stages, final_size=final_size)).relative_cost


def linear(
    epochs: float = DEFAULT_EPOCHS,
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
        return merge_stages(out)

    if start_size is None:
        target = target_cost if target_cost is not None else _relative_pixel_cost(efficienttrain(t, g).stages, g)
        start = float(min(range(1, g + 1), key=lambda s: abs(_relative_pixel_cost(build(float(s)), g) - target)))
    else:
        if not 0 < start_size <= g:
            raise ValueError(f"start_size must be between 1 and the final size {g}, got {start_size}")
        start = float(start_size)
    return Curriculum(build(start), final_size=g, magnitude_rule="linear", max_magnitude=max_magnitude, name="linear")


def constant(epochs: float = DEFAULT_EPOCHS, final_size: int = 224, *, max_magnitude: float = DEFAULT_MAX_MAGNITUDE) -> Curriculum:
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
    return Curriculum([Stage(0.0, t, g)], final_size=g, magnitude_rule="constant", max_magnitude=max_magnitude, name="constant")


def _composer_size(t: float, g: int, initial_scale: float, delay: float, ramp: float, increment: int) -> int:
    """Composer's pinned width at training fraction ``t``: ``round(g * scale / inc) * inc``."""
    frac = min(max((t - delay) / ramp, 0.0), 1.0) if ramp > 0 else float(t >= delay)
    scale = initial_scale + (1.0 - initial_scale) * frac
    return g if scale >= 1.0 else min(max(round(g * scale / increment) * increment, increment), g)


def progressive_resizing(
    epochs: float = DEFAULT_EPOCHS,
    final_size: int = 224,
    *,
    initial_scale: float = 0.5,
    delay_fraction: float = 0.5,
    finetune_fraction: float = 0.2,
    size_increment: int = 4,
    max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
) -> Curriculum:
    """Composer's progressive resizing (``composer.algorithms.ProgressiveResizing``) as stages.

    Composer scales every batch by ``s = s0 + (1 - s0) * clip((t - delay) / (1 - delay -
    finetune), 0, 1)`` at training fraction ``t`` and pins the width to ``round(final * s /
    increment) * increment``. The pinned width is piecewise constant, so the schedule is exactly a
    staircase: each stage starts where ``final * s / increment`` crosses a half-integer. The
    defaults are Composer's (``initial_scale=0.5, delay_fraction=0.5, finetune_fraction=0.2,
    size_increment=4``). Composer keeps augmentation fixed, so the magnitude is constant.

    Args:
        epochs: Total epochs.
        final_size: Final input size.
        initial_scale: ``s0``, the scale before the ramp.
        delay_fraction: Fraction of training at ``s0`` before the ramp begins.
        finetune_fraction: Fraction of training at the final size at the end.
        size_increment: Sizes are multiples of this (the final size excepted).
        max_magnitude: The constant RandAugment magnitude.

    Returns:
        The curriculum.

    Raises:
        ValueError: On a scale or fractions out of range, or invalid numbers.
    """
    t_total = _check_epochs(epochs)
    g = _check_final_size(final_size)
    if not 0 < initial_scale <= 1:
        raise ValueError(f"initial_scale must be in (0, 1], got {initial_scale}")
    if not (0 <= delay_fraction and 0 <= finetune_fraction and delay_fraction + finetune_fraction <= 1):
        raise ValueError(f"delay_fraction and finetune_fraction must be >= 0 with a sum <= 1, got {delay_fraction} and {finetune_fraction}")
    if size_increment < 1:
        raise ValueError(f"size_increment must be a positive integer, got {size_increment}")
    ramp = 1.0 - delay_fraction - finetune_fraction
    # Fractions where the pinned width can change: the ramp's ends and each half-integer crossing.
    cuts = {0.0, delay_fraction, delay_fraction + ramp}
    if ramp > 0 and initial_scale < 1:
        k = math.floor(g * initial_scale / size_increment - 0.5) + 1
        while (k + 0.5) * size_increment / g < 1.0:
            scale = (k + 0.5) * size_increment / g
            cuts.add(delay_fraction + ramp * (scale - initial_scale) / (1.0 - initial_scale))
            k += 1
    bounds = sorted(c for c in cuts if 0.0 <= c < 1.0) + [1.0]
    stages = []
    for a, b in zip(bounds, bounds[1:]):
        if b - a > _EPS:
            size = _composer_size((a + b) / 2, g, initial_scale, delay_fraction, ramp, size_increment)
            stages.append(Stage(a * t_total, b * t_total, size))
    return Curriculum(
        merge_stages(stages), final_size=g, magnitude_rule="constant", max_magnitude=max_magnitude, name="progressive resizing (Composer)"
    )


def load_curriculum(path: Union[str, Path]) -> Curriculum:
    """Read a curriculum from a YAML or JSON file (see :meth:`Curriculum.from_dict`).

    Args:
        path: File path.

    Returns:
        The curriculum.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file cannot be read as UTF-8 text, cannot be parsed, is empty, is not
            a mapping, or describes an invalid schedule; the message is one line.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"curriculum file {path} is a folder; give the file itself")
    if not path.is_file():
        raise FileNotFoundError(f"curriculum file not found: {path}")
    spec = _parse_curriculum_text(_read_curriculum_text(path), path)
    if spec is None:
        raise ValueError(f"curriculum file {path} is empty; it needs a mapping with a 'stages' list")
    if not isinstance(spec, dict):
        raise ValueError(f"curriculum file {path} must hold a mapping with a 'stages' list at the top level, not a {type(spec).__name__}")
    try:
        return Curriculum.from_dict(spec)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _read_curriculum_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a byte-order mark is allowed), or a one-line ValueError."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read curriculum file {path}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"curriculum file {path} is not UTF-8 text (invalid byte at offset {err.start}); save it as UTF-8 YAML or JSON"
        ) from None


def _parse_curriculum_text(text: str, path: Path) -> object:
    """Parse YAML (or JSON for ``.json``); ``None`` for a file with no content."""
    if not text.strip():
        return None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    # ValueError and OverflowError: YAML tags such as !!int or !!timestamp with bad values, and
    # integers longer than Python converts; RecursionError: absurdly deep nesting.
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as err:
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise ValueError(f"cannot parse curriculum file {path}: {first}") from None


_KINDS = ("efficienttrain", "efficienttrain++", "linear", "progressive-resizing", "constant")
_ALIASES = {"et": "efficienttrain", "et++": "efficienttrain++", "etpp": "efficienttrain++", "baseline": "constant", "none": "constant", "composer": "progressive-resizing"}
_NAMES = frozenset(_KINDS) | frozenset(_ALIASES)


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
        kind: ``efficienttrain``, ``efficienttrain++``, ``linear``, ``progressive-resizing``
            (alias ``composer``), ``constant`` (alias
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
        if is_curriculum_file(kind) or Path(kind).exists():
            cur = load_curriculum(kind)
            if epochs is not None or final_size is not None or multiple_of != 1:
                cur = cur.scaled(epochs=epochs, final_size=final_size, multiple_of=multiple_of)
            return cur
        raise ValueError(f"unknown curriculum {kind!r}; choose one of {', '.join(_KINDS)}, or a .yaml/.json file{did_you_mean(kind, _NAMES)}")
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    final_size = 224 if final_size is None else final_size
    if name == "efficienttrain":
        return efficienttrain(epochs, final_size, multiple_of=multiple_of, max_magnitude=max_magnitude)
    if name == "efficienttrain++":
        fam = family or (etpp_family_for_model(model) if model else "resnet")
        return efficienttrain_pp(epochs, final_size, family=fam, multiple_of=multiple_of, max_magnitude=max_magnitude)
    if name == "linear":
        return linear(epochs, final_size, multiple_of=multiple_of, max_magnitude=max_magnitude)
    if name == "progressive-resizing":
        return progressive_resizing(epochs, final_size, size_increment=max(multiple_of, 4), max_magnitude=max_magnitude)
    return constant(epochs, final_size, max_magnitude=max_magnitude)
