"""Data: datasets (ImageFolder, CIFAR, the demo set), transforms, and the curriculum-aware sampler."""

from .datasets import DatasetPair, build_datasets, default_final_size, load_image, native_size, validate_image_folder
from .demo import DEMO_CLASSES, DemoDataset, write_demo_dataset
from .sampler import CurriculumBatchSampler, CurriculumDataset, SampleKey, SamplerState, batch_keys, sample_seed
from .shrink import SHRINK_AT, ShrinkPlan, shrink_batch
from .transforms import build_eval_transform, build_train_transform, find_randaugment, randaugment_magnitude, set_magnitude

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
    "CurriculumDataset",
    "SampleKey",
    "SamplerState",
    "sample_seed",
    "batch_keys",
    "SHRINK_AT",
    "ShrinkPlan",
    "shrink_batch",
    "build_train_transform",
    "build_eval_transform",
    "find_randaugment",
    "set_magnitude",
    "randaugment_magnitude",
]
