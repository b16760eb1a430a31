"""Train and eval transforms (timm's), and the hook that lets RandAugment follow a curriculum.

The training pipeline is timm's ``create_transform`` with the paper's recipe (Table 14):
random-resized crop, flip, RandAugment ``rand-m9-mstd0.5-inc1``, normalisation and random erasing.
:class:`StageTransforms` finds the RandAugment (and shrink) steps of a training transform once,
and then makes the transform of each batch's settings for the worker
(:class:`~efficienttrain.data.worker.CurriculumDataset`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform
from timm.data.auto_augment import RandAugment as TimmRandAugment
from torchvision.transforms import RandAugment as TorchvisionRandAugment

from .._compat import compose_steps, crop_aspect_ratios, set_timm_op_magnitude, timm_op_magnitude, timm_randaugment_ops
from .decode import ReducedDecodeRandomResizedCrop, ShrinkToStage
from ..curricula import DEFAULT_MAX_MAGNITUDE

if TYPE_CHECKING:
    from .shrink import ShrinkPlan

__all__ = [
    "StageTransforms",
    "build_train_transform",
    "build_eval_transform",
    "find_randaugment",
    "set_magnitude",
    "randaugment_magnitude",
    "set_stage_size",
    "stage_shrinks",
    "DEFAULT_RANDAUGMENT",
]

DEFAULT_RANDAUGMENT = "rand-m9-mstd0.5-inc1"


def build_train_transform(
    size: int,
    *,
    randaugment: Optional[str] = DEFAULT_RANDAUGMENT,
    scale: Sequence[float] = (0.08, 1.0),
    hflip: float = 0.5,
    re_prob: float = 0.25,
    interpolation: str = "bicubic",
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
    color_jitter: Optional[float] = None,
    reduced_decode: bool = False,
    augment_at_size: Optional[str] = None,
) -> Callable:
    """The paper's training transform at the final size (the crop to ``B`` happens later).

    Two opt-in changes shrink the loader's work with the curriculum's size ``B``
    (:mod:`efficienttrain.data.decode`): ``reduced_decode`` decodes JPEGs at reduced scale when
    the random-resized crop allows it (the dataset must hand over lazily opened images, see
    :func:`~efficienttrain.data.datasets.build_datasets`), and ``augment_at_size`` shrinks each
    image to ``B`` before RandAugment (``B`` arrives per sample through
    :class:`~efficienttrain.data.worker.CurriculumDataset`).

    Args:
        size: Final input size.
        randaugment: timm RandAugment config string, or ``None``/``""`` to disable it. Its
            magnitude is only the starting value when a curriculum drives it.
        scale: Area range of the random-resized crop.
        hflip: Horizontal flip probability.
        re_prob: Random-erasing probability (pixel mode).
        interpolation: Resize interpolation.
        mean: Normalisation mean.
        std: Normalisation std.
        color_jitter: Colour jitter strength; timm ignores it when RandAugment is on.
        reduced_decode: Decode JPEGs at 1/2, 1/4 or 1/8 scale when the crop's region is at
            least that much larger than its output.
        augment_at_size: Shrink to ``B`` right after the random-resized crop, with this crop op
            (``lowfreq``, or a resampling op, which makes the random-resized crop resize to ``B``).

    Returns:
        A callable from PIL image to a normalised ``(3, size, size)`` tensor (``(3, B, B)`` with
        ``augment_at_size``).
    """
    transform = create_transform(
        size,
        is_training=True,
        scale=tuple(scale),
        hflip=hflip,
        auto_augment=randaugment or None,
        interpolation=interpolation,
        re_prob=re_prob,
        re_mode="pixel",
        re_count=1,
        mean=tuple(mean),
        std=tuple(std),
        color_jitter=color_jitter if color_jitter is not None else 0.0,
    )
    for ra in find_randaugment(transform):
        if isinstance(ra, TimmRandAugment):
            timm_randaugment_ops(ra)  # makes its posterize op safe for Pillow 13
    if reduced_decode or augment_at_size:
        _shrinking_loader_work(transform, size, scale, interpolation, reduced_decode, augment_at_size)
    return transform


def _shrinking_loader_work(transform: Any, size: int, scale: Sequence[float], interpolation: str, reduced: bool, op: Optional[str]) -> None:
    """Swap in the reduced-scale decode and insert the shrink to ``B`` (after the random-resized crop)."""
    from timm.data.transforms import RandomResizedCropAndInterpolation

    ops = compose_steps(transform)
    where = next((i for i, t in enumerate(ops) if isinstance(t, RandomResizedCropAndInterpolation)), None)
    if where is None:  # pragma: no cover - timm's training transform always starts with it
        raise RuntimeError("no random-resized crop in the training transform to shrink the loader's work at")
    if reduced:
        ops[where] = ReducedDecodeRandomResizedCrop(size, scale=scale, ratio=crop_aspect_ratios(ops[where]), interpolation=interpolation)
    if op:
        ops.insert(where + 1, ShrinkToStage(op, ops[where], size))


def stage_shrinks(transform: Any) -> list[ShrinkToStage]:
    """The :class:`~efficienttrain.data.decode.ShrinkToStage` steps inside ``transform`` (none: it works at the final size).

    Args:
        transform: A transform or anything :func:`find_randaugment` accepts.
    """
    return [t for t in _walk(transform, set()) if isinstance(t, ShrinkToStage)]


def set_stage_size(transform: Any, size: Optional[int]) -> int:
    """Tell every :class:`~efficienttrain.data.decode.ShrinkToStage` inside ``transform`` the next images' size.

    Args:
        transform: A transform or anything :func:`find_randaugment` accepts.
        size: The stage's size ``B`` (``None``: the final size).

    Returns:
        The number of shrink steps found (0: the transform works at the final size).
    """
    found = stage_shrinks(transform)
    for shrink in found:
        shrink.set_size(size)
    return len(found)


def build_eval_transform(
    size: int,
    *,
    crop_pct: float = 0.875,
    interpolation: str = "bicubic",
    mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> Callable:
    """Resize to ``size / crop_pct``, centre-crop ``size``, normalise.

    Args:
        size: Evaluation (final) size.
        crop_pct: Centre-crop fraction (0.875 for 224 in the paper; 1.0 for 384).
        interpolation: Resize interpolation.
        mean: Normalisation mean.
        std: Normalisation std.

    Returns:
        A callable from PIL image to a normalised tensor.
    """
    return create_transform(
        size, is_training=False, crop_pct=crop_pct, interpolation=interpolation, mean=tuple(mean), std=tuple(std)
    )


def _walk(obj: Any, seen: set[int]) -> Iterator[Any]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    children: list[Any] = []
    for attr in ("transforms", "transform", "t"):
        child = getattr(obj, attr, None)
        if child is None:
            continue
        children.extend(child if isinstance(child, (list, tuple)) else [child])
    for child in children:
        yield from _walk(child, seen)


def find_randaugment(transform: Any) -> list[Any]:
    """Find the RandAugment instances (timm's or torchvision's) inside a transform.

    Searches ``Compose``-like ``.transforms`` lists and ``.transform`` attributes recursively,
    so a dataset can be passed too.

    Args:
        transform: A transform, a ``Compose``, or a dataset with a ``transform`` attribute.

    Returns:
        The RandAugment objects found, possibly none.
    """
    return [t for t in _walk(transform, set()) if isinstance(t, (TimmRandAugment, TorchvisionRandAugment))]


def set_magnitude(transform: Any, magnitude: float) -> int:
    """Set the magnitude of every RandAugment inside ``transform``, in place.

    timm's RandAugment takes the magnitude on its 0-10 scale as given (fractional values are
    fine; with ``mstd`` the per-op magnitude is still drawn around it). torchvision's integer
    bins are mapped from the same 0-10 scale: ``round(m / 10 * (num_magnitude_bins - 1))``.

    Args:
        transform: A transform or anything :func:`find_randaugment` accepts.
        magnitude: Magnitude on timm's 0-10 scale.

    Returns:
        The number of RandAugment instances updated.
    """
    found = find_randaugment(transform)
    for ra in found:
        if isinstance(ra, TimmRandAugment):
            for op in timm_randaugment_ops(ra):
                set_timm_op_magnitude(op, magnitude)
        else:
            bins = ra.num_magnitude_bins - 1
            ra.magnitude = int(round(min(max(magnitude, 0.0), 10.0) / 10.0 * bins))
    return len(found)


def recipe_magnitude(randaugment: Any) -> float:
    """The magnitude a RandAugment is set to, on timm's 0-10 scale (torchvision's bins mapped as :func:`set_magnitude` maps them).

    Args:
        randaugment: timm's or torchvision's ``RandAugment``.

    Returns:
        The magnitude (timm: its first op's; torchvision: ``magnitude / (num_magnitude_bins - 1) * 10``).
    """
    if isinstance(randaugment, TimmRandAugment):
        ops = timm_randaugment_ops(randaugment)
        return timm_op_magnitude(ops[0]) if ops else DEFAULT_MAX_MAGNITUDE
    return 10.0 * randaugment.magnitude / max(randaugment.num_magnitude_bins - 1, 1)


def randaugment_magnitude(config: Optional[str], default: float = DEFAULT_MAX_MAGNITUDE) -> float:
    """The magnitude ``m`` of a timm RandAugment config string (``rand-m9-mstd0.5-inc1`` -> 9).

    The curriculum uses it as ``m0``, the magnitude its ramp ends at.

    Args:
        config: The config string; ``None``/empty (RandAugment off) gives ``default``.
        default: Magnitude when the string names none.

    Returns:
        The magnitude.
    """
    for part in (config or "").split("-")[1:]:
        if part.startswith("m") and not part.startswith(("mstd", "mmax")):
            try:
                return float(part[1:])
            except ValueError:
                break
    return default


class StageTransforms:
    """Makes the training transform of a batch's settings: the one place that reaches inside it.

    Built once, in the main process, from the training transform (the runner's
    :func:`build_train_transform`, or a user's own with RandAugment inside). It finds the
    transform's RandAugment steps, and its :class:`~efficienttrain.data.decode.ShrinkToStage` step
    when the plan shrinks before augmentation, and keeps them. A worker then asks only for
    :meth:`make` with a batch's settings; nothing else looks inside the transform.

    Args:
        transform: The training transform (``None``: the samples come as they are).
        plan: The run's :class:`~efficienttrain.data.shrink.ShrinkPlan`.
        expect_randaugment: Warn when the transform has no RandAugment (off for objectives that
            follow only the size schedule, such as MAE).

    Raises:
        ValueError: If the plan and the transform disagree on shrinking before augmentation.
    """

    def __init__(self, transform: Optional[Callable], plan: "ShrinkPlan", *, expect_randaugment: bool = True) -> None:
        self.transform = transform
        self.randaugments = find_randaugment(transform) if transform is not None else []
        self.shrinks = stage_shrinks(transform) if transform is not None else []
        if plan.before_augment != bool(self.shrinks):
            raise ValueError(
                f"the plan shrinks images at {plan.at!r} but the transform {'has' if self.shrinks else 'has no'} "
                "shrink step; build it with build_train_transform(..., **plan.transform_options())"
            )
        if expect_randaugment and not self.randaugments:
            warnings.warn("no RandAugment found in the training transform; the magnitude schedule has no effect", stacklevel=3)
        # The recipe's own magnitude, read before any batch sets one: the ramp should end there.
        self.recipe_magnitude: Optional[float] = recipe_magnitude(self.randaugments[0]) if self.randaugments else None
        self._magnitude: Optional[float] = None
        self._size: Optional[int] = None

    def make(self, magnitude: float, size: Optional[int]) -> Optional[Callable]:
        """The transform set to a batch's RandAugment ``magnitude`` and stage ``size``.

        Only what differs from the previous call changes: once per batch in a worker.

        Args:
            magnitude: RandAugment magnitude on timm's 0-10 scale.
            size: The stage's size ``B`` (read only when the transform shrinks before augmenting).

        Returns:
            The transform (the same object each time, as the dataset applies it).
        """
        if self.randaugments and magnitude != self._magnitude:
            for ra in self.randaugments:
                set_magnitude(ra, magnitude)
            self._magnitude = magnitude
        if self.shrinks and size != self._size:
            for shrink in self.shrinks:
                shrink.set_size(size)
            self._size = size
        return self.transform
