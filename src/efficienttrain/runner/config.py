"""Configuration of the recipe runner: the paper's recipe (Table 14) as defaults, plus presets.

A :class:`TrainConfig` is made of sections, one dataclass each (data, model, curriculum,
optimisation, augmentation, objective, runtime, output): a section holds its options, each with
its help text and, for a number, its range, and checks its own rules. The config has every
section's fields, flat, so it can be built from keyword arguments, from a flat YAML file (unknown
keys are rejected with the closest valid ones), and from command-line flags, which the CLI derives
from the fields and groups by section: every option is reachable all three ways, and a new option
is one field in one section.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
import typing
from typing import Any, ClassVar, NamedTuple, Optional, Union

import yaml

from ..data.shrink import SHRINK_AT, ShrinkPlan
from ..curricula import list_curricula
from ..curricula.schedule import MAX_EPOCHS
from ..errors import UserError, choice_error, did_you_mean, missing_file_error
from ..limits import CROP_OPS, MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_BOUND, MAX_IMAGE_SIZE

__all__ = ["TrainConfig", "PRESETS", "load_config", "make_config", "resolve_final_size", "HELP", "field_type", "FieldType", "flag_name"]


def _opt(default: Any, help: str, bound: Optional["Bound"] = None) -> Any:
    """A config field with its help text and, for a number, its range: the one place an option is described (CLI, docs, errors)."""
    metadata = {"help": help, "bound": bound}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


class Bound(NamedTuple):
    """The values a numeric option takes: finite, from ``low`` (excluded when ``open_low``) to ``high``."""

    low: float
    high: float
    open_low: bool = False

    def admits(self, value: float) -> bool:
        """Whether ``value`` is finite and in range."""
        return math.isfinite(value) and (value > self.low if self.open_low else value >= self.low) and value <= self.high

    def describe(self) -> str:
        """The range in words, for an error message."""
        return f"{'above' if self.open_low else 'at least'} {self.low:g} and at most {self.high:g}"


_UNIT, _POSITIVE_UNIT, _COUNT = Bound(0, 1), Bound(0, 1, True), Bound(1, 1_000_000)
AMP_MODES = ("auto", "none", "bf16", "fp16")
OPTIMIZERS = ("adamw", "sgd", "lamb", "adam")
# The usual learning rates of each optimizer for training from scratch or fine-tuning; a rate 10x
# outside this range is warned about (TrainConfig.lr_warning).
SANE_LR: dict[str, tuple[float, float]] = {"adamw": (1e-4, 5e-3), "adam": (1e-4, 5e-3), "lamb": (1e-4, 2e-2), "sgd": (1e-2, 1.0)}
# What --objective accepts; runner/objectives.py maps each name to its Objective (a test keeps the two equal).
OBJECTIVE_NAMES = ("classification", "mae")

@dataclass
class DataOptions:
    """The data section of :class:`TrainConfig` (``train --help`` group: data: where the images come from)."""

    TITLE: ClassVar[str] = "data"

    data: str = _opt("demo", "dataset: 'demo' (built in), 'cifar10', 'cifar100', an ImageFolder DIR with train/ and val/, or WebDataset shards: a DIR whose train/ and val/ hold .tar files (efficienttrain shards), or a brace pattern of .tar files with --val-data; or a Hugging Face dataset on disk: a save_to_disk folder or Parquet files (docs/data.md)")
    val_data: Optional[str] = _opt(None, "the validation split when --data names only the training one: shards (a brace pattern, a .tar or a folder), or a Hugging Face save_to_disk folder or Parquet files")
    shuffle_buffer: int = _opt(1000, "streamed shards: samples shuffled together (whole shard pieces, held in memory by each worker)", bound=Bound(1, 10_000_000))
    data_root: Optional[str] = _opt(None, "where torchvision datasets are stored (default ./data)")
    download: bool = _opt(False, "let torchvision download CIFAR when missing (needs network)")
    preload: bool = _opt(False, "decode an ImageFolder into memory once (small datasets)")
    preload_max_size: Optional[int] = _opt(None, "with --preload, shrink images to this shorter side while loading", bound=Bound(1, MAX_IMAGE_SIZE))
    skip_bad_images: bool = _opt(False, "skip and count corrupt images instead of stopping")
    max_image_pixels: int = _opt(MAX_IMAGE_PIXELS, "the most pixels an input image may have; a larger one is handled as a corrupt image, before it is decoded (default 64 MP)", bound=Bound(1, MAX_IMAGE_PIXELS_BOUND))
    val_split: str = _opt("val", "name of the validation directory of an ImageFolder")
    demo_per_class: int = _opt(150, "demo dataset: training images per class", bound=_COUNT)
    demo_val_per_class: int = _opt(50, "demo dataset: validation images per class", bound=_COUNT)
    demo_image_size: int = _opt(64, "demo dataset: image size", bound=Bound(8, MAX_IMAGE_SIZE))

    def check_section(self) -> None:
        """The data options' own rules (their ranges are checked with every section's, :meth:`TrainConfig.validate`)."""


@dataclass
class ModelOptions:
    """The model section of :class:`TrainConfig` (``train --help`` group: model)."""

    TITLE: ClassVar[str] = "model"

    model: str = _opt("resnet18", "timm model name")
    pretrained: bool = _opt(False, "start from timm's pretrained weights (needs them cached locally)")
    init_from: Optional[str] = _opt(None, "fine-tune from this checkpoint (.pt or .safetensors); a head of another shape, or trained on other class names, starts fresh")
    keep_head: bool = _opt(False, "with --init-from: keep the source's classifier head (if its shape fits) even when the data's class names differ")
    new_head: bool = _opt(False, "with --init-from: start the classifier head fresh even when the file names no classes (files from before class names were recorded)")
    drop_path: float = _opt(0.1, "stochastic depth rate", bound=_UNIT)
    patch_size: Optional[int] = _opt(None, "ViT patch size instead of the model's own (e.g. 8 for deit_tiny_patch16_224 at small sizes)", bound=Bound(1, 1024))
    model_kwargs: dict[str, Any] = _opt({}, "more arguments for the timm model's constructor, as KEY=VALUE (values read as YAML), e.g. depth=6 global_pool=avg")

    def check_section(self) -> None:
        from ..models import RESERVED_MODEL_KWARGS

        for key in self.model_kwargs:
            if key in RESERVED_MODEL_KWARGS:
                raise UserError(f"--model-kwargs cannot set {key}: {RESERVED_MODEL_KWARGS[key]}")
        if self.patch_size is not None and "patch_size" in self.model_kwargs:
            raise UserError("both --patch-size and --model-kwargs patch_size are given; pass only one")
        if self.keep_head and self.new_head:
            raise UserError("--keep-head and --new-head contradict each other: give one")


@dataclass
class CurriculumOptions:
    """The curriculum section of :class:`TrainConfig` (``train --help`` group: curriculum, and where images shrink to B (docs/performance.md))."""

    TITLE: ClassVar[str] = "curriculum, and where images shrink to B (docs/performance.md)"

    curriculum: str = _opt("efficienttrain", f"{', '.join(list_curricula())} (no curriculum), or a curriculum YAML/JSON file")
    epochs: Optional[float] = _opt(None, "training epochs (for efficienttrain++: the compute budget in final-size epochs); default 300, or a curriculum file's own", bound=Bound(0, MAX_EPOCHS, True))
    final_size: Optional[int] = _opt(None, "final and evaluation input size (default: a curriculum file's own, else 224 for folders and the native size for demo/CIFAR)", bound=Bound(1, MAX_IMAGE_SIZE))
    multiple_of: int = _opt(1, "round curriculum sizes to a multiple of this (16 for ViT, 32 for Swin)", bound=Bound(1, 1024))
    etpp_family: Optional[str] = _opt(None, "EfficientTrain++ family: resnet, swin, cswin, deit, convnext (default: from --model)")
    magnitude: Optional[str] = _opt(None, "override the curriculum's RandAugment rule: linear or constant")
    crop_op: str = _opt("lowfreq", "how images are shrunk to B: lowfreq (the paper), bilinear, bicubic, lanczos, area, nearest")
    shrink_at: str = _opt(
        "device",
        "where images shrink to the stage's size B: device (each batch, the paper's order), workers (each image in the "
        "data-loader workers, after augmentation), before-augment (in the workers, so RandAugment runs at B; reverses the paper's order)",
    )
    reduced_decode: bool = _opt(False, "decode JPEGs at 1/2, 1/4 or 1/8 scale when the random-resized crop allows it (image folders without --preload)")
    replay: int = _opt(1, "EfficientTrain++ replay: below the final size, use each loaded image K times (fresh crop and flip); epochs then see 1/K as many distinct images", bound=Bound(1, 64))
    batch_growth: float = _opt(
        1.0,
        "larger early batches: below the final size F, a stage at size B trains batches of up to min(K, (F/B)^2) times --batch-size "
        "(fewer steps, every image once per epoch, lr scaled linearly; lowered where the pre-flight runs out of memory); 1 turns it off",
        bound=Bound(1, 64),
    )
    crop_in_workers: bool = _opt(False, "deprecated spelling of --shrink-at workers (removed in 0.2.0)")
    augment_at_size: bool = _opt(False, "deprecated: with --crop-in-workers, the spelling of --shrink-at before-augment (removed in 0.2.0)")

    def check_section(self) -> None:
        if self.crop_op not in CROP_OPS:
            raise choice_error("--crop-op", self.crop_op, CROP_OPS)
        if (self.magnitude or "linear") not in ("linear", "constant"):
            raise choice_error("--magnitude", self.magnitude, ("linear", "constant"))
        if self.shrink_at not in SHRINK_AT:
            raise choice_error("--shrink-at", self.shrink_at, SHRINK_AT)
        if self.augment_at_size and not self.crop_in_workers:
            raise UserError("--augment-at-size shrinks images in the data-loader workers: add --crop-in-workers (or pass --shrink-at before-augment)")
        if (self.crop_in_workers or self.augment_at_size) and self.shrink_at != "device" and self.shrink_at != self.resolved_shrink_at():
            raise UserError(f"--shrink-at {self.shrink_at} contradicts the deprecated --crop-in-workers/--augment-at-size; pass only --shrink-at")

    def resolved_shrink_at(self) -> str:
        """Where images shrink: ``--shrink-at``, or what its deprecated spellings say."""
        if self.augment_at_size:
            return "before-augment"
        if self.crop_in_workers:
            return "workers"
        return self.shrink_at

    def shrink_plan(self) -> ShrinkPlan:
        """The run's one decision on where and how images shrink (see :mod:`efficienttrain.data.shrink`)."""
        return ShrinkPlan(self.resolved_shrink_at(), self.crop_op, self.reduced_decode, self.replay)


