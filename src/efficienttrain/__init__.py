"""efficienttrain: train vision backbones ~1.5x faster with the EfficientTrain curriculum.

Early in training the model sees only the low-frequency content of each image (a crop in the
Fourier spectrum, which also makes the inputs smaller) and weaker augmentation; both ramp up to
the full images and the full RandAugment magnitude by the end.

The main entry points:

* :func:`low_frequency_crop` and friends in :mod:`efficienttrain.frequency`;
* curricula: :func:`efficienttrain`, :func:`efficienttrain_pp`, :func:`linear`, :func:`constant`,
  :func:`load_curriculum`, :func:`create_curriculum`;
* the cost model: :func:`curriculum_cost`;
* the drop-in pieces for your own loop: :class:`CurriculumDataset`, :class:`CurriculumBatchSampler`,
  :func:`crop_batch`, :func:`set_epoch`, :func:`build_train_transform`; for WebDataset shards,
  :class:`ShardSet`, :class:`CurriculumStream` and :class:`EvalStream`;
* ``torch.compile`` across stages: :func:`compile_for_curriculum`, and
  :func:`preserved_training_state` for throw-away steps (warm-up, memory checks);
* the recipe runner: :func:`train`, :class:`Trainer`, :class:`TrainConfig`.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"

# Public name -> the module that owns it. Nothing is imported until a name is used, so the command
# line answers --version and --help without PyTorch; type checkers see the imports below.
_WHERE: dict[str, str] = {
    **dict.fromkeys(("crop_batch", "find_curriculum_sampler", "set_epoch"), ".api"),
    **dict.fromkeys(("CompiledModel", "compile_for_curriculum"), ".compiling"),
    **dict.fromkeys(("CostReport", "curriculum_cost", "get_cost_function", "measured_cost", "pixel_cost", "token_cost"), ".cost"),
    **dict.fromkeys(
        ("Curriculum", "Settings", "Stage", "constant", "create_curriculum", "efficienttrain", "efficienttrain_pp", "linear", "list_curricula", "load_curriculum"),
        ".curricula",
    ),
    **dict.fromkeys(
        ("BatchGrowth", "CurriculumBatchSampler", "CurriculumDataset", "CurriculumStream", "DemoDataset", "EvalStream", "ShardSet", "ShrinkPlan", "build_eval_transform", "build_train_transform", "set_magnitude"),
        ".data",
    ),
    "preserved_training_state": ".dryrun",
    "UserError": ".errors",
    **dict.fromkeys(
        ("downsample", "high_pass_filter", "low_frequency_crop", "low_frequency_crop_fft", "low_frequency_crop_image", "low_pass_filter", "resize_to"), ".frequency"
    ),
    **dict.fromkeys(("check_model_sizes", "create_model"), ".models"),
    **dict.fromkeys(("train", "Trainer", "TrainConfig", "RunResult"), ".runner"),
}
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)

if TYPE_CHECKING:  # pragma: no cover
    from .api import crop_batch, find_curriculum_sampler, set_epoch
    from .compiling import CompiledModel, compile_for_curriculum
    from .cost import CostReport, curriculum_cost, get_cost_function, measured_cost, pixel_cost, token_cost
    from .curricula import Curriculum, Settings, Stage, constant, create_curriculum, efficienttrain, efficienttrain_pp, linear, list_curricula, load_curriculum
    from .data import BatchGrowth, CurriculumBatchSampler, CurriculumDataset, CurriculumStream, DemoDataset, EvalStream, ShardSet, ShrinkPlan, build_eval_transform, build_train_transform, set_magnitude
    from .dryrun import preserved_training_state
    from .errors import UserError
    from .frequency import downsample, high_pass_filter, low_frequency_crop, low_frequency_crop_fft, low_frequency_crop_image, low_pass_filter, resize_to
    from .models import check_model_sizes, create_model
    from .runner import RunResult, Trainer, TrainConfig, train


__all__ = [
    "__version__",
    "low_frequency_crop",
    "low_frequency_crop_fft",
    "low_frequency_crop_image",
    "low_pass_filter",
    "high_pass_filter",
    "downsample",
    "resize_to",
    "Curriculum",
    "Settings",
    "Stage",
    "efficienttrain",
    "efficienttrain_pp",
    "linear",
    "constant",
    "load_curriculum",
    "create_curriculum",
    "list_curricula",
    "CostReport",
    "curriculum_cost",
    "pixel_cost",
    "token_cost",
    "measured_cost",
    "get_cost_function",
    "CurriculumBatchSampler",
    "BatchGrowth",
    "CurriculumDataset",
    "CurriculumStream",
    "EvalStream",
    "ShardSet",
    "ShrinkPlan",
    "compile_for_curriculum",
    "CompiledModel",
    "preserved_training_state",
    "DemoDataset",
    "build_train_transform",
    "build_eval_transform",
    "set_magnitude",
    "crop_batch",
    "set_epoch",
    "find_curriculum_sampler",
    "create_model",
    "check_model_sizes",
    "UserError",
    "train",
    "Trainer",
    "TrainConfig",
    "RunResult",
]
