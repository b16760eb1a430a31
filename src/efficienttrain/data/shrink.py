"""Where a batch's images shrink to the curriculum's size ``B``: the one owner of that decision.

A run decides once, in one frozen :class:`ShrinkPlan` built by the runner's ``build_parts``, where images shrink (on the device, batch by
batch as the paper does; in the data-loader workers, image by image; or in the workers before
augmentation), with which operator, whether JPEGs are decoded at reduced scale, and how many times
each loaded image is used (EfficientTrain++'s replay). Everything that needs the decision reads
the plan:

* the data transform (:meth:`ShrinkPlan.transform_options`),
* the batch sampler and every benchmark that imitates it (the replay of a batch,
  :func:`efficienttrain.data.sampler.batch_keys`),
* the worker path (:class:`efficienttrain.data.worker.CurriculumDataset`: whether it shrinks, with
  which operator),
* the training step, the Lightning callback and the probe (:func:`shrink_batch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from ..curricula import Settings
from ..limits import CROP_OPS

if TYPE_CHECKING:
    import torch

__all__ = ["SHRINK_AT", "ShrinkPlan", "shrink_batch"]

# device: each batch after it reaches the device (the paper's order: augment, then crop);
# workers: each image in the data-loader workers, after its augmentation;
# before-augment: each image in the workers right after the random-resized crop.
SHRINK_AT = ("device", "workers", "before-augment")


@dataclass(frozen=True)
class ShrinkPlan:
    """How and where images shrink to the stage's size ``B``.

    Attributes:
        at: ``device``, ``workers`` or ``before-augment`` (see :data:`SHRINK_AT`).
        op: The shrinking operator: ``lowfreq`` (the paper's low-frequency crop) or a
            down-sampling mode.
        reduced_decode: Decode JPEGs at 1/2, 1/4 or 1/8 scale when the random-resized crop allows it.
        replay: Uses of each loaded image in batches below the final size (1: no replay).

    Raises:
        ValueError: On an unknown place or operator, or a replay below 1.
    """

    at: str = "device"
    op: str = "lowfreq"
    reduced_decode: bool = False
    replay: int = 1

    def __post_init__(self) -> None:
        if self.at not in SHRINK_AT:
            raise ValueError(f"images shrink at one of {', '.join(SHRINK_AT)}, got {self.at!r}")
        if self.op not in CROP_OPS:
            raise ValueError(f"the shrinking operator must be one of {', '.join(CROP_OPS)}, got {self.op!r}")
        if self.replay < 1:
            raise ValueError(f"replay must be at least 1, got {self.replay}")

    @property
    def in_workers(self) -> bool:
        """Whether the workers shrink each image (to the size its key carries)."""
        return self.at != "device"

    @property
    def before_augment(self) -> bool:
        """Whether the workers shrink before RandAugment (the transform has a shrink step)."""
        return self.at == "before-augment"

    def uses_per_image(self, size: int, final_size: int) -> int:
        """Uses of each loaded image in a batch at ``size`` (replay applies below the final size)."""
        return self.replay if self.replay > 1 and size < final_size else 1

    def transform_options(self) -> dict[str, Any]:
        """The plan's arguments to :func:`~efficienttrain.data.build_train_transform`."""
        return {"reduced_decode": self.reduced_decode, "augment_at_size": self.op if self.before_augment else None}


def shrink_batch(plan: ShrinkPlan, images: torch.Tensor, settings: Union[Settings, int]) -> torch.Tensor:
    """A batch at the stage's size: cropped here when the plan shrinks on the device, else as it came.

    Args:
        plan: The run's plan.
        images: Batch ``(N, C, H, W)`` from the loader (at the final size when the device shrinks).
        settings: The batch's :class:`~efficienttrain.curricula.Settings`, or a size.

    Returns:
        The batch at ``settings.size`` (the input itself when there is nothing to do).
    """
    # Imported here, not above: the plan itself is read by the command line's validation, which
    # answers without PyTorch (frequency needs it).
    from ..frequency import resize_to

    if plan.in_workers:
        return images
    size = settings.size if isinstance(settings, Settings) else int(settings)
    if images.shape[-2:] == (size, size):
        return images
    return resize_to(images, size, plan.op)