@dataclass
class OptimisationOptions:
    """The optimisation section of :class:`TrainConfig` (``train --help`` group: optimisation)."""

    TITLE: ClassVar[str] = "optimisation"

    batch_size: int = _opt(128, "batch size per process", bound=_COUNT)
    lr: Optional[float] = _opt(None, "learning rate (overrides --base-lr scaling)", bound=Bound(0, 100, True))
    base_lr: float = _opt(4e-3, "learning rate at --base-batch-size; scaled linearly with the global batch", bound=Bound(0, 100, True))
    base_batch_size: int = _opt(4096, "reference batch size of --base-lr", bound=_COUNT)
    weight_decay: float = _opt(0.05, "weight decay", bound=Bound(0, 10))
    opt: str = _opt("adamw", "optimizer: adamw, adam, sgd, lamb")
    opt_betas: tuple[float, float] = _opt((0.9, 0.999), "optimizer betas", bound=Bound(0, 1))
    warmup_epochs: Optional[float] = _opt(None, "linear warm-up epochs (default: 20 per 300 epochs)", bound=Bound(0, MAX_EPOCHS))
    warmup_lr: float = _opt(1e-6, "learning rate at the start of warm-up", bound=Bound(0, 100))
    min_lr: float = _opt(1e-6, "final learning rate of the cosine schedule", bound=Bound(0, 100))
    clip_grad: Optional[float] = _opt(None, "clip the gradient norm to this value", bound=Bound(0, 1e6, True))
    layer_decay: Optional[float] = _opt(None, "layer-wise lr decay (timm's): each block down from the head gets this factor of the lr, e.g. 0.75 for fine-tuning a ViT", bound=_POSITIVE_UNIT)
    accum_steps: int = _opt(1, "gradient accumulation steps", bound=Bound(1, 10_000))

    def check_section(self) -> None:
        if self.opt not in OPTIMIZERS:
            raise choice_error("--opt", self.opt, OPTIMIZERS)


