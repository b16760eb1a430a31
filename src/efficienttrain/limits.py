"""Bounds and names the whole package agrees on, importable without PyTorch.

The command line validates its flags against these before any heavy import, so ``--help``,
``--version`` and ``schedule`` answer at once; :mod:`efficienttrain.frequency` re-exports them.
"""

from __future__ import annotations

__all__ = ["MAX_IMAGE_SIZE", "DOWNSAMPLE_MODES", "CROP_OPS"]

# The largest image side the package accepts (final sizes, stage sizes, crop operators). Training
# above it is far outside what anyone does, and a typo such as 8192 for 192 would otherwise surface
# as an allocation failure minutes later; docs/training.md documents the bound.
MAX_IMAGE_SIZE = 4096

# Down-sampling modes of efficienttrain.frequency.downsample (PIL's lanczos included).
DOWNSAMPLE_MODES = ("nearest", "bilinear", "bicubic", "area", "lanczos")

# Operators that shrink an image to a stage's size: the paper's low-frequency crop, or a down-sampling mode.
CROP_OPS = ("lowfreq",) + DOWNSAMPLE_MODES
