"""Building a run from its config: validate every input first, then build the parts the loop uses.

:func:`build_parts` checks the output directory, the curriculum, the data and the model in that
order and raises a :class:`~efficienttrain.errors.UserError` for the first problem, before
anything is written. The order of the steps that draw random numbers (seeding, then the datasets,
then the model's initialisation) is fixed: it decides the run's numbers.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..compiling import CompiledModel, compile_for_curriculum
from ..curricula import Curriculum, create_curriculum, is_curriculum_file
from ..data.datasets import DatasetPair, build_datasets, dataset_stats
from ..data.sampler import BatchGrowth, CurriculumBatchSampler, CurriculumSchedule
from ..data.shrink import ShrinkPlan
from ..data.stream import CurriculumStream, EvalStream, ShardSet
from ..data.transforms import build_eval_transform, randaugment_magnitude
from ..data.worker import CurriculumDataset
from ..errors import UserError
from ..models import load_weights
from ..outputs import prepare_output_file
from ..rundir import Checkpoint, RunDir
from .config import TrainConfig
from .distributed import Runtime, ignore_stop_signals, track_loader
from .objectives import Objective, make_objective
from .optim import Optimisation, build_optimisation
from .rng import seed_everything

__all__ = ["TrainingParts", "build_parts", "build_curriculum"]


@dataclass
class TrainingParts:
    """Everything a run is made of, built by :func:`build_parts`.

    Attributes:
        runtime: Device, ranks and AMP of this process.
        run_dir: The output directory.
        curriculum: The curriculum.
        plan: Where and how images shrink to each stage's size, and the replay: built once per
            run, read by the transform, the sampler, the workers and the step.
        data: Train and validation datasets.
        objective: What is optimised and how it is evaluated.
        model: The model (unwrapped).
        train_model: The model the steps call (``model`` under DDP's wrapper when distributed).
        sampler: The training loader's schedule: its batch sampler (map-style data), or the
            stream itself (shards); either gives each batch's settings and the position.
        train_loader: The training loader.
        val_loader: The validation loader (this rank's shard).
        optim: Optimizer, schedule, EMA and grad scaler.
        resume: The checkpoint to resume, until the loop has restored it.
        compiled: With ``--compile``, the compiled ``train_model`` and its graph count
            (``train_model`` is then ``compiled.module``).
    """

    runtime: Runtime
    run_dir: RunDir
    curriculum: Curriculum
    plan: ShrinkPlan
    data: DatasetPair
    objective: Objective
    model: nn.Module
    train_model: nn.Module
    sampler: CurriculumSchedule
    train_loader: DataLoader
    val_loader: DataLoader
    optim: Optimisation
    resume: Optional[Checkpoint] = None
    compiled: Optional[CompiledModel] = None


def build_parts(
    cfg: TrainConfig, runtime: Runtime, curriculum: Optional[Curriculum] = None, *, log: Callable[[str], None] = print, progress: bool = False
) -> TrainingParts:
    """Validate the inputs and build data, model, curriculum and optimisation.

    Args:
        cfg: The run's config.
        runtime: This process's device, ranks and AMP.
        curriculum: A curriculum to use instead of the one ``cfg.curriculum`` names.
        log: Receives informational lines.
        progress: Show a progress bar while preloading images.

    Returns:
        The :class:`TrainingParts`.

    Raises:
        UserError: On any problem with the data, model, sizes, config or output directory.
    """
    if cfg.plot and runtime.is_main:  # written after the last epoch: a place it cannot go is refused before the first
        prepare_output_file(cfg.plot, "--plot", "run.png")
    run_dir = RunDir(cfg.output_dir())
    if runtime.is_main:
        note = run_dir.claim()  # before anything reads or writes the folder: a second run is refused here
        if note:
            log(f"note: {note}")
    try:
        return _build_parts(cfg, runtime, run_dir, curriculum, log, progress)
    except BaseException:
        run_dir.release()
        raise


def _build_parts(cfg: TrainConfig, runtime: Runtime, run_dir: RunDir, curriculum: Optional[Curriculum], log: Callable[[str], None], progress: bool) -> TrainingParts:
    resume = _checkpoint_to_resume(cfg, run_dir, runtime.is_main)
    seed_everything(cfg.seed)
    curriculum = build_curriculum(cfg, curriculum)
    objective = make_objective(cfg)
    plan = cfg.shrink_plan()  # the run's one plan
    data = _build_data(cfg, objective, curriculum.final_size, plan, runtime, progress, log)
    model = _build_model(cfg, objective, data, curriculum, runtime, resume is None, log)
    sampler, train_loader, val_loader = _build_loaders(cfg, data, curriculum, plan, runtime, objective.uses_magnitude)
    batches = [sampler.batches_in_epoch(e) for e in range(curriculum.num_epochs)]
    # The LR schedule spans the base-size batches: under --batch-growth it advances by the samples
    # a grown batch holds (CurriculumSchedule.schedule_steps), so it is set on the sampler only now.
    optim = build_optimisation(cfg, model, runtime, batches, sampler.steps_per_epoch, curriculum.epochs)
    if cfg.batch_growth > 1:
        sampler.set_growth(BatchGrowth.for_curriculum(curriculum, cfg.batch_size, cfg.batch_growth, cfg.batch_quantum()))
    objective.setup(data.num_classes)
    train_model = model
    if runtime.world_size > 1:
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=[runtime.device.index] if runtime.device.type == "cuda" else None)
    compiled = None
    if cfg.compile:
        # DDP is compiled as a whole (not the model inside it), as torch recommends, so that its
        # gradient buckets are overlapped with the compiled backward.
        compiled = compile_for_curriculum(train_model, curriculum, mode=cfg.compile_mode, backend=cfg.compile_backend)
        train_model = compiled.module
    return TrainingParts(runtime, run_dir, curriculum, plan, data, objective, model, train_model, sampler, train_loader, val_loader, optim, resume, compiled)


def _checkpoint_to_resume(cfg: TrainConfig, run_dir: RunDir, is_main: bool) -> Optional[Checkpoint]:
    path = run_dir.checkpoint_path
    if cfg.resume:
        if not path.is_file():
            raise UserError(f"--resume: no checkpoint at {path}; start without --resume or point --output to the run")
        return run_dir.load_checkpoint()
    if is_main or not cfg.overwrite:  # every rank refuses alike (so none goes on alone); only rank 0 removes files
        run_dir.check_fresh_start(cfg.overwrite and is_main)
    return None


def build_curriculum(cfg: TrainConfig, curriculum: Optional[Curriculum] = None) -> Curriculum:
    """The run's curriculum: ``curriculum`` if given, else the one ``cfg.curriculum`` names.

    A curriculum file keeps its own length and final size unless ``--epochs``/``--final-size``
    are given; the named curricula default to 300 epochs and the data's final size. ``--magnitude``
    then replaces the magnitude rule, and the RandAugment config's magnitude is ``m0``.

    Raises:
        UserError: If the curriculum is unknown, its file is missing, or its settings are invalid.
    """
    m0 = randaugment_magnitude(cfg.randaugment)
    cur = curriculum
    if cur is None:
        final_size = cfg.final_size if is_curriculum_file(cfg.curriculum) else cfg.resolved_final_size()
        try:
            cur = create_curriculum(
                cfg.curriculum, cfg.epochs, final_size, multiple_of=cfg.multiple_of, family=cfg.etpp_family, model=cfg.model, max_magnitude=m0
            )
        except FileNotFoundError as err:
            raise UserError(str(err)) from None
        except ValueError as err:
            raise UserError(f"--curriculum: {err}") from None
    return cur.with_magnitude(cfg.magnitude, m0) if cfg.magnitude else cur


def _build_data(
    cfg: TrainConfig, objective: Objective, final_size: int, plan: ShrinkPlan, runtime: Runtime, progress: bool, log: Callable[[str], None]
) -> DatasetPair:
    stats = dataset_stats(cfg.data)
    norm = {"mean": stats[0], "std": stats[1]} if stats else {}
    data = build_datasets(
        cfg.data,
        train_transform=objective.train_transform(final_size, norm, plan),
        eval_transform=build_eval_transform(final_size, crop_pct=cfg.resolved_crop_pct(final_size), **norm),
        data_root=cfg.data_root,
        download=cfg.download,
        preload=cfg.preload,
        preload_max_size=cfg.preload_max_size,
        skip_bad_images=cfg.skip_bad_images,
        demo_per_class=cfg.demo_per_class,
        demo_val_per_class=cfg.demo_val_per_class,
        demo_image_size=cfg.demo_image_size,
        seed=cfg.seed,
        val_split=cfg.val_split,
        progress=progress,
        lazy_decode=plan.reduced_decode,
        max_image_pixels=cfg.max_image_pixels,
        val_data=cfg.val_data,
    )
    if isinstance(data.train, ShardSet) and not objective.uses_magnitude:
        raise UserError("--objective mae reads map-style data (its k-NN monitor indexes the training images); train it from an image folder")
    if data.not_followed and runtime.is_main:
        shown = ", ".join(data.not_followed[:3]) + (f" and {len(data.not_followed) - 3} more" if len(data.not_followed) > 3 else "")
        log(f"note: not followed, already counted once (a link loop, or a link into another class): {shown}")
    if data.num_classes < objective.min_classes:
        raise UserError(
            f"the training data has {data.num_classes} class ({', '.join(data.classes)}); a classifier needs at least {objective.min_classes} "
            "class folders under train/ (for unlabelled images, --objective mae)"
        )
    if len(data.train) < cfg.batch_size * runtime.world_size:
        raise UserError(f"the training set has {len(data.train)} images, fewer than one batch of {cfg.batch_size} per process; lower --batch-size")
    return data


def _build_model(
    cfg: TrainConfig, objective: Objective, data: DatasetPair, curriculum: Curriculum, runtime: Runtime, fresh_run: bool, log: Callable[[str], None]
) -> nn.Module:
    model = objective.build_model(data.num_classes, curriculum.final_size)
    if cfg.init_from and fresh_run:
        fresh = load_weights(model, cfg.init_from, classes=data.classes, keep_head=cfg.keep_head, new_head=cfg.new_head)
        more = "..." if len(fresh) > 4 else ""
        log(f"initialised from {cfg.init_from}" + (f" (re-initialised: {', '.join(fresh[:4])}{more})" if fresh else ""))
    model.to(runtime.device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    objective.check_model(model, curriculum.sizes, curriculum.final_size, runtime.device)
    if cfg.tensorboard and runtime.is_main:
        try:
            # importlib, not "import torch.utils.tensorboard": that statement would make "torch" a
            # local name of this whole function, unbound where channels-last uses it above.
            importlib.import_module("torch.utils.tensorboard")
        except ImportError:
            raise UserError("--tensorboard needs the tensorboard package: pip install tensorboard (or efficienttrain[tensorboard])") from None
    return model


def _build_loaders(
    cfg: TrainConfig, data: DatasetPair, curriculum: Curriculum, plan: ShrinkPlan, runtime: Runtime, uses_magnitude: bool
) -> tuple[CurriculumSchedule, DataLoader, DataLoader]:
    workers = cfg.resolved_workers()
    common: dict[str, Any] = {"num_workers": workers, "pin_memory": runtime.device.type == "cuda"}
    if workers > 0:
        common.update(persistent_workers=cfg.persistent_workers, worker_init_fn=ignore_stop_signals)
    # Private generators keep the loaders from drawing their workers' base seed from the global
    # RNG: with persistent workers that draw happens once per run, at a point that differs
    # between an uninterrupted and a resumed run, and would shift the global stream.
    private = {"generator": torch.Generator().manual_seed(cfg.seed), **common}
    if isinstance(data.train, ShardSet):
        if cfg.batch_growth > 1:
            raise UserError("--batch-growth does not work with streamed shards yet (their workers cut fixed-size batches); use an image folder, or --batch-growth 1")
        sampler, train_loader, val_loader = _stream_loaders(cfg, data, curriculum, plan, runtime, uses_magnitude, private)
    else:
        train_set = CurriculumDataset(data.train, plan=plan, expect_randaugment=uses_magnitude)
        sampler = CurriculumBatchSampler(
            train_set, curriculum, cfg.batch_size, shuffle=True, drop_last=True, seed=cfg.seed,
            num_replicas=runtime.world_size, rank=runtime.rank,
        )  # fmt: skip
        train_loader = DataLoader(train_set, batch_sampler=sampler, **private)
        val = data.val if runtime.world_size == 1 else Subset(data.val, list(range(runtime.rank, len(data.val), runtime.world_size)))
        val_loader = DataLoader(val, batch_size=cfg.resolved_eval_batch_size(), shuffle=False, **private)
    if workers > 0:
        track_loader(train_loader)
        track_loader(val_loader)
    return sampler, train_loader, val_loader


def _stream_loaders(
    cfg: TrainConfig, data: DatasetPair, curriculum: Curriculum, plan: ShrinkPlan, runtime: Runtime, uses_magnitude: bool, loader_args: dict[str, Any]
) -> tuple[CurriculumStream, DataLoader, DataLoader]:
    """Loaders of streamed shards: the workers form whole batches (``batch_size=None``), see :mod:`efficienttrain.data.stream`."""
    stream = CurriculumStream(
        data.train, curriculum, cfg.batch_size, plan=plan, seed=cfg.seed, num_replicas=runtime.world_size, rank=runtime.rank,
        workers=cfg.resolved_workers(), shuffle_buffer=cfg.shuffle_buffer, skip_bad_images=cfg.skip_bad_images,
        max_pixels=cfg.max_image_pixels, expect_randaugment=uses_magnitude, bad_counter=data.bad_images,
    )  # fmt: skip
    val = EvalStream(data.val, runtime.world_size, runtime.rank, skip_bad_images=cfg.skip_bad_images, max_pixels=cfg.max_image_pixels)
    return stream, DataLoader(stream, batch_size=None, **loader_args), DataLoader(val, batch_size=cfg.resolved_eval_batch_size(), **loader_args)