@dataclass
class AugmentationOptions:
    """The augmentation section of :class:`TrainConfig` (``train --help`` group: augmentation and regularisation (classification))."""

    TITLE: ClassVar[str] = "augmentation and regularisation (classification)"

    randaugment: str = _opt("rand-m9-mstd0.5-inc1", "timm RandAugment config ('' disables); its magnitude follows the curriculum")
    scale: tuple[float, float] = _opt((0.08, 1.0), "random-resized-crop area range", bound=_POSITIVE_UNIT)
    hflip: float = _opt(0.5, "horizontal flip probability", bound=_UNIT)
    mixup: float = _opt(0.8, "Mixup alpha (0 disables)", bound=Bound(0, 100))
    cutmix: float = _opt(1.0, "CutMix alpha (0 disables)", bound=Bound(0, 100))
    mixup_prob: float = _opt(1.0, "probability of applying Mixup/CutMix to a batch", bound=_UNIT)
    mixup_switch_prob: float = _opt(0.5, "probability of CutMix instead of Mixup when both are on", bound=_UNIT)
    smoothing: float = _opt(0.1, "label smoothing", bound=Bound(0, 0.999))
    reprob: float = _opt(0.25, "random erasing probability", bound=_UNIT)
    crop_pct: Optional[float] = _opt(None, "evaluation centre-crop fraction (default 0.875, or 1.0 from 384 px)", bound=_POSITIVE_UNIT)
    ema: bool = _opt(False, "keep an exponential moving average of the weights and evaluate it too")
    ema_decay: float = _opt(0.9999, "EMA decay", bound=_UNIT)

    def check_section(self) -> None:
        """The augmentation options' own rules (their ranges are checked with every section's)."""


