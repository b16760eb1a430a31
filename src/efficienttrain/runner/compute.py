"""A run's training compute: FLOPs per image at each stage size, times the images trained at that size.

The wall time of a run depends on the machine and on what else runs on it; its compute does not.
:func:`compute_record` counts the FLOPs of one forward and backward pass per image at each size
once (:func:`~efficienttrain.cost.training_flops`) and multiplies them by the images the run
trained at that size, which follow from the curriculum and the sampler alone. Evaluation, EMA
updates, the optimizer and the throw-away steps (:mod:`.preflight`) are not counted.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from typing import Any

from ..cost import training_flops
from .build import TrainingParts, build_parts
from .config import TrainConfig
from .distributed import init_runtime

__all__ = ["images_per_stage", "compute_record", "count_flops", "recount"]

# The string names what was counted: records counted before attention was (they said "matmul and
# convolution FLOPs") undercount ViTs; benchmarks/backfill_compute.py --recount replaces them.
COUNTER = "torch.utils.flop_counter: matmul, convolution and attention (math kernel) FLOPs of one forward and backward pass"


def images_per_stage(parts: TrainingParts, epoch: int, step: int) -> dict[int, int]:
    """Images trained in each stage (index from 0) before batch ``step`` of ``epoch``, over all ranks.

    Args:
        parts: The run's parts.
        epoch: Epochs completed.
        step: Batches done in the current epoch.

    Returns:
        Stage index -> images.
    """
    sampler = parts.sampler
    counts: dict[int, int] = {}
    for e in range(min(epoch + 1, parts.curriculum.num_epochs)):
        steps = sampler.batches_in_epoch(e) if e < epoch else step
        for s in range(steps):
            stage = sampler.settings(e, s).stage
            counts[stage] = counts.get(stage, 0) + sampler.batch_size_at(e, s) * parts.runtime.world_size
    return counts


def compute_record(parts: TrainingParts, epoch: int, step: int, flops: dict[int, float]) -> dict[str, Any]:
    """The ``compute`` record of ``summary.json``.

    Args:
        parts: The run's parts.
        epoch: Epochs completed.
        step: Batches done in the current epoch.
        flops: FLOPs per image at each size (:func:`count_flops`).

    Returns:
        ``flops_per_image`` per size, per-stage ``images`` and ``flops``, ``train_flops`` in total,
        and ``final_size_epoch_flops`` (one epoch of the training set at the final size) for scale.
    """
    stages = []
    for index, images in sorted(images_per_stage(parts, epoch, step).items()):
        size = parts.curriculum.stages[index].size
        stages.append({"stage": index + 1, "size": size, "images": images, "flops": images * flops[size]})
    final = parts.curriculum.final_size
    return {
        "counter": COUNTER,
        "flops_per_image": {str(s): f for s, f in sorted(flops.items())},
        "stages": stages,
        "train_flops": sum(st["flops"] for st in stages),
        "final_size_epoch_flops": len(parts.data.train) * flops[final],
    }


def count_flops(parts: TrainingParts) -> dict[int, float]:
    """FLOPs per image of the run's model at each stage size (train mode, as it trains)."""
    return training_flops(parts.model, parts.curriculum.sizes)


def recount(cfg: TrainConfig) -> dict[str, Any]:
    """The ``compute`` record a finished run of ``cfg`` has, without training it.

    For run records made before ``summary.json`` kept its compute: the parts are built from the
    config (images are not preloaded; the output goes to a temporary folder, so nothing of the
    original run is touched) and counted exactly as a run counts itself when it ends.

    Args:
        cfg: The run's config, with ``data`` pointing at its dataset.

    Returns:
        The same record as ``summary.json``'s ``compute`` for the completed run.
    """
    with tempfile.TemporaryDirectory() as out:
        # Weights do not change the count, so a fine-tune's source checkpoint need not exist any more.
        cfg = replace(cfg, output=out, name=None, resume=False, preload=False, progress=False, device="cpu", compile=False, init_from=None, pretrained=False)
        runtime = init_runtime("cpu", "none", cfg.threads, False)
        parts = build_parts(cfg, runtime, log=lambda _line: None)
        return compute_record(parts, parts.curriculum.num_epochs, 0, count_flops(parts))
