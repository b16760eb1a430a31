"""Data: datasets (ImageFolder, CIFAR, the demo set, WebDataset shards), transforms, the curriculum-aware sampler and stream."""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

# Imported on first use: the command line reads the shrink plan's names without torchvision or timm.
_WHERE: dict[str, str] = {
    **dict.fromkeys(("DatasetPair", "build_datasets", "default_final_size", "load_image", "native_size", "validate_image_folder"), ".datasets"),
    **dict.fromkeys(("DEMO_CLASSES", "DemoDataset", "write_demo_dataset"), ".demo"),
    **dict.fromkeys(("BatchGrowth", "CurriculumBatchSampler", "CurriculumSchedule", "SamplerState", "batch_keys"), ".sampler"),
    **dict.fromkeys(("CurriculumStream", "EvalStream", "ShardSet"), ".stream"),
    **dict.fromkeys(("CurriculumDataset", "SampleKey", "sample_seed", "replay_view"), ".worker"),
    **dict.fromkeys(("SHRINK_AT", "ShrinkPlan", "shrink_batch"), ".shrink"),
    **dict.fromkeys(("StageTransforms", "build_eval_transform", "build_train_transform", "find_randaugment", "randaugment_magnitude", "set_magnitude"), ".transforms"),
}
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)

if TYPE_CHECKING:  # pragma: no cover
    from .datasets import DatasetPair, build_datasets, default_final_size, load_image, native_size, validate_image_folder
    from .demo import DEMO_CLASSES, DemoDataset, write_demo_dataset
    from .sampler import BatchGrowth, CurriculumBatchSampler, CurriculumSchedule, SamplerState, batch_keys
    from .stream import CurriculumStream, EvalStream, ShardSet
    from .worker import CurriculumDataset, SampleKey, replay_view, sample_seed
    from .shrink import SHRINK_AT, ShrinkPlan, shrink_batch
    from .transforms import StageTransforms, build_eval_transform, build_train_transform, find_randaugment, randaugment_magnitude, set_magnitude

__all__ = [
    "DatasetPair",
    "build_datasets",
    "load_image",
    "validate_image_folder",
    "native_size",
    "default_final_size",
    "DEMO_CLASSES",
    "DemoDataset",
    "write_demo_dataset",
    "CurriculumBatchSampler",
    "BatchGrowth",
    "CurriculumSchedule",
    "CurriculumStream",
    "EvalStream",
    "ShardSet",
    "CurriculumDataset",
    "SampleKey",
    "SamplerState",
    "sample_seed",
    "replay_view",
    "batch_keys",
    "SHRINK_AT",
    "ShrinkPlan",
    "shrink_batch",
    "StageTransforms",
    "build_train_transform",
    "build_eval_transform",
    "find_randaugment",
    "set_magnitude",
    "randaugment_magnitude",
]