@dataclass
class ObjectiveOptions:
    """The objective section of :class:`TrainConfig` (``train --help`` group: objective (and masked-autoencoder pretraining, --objective mae))."""

    TITLE: ClassVar[str] = "objective (and masked-autoencoder pretraining, --objective mae)"

    objective: str = _opt("classification", "what to train: classification (supervised, the default) or mae (masked-autoencoder pretraining of a ViT)")
    mask_ratio: float = _opt(0.75, "mae: fraction of patches masked", bound=Bound(0, 0.99))
    decoder_dim: int = _opt(128, "mae: decoder width (a multiple of 4)", bound=Bound(1, 65_536))
    decoder_depth: int = _opt(2, "mae: decoder transformer blocks", bound=Bound(1, 1000))
    decoder_heads: int = _opt(4, "mae: decoder attention heads", bound=Bound(1, 1024))
    norm_pix_loss: bool = _opt(True, "mae: reconstruct per-patch normalised pixels")
    knn_k: int = _opt(20, "mae: neighbours of the k-NN monitor", bound=_COUNT)
    knn_bank: int = _opt(0, "mae: training images in the k-NN monitor's bank, evenly spaced (0: all)", bound=Bound(0, 1e9))

    def check_section(self) -> None:
        """The objective's name, and the options only masked-autoencoder pretraining reads (checked when it runs)."""
        if self.objective not in OBJECTIVE_NAMES:
            raise choice_error("--objective", self.objective, OBJECTIVE_NAMES)
        if self.objective != "mae":
            return
        if not 0 < self.mask_ratio < 1:
            raise UserError(f"--mask-ratio must be between 0 and 1, got {self.mask_ratio}")
        if self.decoder_dim % 4:
            raise UserError(f"--decoder-dim must be a multiple of 4 (for the decoder's 2-D sine-cosine position embedding), got {self.decoder_dim}")
        if getattr(self, "layer_decay", None) is not None:
            raise UserError("--layer-decay is for fine-tuning; MAE pretraining trains every block at one lr: drop it, and give it to the fine-tune")


