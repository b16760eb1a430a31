"""Bounds and names the whole package agrees on, importable without PyTorch.

The command line validates its flags against these before any heavy import, so ``--help``,
``--version`` and ``schedule`` answer at once; :mod:`efficienttrain.frequency` re-exports them.
"""

from __future__ import annotations

__all__ = ["MAX_IMAGE_SIZE", "MAX_IMAGE_PIXELS", "DOWNSAMPLE_MODES", "CROP_OPS"]

# The largest image side the package accepts (final sizes, stage sizes, crop operators). Training
# above it is far outside what anyone does, and a typo such as 8192 for 192 would otherwise surface
# as an allocation failure minutes later; docs/training.md documents the bound.
MAX_IMAGE_SIZE = 4096

# The most pixels an input image may have (--max-image-pixels): 64 MP, an 8000 x 8000 photo. A file
# above it is treated as a corrupt image (named; skipped under --skip-bad-images) before its pixels
# are decoded: a small PNG can declare 30000 x 30000 pixels and take gigabytes to decode.
MAX_IMAGE_PIXELS = 64_000_000
#: The largest value --max-image-pixels accepts (train and shards alike).
MAX_IMAGE_PIXELS_BOUND = 10_000_000_000

# Down-sampling modes of efficienttrain.frequency.downsample (PIL's lanczos included).
DOWNSAMPLE_MODES = ("nearest", "bilinear", "bicubic", "area", "lanczos")

# Operators that shrink an image to a stage's size: the paper's low-frequency crop, or a down-sampling mode.
CROP_OPS = ("lowfreq",) + DOWNSAMPLE_MODES
