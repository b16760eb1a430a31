"""Configuration of the recipe runner: the paper's recipe (Table 14) as defaults, plus presets.

A :class:`TrainConfig` is a flat dataclass. It can be built from keyword arguments, from a YAML
file (unknown keys are rejected with the list of valid ones), and from command-line flags, which
the CLI derives from the fields below, so every option is reachable all three ways.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from ..errors import UserError

__all__ = ["TrainConfig", "PRESETS", "load_config", "make_config", "resolve_final_size", "HELP"]


@dataclass
class TrainConfig:
    """All settings of a training run. See :data:`HELP` for what each field means."""

    # data
    data: str = "demo"
    data_root: Optional[str] = None
    download: bool = False
    preload: bool = False
    preload_max_size: Optional[int] = None
    skip_bad_images: bool = False
    val_split: str = "val"
    demo_per_class: int = 150
    demo_val_per_class: int = 50
    demo_image_size: int = 64
    # model
    model: str = "resnet18"
    pretrained: bool = False
    init_from: Optional[str] = None
    drop_path: float = 0.1
    # curriculum
    curriculum: str = "efficienttrain"
    epochs: Optional[float] = None
    final_size: Optional[int] = None
    multiple_of: int = 1
    etpp_family: Optional[str] = None
    magnitude: Optional[str] = None
    crop_op: str = "lowfreq"
    crop_in_workers: bool = False
    # optimisation (Table 14)
    batch_size: int = 128
    lr: Optional[float] = None
    base_lr: float = 4e-3
    base_batch_size: int = 4096
    weight_decay: float = 0.05
    opt: str = "adamw"
    opt_betas: tuple[float, float] = (0.9, 0.999)
    warmup_epochs: Optional[float] = None
    warmup_lr: float = 1e-6
    min_lr: float = 1e-6
    clip_grad: Optional[float] = None
    accum_steps: int = 1
    # augmentation and regularisation (Table 14)
    randaugment: str = "rand-m9-mstd0.5-inc1"
    scale: tuple[float, float] = (0.08, 1.0)
    hflip: float = 0.5
    mixup: float = 0.8
    cutmix: float = 1.0
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5
    smoothing: float = 0.1
    reprob: float = 0.25
    crop_pct: Optional[float] = None
    ema: bool = False
    ema_decay: float = 0.9999
    # runtime
    amp: str = "auto"
    device: str = "auto"
    workers: int = -1
    persistent_workers: bool = True
    threads: Optional[int] = None
    seed: int = 0
    deterministic: bool = False
    channels_last: bool = False
    # output
    output: Optional[str] = None
    name: Optional[str] = None
    resume: bool = False
    save_every: int = 1
    snapshot_every: int = 0
    safetensors: bool = True
    tensorboard: bool = False
    progress: Optional[bool] = None
    trace: bool = False
    plot: Optional[str] = None
    preset: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -- derived values ---------------------------------------------------------------------
    def resolved_lr(self, world_size: int = 1) -> float:
        """Learning rate: ``lr`` if set, else ``base_lr`` scaled linearly by the global batch."""
        if self.lr is not None:
            return self.lr
        return self.base_lr * self.batch_size * world_size * self.accum_steps / self.base_batch_size

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

    def validate(self) -> "TrainConfig":
        """Check field values and return ``self``.

        Raises:
            UserError: Naming the bad field and what would be valid.
        """
        from ..frequency import CROP_OPS

        if self.epochs is not None and not (self.epochs > 0 and math.isfinite(self.epochs)):
            raise UserError(f"--epochs must be positive, got {self.epochs}")
        if self.batch_size <= 0:
            raise UserError(f"--batch-size must be positive, got {self.batch_size}")
        if self.save_every < 1 or self.snapshot_every < 0:
            raise UserError("--save-every must be at least 1 and --snapshot-every non-negative")
        if self.accum_steps < 1:
            raise UserError(f"--accum-steps must be at least 1, got {self.accum_steps}")
        if self.final_size is not None and self.final_size <= 0:
            raise UserError(f"--final-size must be positive, got {self.final_size}")
        if self.multiple_of < 1:
            raise UserError(f"--multiple-of must be at least 1, got {self.multiple_of}")
        if self.crop_op not in CROP_OPS:
            raise UserError(f"--crop-op must be one of {', '.join(CROP_OPS)}, got {self.crop_op!r}")
        if self.amp not in ("auto", "none", "bf16", "fp16"):
            raise UserError(f"--amp must be auto, none, bf16 or fp16, got {self.amp!r}")
        if self.magnitude not in (None, "linear", "constant"):
            raise UserError(f"--magnitude must be linear or constant, got {self.magnitude!r}")
        if self.opt not in ("adamw", "sgd", "lamb", "adam"):
            raise UserError(f"--opt must be adamw, sgd, lamb or adam, got {self.opt!r}")
        if (self.mixup > 0 or self.cutmix > 0) and self.batch_size % 2:
            raise UserError(f"Mixup/CutMix need an even --batch-size, got {self.batch_size}")
        for name in ("mixup", "cutmix", "smoothing", "reprob", "drop_path", "mixup_prob", "hflip"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be non-negative")
        if self.crop_pct is not None and not 0 < self.crop_pct <= 1:
            raise UserError(f"--crop-pct must be in (0, 1], got {self.crop_pct}")
        if self.extra:
            raise UserError(f"unknown config key(s) {sorted(self.extra)}; valid keys are: {', '.join(_field_names())}")
        return self


def resolve_final_size(data: str, final_size: Optional[int] = None, demo_image_size: int = 64) -> int:
    """The runner's rule for the final (evaluation) size of a run.

    Args:
        data: The ``data`` setting.
        final_size: An explicit final size, if any.
        demo_image_size: Size of the demo images.

    Returns:
        ``final_size`` if set; the native size of the demo data (``demo_image_size``) or of
        CIFAR (32); otherwise 224.
    """
    if final_size:
        return int(final_size)
    native = {"demo": demo_image_size, "cifar10": 32, "cifar100": 32}.get(data)
    return int(native or 224)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig) if f.name != "extra"]


# The CPU preset fits realistic runs on a 2-core machine: smaller batches with a learning rate
# that is not scaled down to nothing, weaker regularisation for the short schedules such
# machines afford, and the paper's augmentation otherwise.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu": {
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
    },
}

HELP: dict[str, str] = {
    "data": "dataset: 'demo' (built in), 'cifar10', 'cifar100', or an ImageFolder DIR with train/ and val/",
    "data_root": "where torchvision datasets are stored (default ./data)",
    "download": "let torchvision download CIFAR when missing (needs network)",
    "preload": "decode an ImageFolder into memory once (small datasets)",
    "preload_max_size": "with --preload, shrink images to this shorter side while loading",
    "skip_bad_images": "skip and count corrupt images instead of stopping",
    "val_split": "name of the validation directory of an ImageFolder",
    "demo_per_class": "demo dataset: training images per class",
    "demo_val_per_class": "demo dataset: validation images per class",
    "demo_image_size": "demo dataset: image size",
    "model": "timm model name",
    "pretrained": "start from timm's pretrained weights (needs them cached locally)",
    "init_from": "fine-tune from this checkpoint (.pt or .safetensors); a mismatched head is re-initialised",
    "drop_path": "stochastic depth rate",
    "curriculum": "efficienttrain, efficienttrain++, linear, none, or a curriculum YAML/JSON file",
    "epochs": "training epochs (for efficienttrain++: the compute budget in final-size epochs); default 300, or a curriculum file's own",
    "final_size": "final and evaluation input size (default: a curriculum file's own, else 224 for folders and the native size for demo/CIFAR)",
    "multiple_of": "round curriculum sizes to a multiple of this (16 for ViT, 32 for Swin)",
    "etpp_family": "EfficientTrain++ family: resnet, swin, cswin, deit, convnext (default: from --model)",
    "magnitude": "override the curriculum's RandAugment rule: linear or constant",
    "crop_op": "how images are shrunk to B: lowfreq (the paper), bilinear, bicubic, lanczos, area, nearest",
    "crop_in_workers": "crop each image in the data-loader workers instead of each batch on the device",
    "batch_size": "batch size per process",
    "lr": "learning rate (overrides --base-lr scaling)",
    "base_lr": "learning rate at --base-batch-size; scaled linearly with the global batch",
    "base_batch_size": "reference batch size of --base-lr",
    "weight_decay": "weight decay",
    "opt": "optimizer: adamw, adam, sgd, lamb",
    "opt_betas": "optimizer betas",
    "warmup_epochs": "linear warm-up epochs (default: 20 per 300 epochs)",
    "warmup_lr": "learning rate at the start of warm-up",
    "min_lr": "final learning rate of the cosine schedule",
    "clip_grad": "clip the gradient norm to this value",
    "accum_steps": "gradient accumulation steps",
    "randaugment": "timm RandAugment config ('' disables); its magnitude follows the curriculum",
    "scale": "random-resized-crop area range",
    "hflip": "horizontal flip probability",
    "mixup": "Mixup alpha (0 disables)",
    "cutmix": "CutMix alpha (0 disables)",
    "mixup_prob": "probability of applying Mixup/CutMix to a batch",
    "mixup_switch_prob": "probability of CutMix instead of Mixup when both are on",
    "smoothing": "label smoothing",
    "reprob": "random erasing probability",
    "crop_pct": "evaluation centre-crop fraction (default 0.875, or 1.0 from 384 px)",
    "ema": "keep an exponential moving average of the weights and evaluate it too",
    "ema_decay": "EMA decay",
    "amp": "mixed precision: auto (bf16/fp16 on CUDA, off on CPU), none, bf16, fp16",
    "device": "auto, cpu, cuda, cuda:N",
    "workers": "data-loader workers (-1: one per spare core)",
    "persistent_workers": "keep data-loader workers alive across epochs",
    "threads": "torch CPU threads",
    "seed": "random seed",
    "deterministic": "use deterministic algorithms",
    "channels_last": "use channels-last memory format",
    "output": "output directory (default runs/<name>)",
    "name": "run name",
    "resume": "continue the checkpoint in the output directory",
    "save_every": "write a checkpoint every N epochs (and always at the end and on SIGTERM/SIGINT)",
    "snapshot_every": "also keep the weights of every N-th epoch as epoch_NNN.pt (for efficienttrain analyze)",
    "safetensors": "export the final weights as safetensors",
    "tensorboard": "also log to TensorBoard",
    "progress": "show a progress bar (default: when attached to a terminal)",
    "trace": "every rank writes its per-step curriculum settings and final weight checksum (debugging, tests)",
    "plot": "write an accuracy-vs-wall-time plot of this run to this PNG",
    "preset": "start from a preset: paper (default values) or cpu",
}


def _coerce(name: str, value: Any) -> Any:
    """Convert a value from YAML or ``--set`` to the field's type (YAML reads ``1e-6`` as a string)."""
    import typing

    hint = typing.get_type_hints(TrainConfig)[name]
    args = typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise UserError(f"config key {name!r} cannot be empty")
    target = next((a for a in args if a is not type(None)), hint) if typing.get_origin(hint) is typing.Union else hint
    origin = typing.get_origin(target)
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "false", "no", "0"):
                return str(value).lower() in ("true", "yes", "1")
            raise ValueError(value)
        if target is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        if target is float:
            return float(value)
        if target is str:
            return str(value)
        if origin is tuple:
            items = list(value) if isinstance(value, (list, tuple)) else str(value).split(",")
            inner = typing.get_args(target)
            if len(items) != len(inner):
                raise ValueError(value)
            return tuple(t(v) for t, v in zip(inner, items))
    except (TypeError, ValueError):
        raise UserError(f"config key {name!r} expects {getattr(target, '__name__', target)}, got {value!r}") from None
    return value


def make_config(values: dict[str, Any], preset: Optional[str] = None) -> TrainConfig:
    """Build a validated config from a preset and explicit values (later wins).

    Args:
        values: Field values; unknown keys are an error.
        preset: ``paper``, ``cpu`` or ``None``.

    Returns:
        The config.

    Raises:
        UserError: On an unknown preset or key, or an invalid value.
    """
    preset = preset or values.get("preset")
    merged: dict[str, Any] = {}
    if preset:
        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
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
        raise UserError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"cannot parse config {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"config {path} must be a mapping of keys to values")
    values = {str(k).replace("-", "_"): v for k, v in raw.items()}
    values.update(overrides or {})
    return make_config(values)