@dataclass
class RuntimeOptions:
    """The runtime section of :class:`TrainConfig` (``train --help`` group: runtime)."""

    TITLE: ClassVar[str] = "runtime"

    amp: str = _opt("auto", "mixed precision: auto (bf16/fp16 on CUDA; on a CPU, bf16 only where it has native bf16 and a timed step is faster), none, bf16, fp16")
    device: str = _opt("auto", "auto, cpu, cuda, cuda:N")
    workers: int = _opt(-1, "data-loader workers (-1: one per spare core)", bound=Bound(-1, 1024))
    persistent_workers: bool = _opt(True, "keep data-loader workers alive across epochs")
    eval_batch_size: Optional[int] = _opt(None, "batch size of evaluation (default: twice --batch-size; lower it when evaluation runs out of memory)", bound=Bound(1, 1_000_000))
    threads: Optional[int] = _opt(None, "torch CPU threads", bound=Bound(1, 4096))
    seed: int = _opt(0, "random seed", bound=Bound(0, 2**63 - 1))
    deterministic: bool = _opt(False, "use deterministic algorithms")
    channels_last: bool = _opt(False, "use channels-last memory format")
    compile: bool = _opt(False, "compile the model with torch.compile: one static-shape graph per stage size, each compiled in a throw-away step before its stage")
    compile_mode: str = _opt("default", "torch.compile mode: default, reduce-overhead, max-autotune or max-autotune-no-cudagraphs")
    compile_backend: str = _opt("inductor", "torch.compile backend (aot_eager: trace without generating code, for debugging)")
    compile_warmup: bool = _opt(False, "with --compile: compile every stage size before the first epoch, so that no stage starts with a stall")
    preflight: bool = _opt(True, "before the first epoch, run one throw-away training step at the largest size (fail fast on out-of-memory, report peak memory per stage size)")

    def resolved_eval_batch_size(self) -> int:
        """Evaluation's batch size: ``eval_batch_size``, else twice ``batch_size`` (no gradients to keep)."""
        return self.eval_batch_size or 2 * getattr(self, "batch_size", 1)

    def check_section(self) -> None:
        from ..compiling import COMPILE_MODES

        if self.amp not in AMP_MODES:
            raise choice_error("--amp", self.amp, AMP_MODES)
        if self.compile_mode not in COMPILE_MODES:
            raise choice_error("--compile-mode", self.compile_mode, COMPILE_MODES)
        if self.compile_mode != "default" and self.compile_backend != "inductor":
            raise UserError(f"--compile-mode {self.compile_mode} needs --compile-backend inductor")
        if self.compile_warmup and not self.compile:
            raise UserError("--compile-warmup compiles every stage size before training: add --compile")


@dataclass
class OutputOptions:
    """The output section of :class:`TrainConfig` (``train --help`` group: output)."""

    TITLE: ClassVar[str] = "output"

    output: Optional[str] = _opt(None, "output directory (default runs/<name>)")
    name: Optional[str] = _opt(None, "run name (the folder under runs/ when --output is not given)")
    overwrite: bool = _opt(False, "start afresh in an --output that holds a previous run: its files are removed first (files a run does not write are left alone)")
    resume: bool = _opt(False, "continue the checkpoint in the output directory")
    save_every: int = _opt(1, "write a checkpoint every N epochs (and always at the end and on SIGTERM/SIGINT)", bound=_COUNT)
    snapshot_every: int = _opt(0, "also keep the weights of every N-th epoch as epoch_NNN.pt (for efficienttrain analyze)", bound=Bound(0, 1_000_000))
    safetensors: bool = _opt(True, "export the final weights as safetensors")
    tensorboard: bool = _opt(False, "also log to TensorBoard (OUTPUT/tb): every step's loss, lr, size, magnitude and data wait, and every epoch's row")
    mlflow: Optional[str] = _opt(None, "also log params and the same scalars to this MLflow tracking URI (sqlite:///mlflow.db, http://host:5000); needs efficienttrain[mlflow]")
    progress: Optional[bool] = _opt(None, "show a progress bar (default: when attached to a terminal)")
    trace: bool = _opt(False, "every rank writes its per-step curriculum settings and final weight checksum (debugging, tests)")
    plot: Optional[str] = _opt(None, "write an accuracy-vs-wall-time plot of this run to this PNG")
    preset: Optional[str] = _opt(None, "start from a preset: paper (default values), cpu (a 2-core machine) or vit-small (a small ViT on small data)")

    def check_section(self) -> None:
        if self.name is not None and (self.name in ("", ".", "..") or Path(self.name).name != self.name):
            raise UserError(f"--name {self.name!r} must be a plain folder name (no '/', '.' or '..'); use --output for a path")
        if self.resume and self.overwrite:
            raise UserError("--resume continues a run and --overwrite replaces it: give one")


# The sections in ``train --help`` order; TrainConfig has every section's fields, flat.
SECTION_CLASSES: tuple[type, ...] = (DataOptions, ModelOptions, CurriculumOptions, OptimisationOptions, AugmentationOptions, ObjectiveOptions, RuntimeOptions, OutputOptions)


@dataclass
class TrainConfig(OutputOptions, RuntimeOptions, ObjectiveOptions, AugmentationOptions, OptimisationOptions, CurriculumOptions, ModelOptions, DataOptions):
    """All settings of a training run: the fields of every section, flat (``cfg.lr``, flat YAML keys, one flag each).

    Each section is a dataclass of its own (:data:`SECTION_CLASSES`) that holds its options, their
    help and ranges (field metadata) and its own rules; this class adds the rules across sections.
    """

    extra: dict[str, Any] = field(default_factory=dict)

    # -- derived values ---------------------------------------------------------------------
    def resolved_lr(self, world_size: int = 1) -> float:
        """Learning rate: ``lr`` if set, else ``base_lr`` scaled linearly by the global batch."""
        if self.lr is not None:
            return self.lr
        return self.base_lr * self.batch_size * world_size * self.accum_steps / self.base_batch_size

    def _validate_numbers(self) -> None:
        """Every numeric option finite and in its :data:`NUMERIC_BOUNDS` range (``None`` means its default rule)."""
        for name, bound in NUMERIC_BOUNDS.items():
            value = getattr(self, name)
            if value is None:
                continue
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(item, bool) or not isinstance(item, (int, float)) or not bound.admits(item):
                    raise UserError(f"{flag_name(name)} must be a number {bound.describe()}, got {value!r}")

    def lr_warning(self, world_size: int = 1) -> Optional[str]:
        """One line when the learning rate is far (10x or more) outside the usual range of its optimizer.

        The paper's recipe scales its lr from batch 4096, so a small ``--batch-size`` without
        ``--lr`` or a preset trains at a rate that learns nothing, and nothing else would say so.
        """
        lr = self.resolved_lr(world_size)
        low, high = SANE_LR[self.opt]
        if low / 10 <= lr <= high * 10:
            return None
        how = "given by --lr" if self.lr is not None else f"--base-lr {self.base_lr:g} x batch {self.batch_size * world_size * self.accum_steps} / {self.base_batch_size}"
        return (
            f"warning: lr {lr:.3g} ({how}) is far outside the usual {low:g}-{high:g} for --opt {self.opt}; "
            "set --lr, or start from --preset cpu (small batches) or another preset"
        )

    def resolved_warmup(self, total_epochs: float) -> float:
        """Warm-up length: ``warmup_epochs`` if set, else 20 of every 300 epochs."""
        return self.warmup_epochs if self.warmup_epochs is not None else total_epochs * 20.0 / 300.0

    def resolved_final_size(self) -> int:
        """Final size: ``final_size`` if set, else the data's native size (demo, CIFAR), else 224."""
        return resolve_final_size(self.data, self.final_size, self.demo_image_size)

    def resolved_crop_pct(self, final_size: int) -> float:
        """Eval centre-crop fraction: ``crop_pct`` if set, else 0.875 below 384 px and 1.0 from 384 (as the paper)."""
        if self.crop_pct is not None:
            return self.crop_pct
        return 0.875 if final_size < 384 else 1.0

    def resolved_workers(self) -> int:
        """Data-loader workers: ``workers`` if >= 0, else one per spare core (at most 8)."""
        if self.workers >= 0:
            return self.workers
        return max(0, min(8, (os.cpu_count() or 1) - 1))

    def run_name(self) -> str:
        """Name of the run (for the output folder and plots)."""
        if self.name:
            return self.name
        cur = Path(self.curriculum).stem if self.curriculum.endswith((".yaml", ".yml", ".json")) else self.curriculum
        length = f"-{_num(self.epochs)}ep" if self.epochs is not None else ""
        return f"{self.model}-{cur}{length}-seed{self.seed}"

    def output_dir(self) -> Path:
        """Directory for logs and checkpoints."""
        return Path(self.output) if self.output else Path("runs") / self.run_name()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (tuples become lists), for checkpoints and YAML."""
        out = dataclasses.asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    def batch_quantum(self) -> int:
        """Every batch size of the run is a multiple of this: the replay, doubled where Mixup/CutMix pair images."""
        return self.replay * (2 if (self.mixup > 0 or self.cutmix > 0) and self.replay % 2 else 1)

    def validate(self) -> "TrainConfig":
        """Check every section's options, then the rules across sections; return ``self``.

        Raises:
            UserError: Naming the bad field and what would be valid.
        """
        self._validate_numbers()  # every numeric range, from the fields' metadata
        for section in SECTION_CLASSES:
            section.check_section(self)  # each section's own rules (called on its class: every section has one)
        if (self.mixup > 0 or self.cutmix > 0) and self.batch_size % 2:
            raise UserError(f"Mixup/CutMix need an even --batch-size, got {self.batch_size}")
        if self.batch_size % self.replay:
            raise UserError(f"--replay must be a positive divisor of --batch-size {self.batch_size}, got {self.replay}")
        if self.batch_growth > 1 and self.accum_steps > 1:
            raise UserError("--batch-growth and --accum-steps both set the batch per update: give one of them (--batch-growth 1 or --accum-steps 1)")
        if self.extra:
            raise UserError(_unknown_keys_message(sorted(self.extra)))
        return self


def _unknown_keys_message(keys: list[str]) -> str:
    """Each unknown key with its closest valid keys; all valid keys only when one has none close."""
    names = _field_names()
    hints = [f"{k!r}{did_you_mean(k, names).replace('; ', ' (').replace('?', '?)')}" for k in keys]
    if all("did you mean" in h for h in hints):
        return f"unknown config key(s) {', '.join(hints)}"
    return f"unknown config key(s) {', '.join(hints)}; valid keys are: {', '.join(names)}"


def resolve_final_size(data: str, final_size: Optional[int] = None, demo_image_size: int = 64) -> int:
    """The runner's rule for the final size: see :func:`efficienttrain.data.datasets.default_final_size`."""
    # Imported here: datasets needs torchvision, and the command line's help reads this module without it.
    from ..data.datasets import default_final_size

    return default_final_size(data, final_size, demo_image_size)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig) if f.name != "extra"]


# The CPU preset fits realistic runs on a 2-core machine: smaller batches with a learning rate
# that is not scaled down to nothing, weaker regularisation for the short schedules such
# machines afford, and the paper's augmentation otherwise.
_CPU_PRESET: dict[str, Any] = {
    "batch_size": 64,
    "lr": 2e-3,
    "warmup_epochs": None,
    "drop_path": 0.05,
    "mixup": 0.1,
    "cutmix": 0.0,
    "reprob": 0.1,
    "scale": (0.25, 1.0),
    "workers": 1,
    "threads": None,
}
# A ViT that trains from scratch on small data on that machine: deit_tiny's width (192) with 6
# blocks, 8-px patches and an average-pooled head, so 196 tokens at 112 px. AdamW at the pilot's lr
# (the best of 1.25e-4, 2.5e-4 and 5e-4 on 800 training images held out from training: the "ViT lr
# pilot" table of benchmarks/results/evidence.md), one epoch of warm-up, gradient clipping at 1.0,
# and --amp auto: bf16 autocast where the CPU has native bf16 and a timed step is faster with it
# (1.6x on a CPU with AMX), fp32 elsewhere (bf16 was about 10x slower on an AMD EPYC with AVX2 only).
# The rest is the CPU preset.
_VIT_SMALL_PRESET: dict[str, Any] = {
    **_CPU_PRESET,
    "model": "deit_tiny_patch16_224",
    "model_kwargs": {"depth": 6, "patch_size": 8, "global_pool": "avg"},
    "multiple_of": 8,
    "amp": "auto",
    "lr": 5e-4,
    "warmup_epochs": 1.0,
    "clip_grad": 1.0,
}
PRESETS: dict[str, dict[str, Any]] = {"paper": {}, "cpu": _CPU_PRESET, "vit-small": _VIT_SMALL_PRESET}


# Help text of every option, from the fields' metadata.
HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(TrainConfig) if "help" in f.metadata}
# Every numeric option's range, checked before any work (TrainConfig.validate); a test builds bad
# values for every numeric field and expects each to have a range here.
NUMERIC_BOUNDS: dict[str, Bound] = {f.name: f.metadata["bound"] for f in fields(TrainConfig) if f.metadata.get("bound") is not None}

# The options by section: ``train --help`` groups its flags so.
SECTIONS: dict[str, tuple[str, ...]] = {section.TITLE: tuple(f.name for f in fields(section)) for section in SECTION_CLASSES}


class FieldType(NamedTuple):
    """What a config field holds, read off its type hint (for the CLI's flags and for coercion).

    Attributes:
        base: ``bool``, ``int``, ``float``, ``str``, ``tuple`` or ``None`` (anything else).
        items: Element types of a fixed-length tuple.
        optional: Whether ``None`` is allowed.
    """

    base: Optional[type]
    items: tuple[type, ...]
    optional: bool


@functools.lru_cache(maxsize=1)
def _type_hints() -> dict[str, Any]:
    # Evaluating every field's annotation takes about 10 ms; a config coerces each of its ~80 fields.
    return typing.get_type_hints(TrainConfig)


def field_type(name: str) -> FieldType:
    """The :class:`FieldType` of a :class:`TrainConfig` field."""
    hint = _type_hints()[name]
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) is typing.Union and type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return FieldType(tuple, typing.get_args(hint), optional)
    if typing.get_origin(hint) is dict:
        return FieldType(dict, (), optional)
    return FieldType(hint if hint in (bool, int, float, str) else None, (), optional)


def _coerce(name: str, value: Any) -> Any:
    """Convert a value from YAML or ``--set`` to the field's type (YAML reads ``1e-6`` as a string)."""
    kind = field_type(name)
    if value is None:
        if kind.optional:
            return None
        raise UserError(f"config key {name!r} cannot be empty")
    if kind.base is dict:
        return parse_kwargs(name, value)
    try:
        if kind.base is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "false", "no", "0"):
                return str(value).lower() in ("true", "yes", "1")
            raise ValueError(value)
        if kind.base is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        if kind.base in (float, str):
            return kind.base(value)
        if kind.base is tuple:
            items = list(value) if isinstance(value, (list, tuple)) else str(value).split(",")
            if len(items) != len(kind.items):
                raise ValueError(value)
            return tuple(t(v) for t, v in zip(kind.items, items))
    except (TypeError, ValueError):
        label = getattr(kind.base, "__name__", "value")
        raise UserError(f"config key {name!r} expects {label}, got {value!r}") from None
    return value


def flag_name(field: str) -> str:
    """The command-line flag of a config field: ``model_kwargs`` is ``--model-kwargs``."""
    return "--" + field.replace("_", "-")


def parse_kwargs(name: str, value: Any) -> dict[str, Any]:
    """A mapping from YAML, or ``KEY=VALUE`` strings from the command line (each value read as YAML)."""
    if isinstance(value, dict):
        return dict(value)
    items = [value] if isinstance(value, str) else list(value)
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = str(item).partition("=")
        if not eq or not key.strip().isidentifier():
            raise UserError(f"{flag_name(name)} takes KEY=VALUE pairs (e.g. depth=6), got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:  # not YAML: the text itself, as timm's own --model-kwargs would pass it
            out[key.strip()] = text
    return out


def make_config(values: dict[str, Any], preset: Optional[str] = None) -> TrainConfig:
    """Build a validated config from a preset and explicit values (later wins).

    Args:
        values: Field values; unknown keys are an error.
        preset: ``paper``, ``cpu``, ``vit-small`` or ``None``.

    Returns:
        The config.

    Raises:
        UserError: On an unknown preset or key, or an invalid value.
    """
    preset = preset or values.get("preset")
    merged: dict[str, Any] = {}
    if preset:
        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}{did_you_mean(preset, PRESETS)}")
        merged.update(PRESETS[preset])
        merged["preset"] = preset
    unknown = {k: v for k, v in values.items() if k not in _field_names()}
    merged.update({k: _coerce(k, v) for k, v in values.items() if k in _field_names()})
    cfg = TrainConfig(**merged)
    cfg.extra = unknown
    return cfg.validate()


def load_config(path: Union[str, Path], overrides: Optional[dict[str, Any]] = None) -> TrainConfig:
    """Load a YAML config file, apply overrides, and validate.

    Args:
        path: YAML file with :class:`TrainConfig` keys (dashes or underscores).
        overrides: Values that take precedence over the file.

    Returns:
        The config.

    Raises:
        UserError: If the file is missing or unreadable, or has unknown keys or bad values.
    """
    path = Path(path)
    if not path.is_file():
        raise missing_file_error(path, "config file")
    try:
        # libyaml's loader, where PyYAML has it: 10x faster than the pure-Python one, with the same safe types.
        raw = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UserError(f"cannot parse config {path} as YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"config {path} must be a mapping of keys to values")
    values = {str(k).replace("-", "_"): v for k, v in raw.items()}
    if values.get("extra") == {}:
        del values["extra"]  # a run's own config.yaml lists its (empty) unknown keys
    values.update(overrides or {})
    return make_config(values)
