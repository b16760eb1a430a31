"""Loader work that shrinks with the curriculum: reduced-scale JPEG decoding and augmentation at B.

Without these, every training image is decoded at full size, random-resized-cropped to the final
size and augmented there, and only the batch is cropped to the stage's size ``B`` on the device:
the loader does the same work in every stage. Both tools here are opt-in:

* :class:`ReducedDecodeRandomResizedCrop` (``--reduced-decode``) samples the random-resized crop
  in the original image's coordinates, exactly as timm does, and then decodes the JPEG at 1/2,
  1/4 or 1/8 scale (libjpeg's DCT scaling, through Pillow's ``draft``) whenever the crop's region
  is at least that factor larger than the crop's output. Only the header is read before the crop
  is chosen, so the distribution of crops is unchanged; only the pixels are computed from a
  smaller decode. Images that are not JPEG are decoded in full.
* :class:`ShrinkToStage` (``--shrink-at before-augment``) shrinks each image to
  ``B`` right after the random-resized crop, so that RandAugment, normalisation and erasing run on
  ``B x B`` pixels. With the low-frequency crop it crops the spectrum of the final-size crop, as the
  device does; with a resampling ``--crop-op`` the random-resized crop resizes straight to ``B``
  (and a reduced-scale decode is then chosen for ``B``). This reverses the paper's order
  (augment, then crop); docs/performance.md measures what that does to accuracy.
"""

from __future__ import annotations

import io
import math
from typing import Any, Optional, Sequence, Union

from PIL import Image, UnidentifiedImageError

from .._compat import set_crop_size
from ..errors import BadImageError, first_line
from ..frequency import low_frequency_crop_image
from ..limits import MAX_IMAGE_PIXELS

__all__ = ["ReducedDecodeRandomResizedCrop", "ShrinkToStage", "load_image", "open_lazy", "RESAMPLE"]

# PIL filters of the resampling crop ops (``lowfreq`` is the spectral crop, not a filter).
RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}


def check_pixels(img: Image.Image, path: str, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse an opened (not yet decoded) image with more pixels than ``max_pixels``.

    Raises:
        BadImageError: Naming the file, its size and the limit.
    """
    width, height = img.size
    if width * height > max_pixels:
        raise too_many_pixels(path, f"{width}x{height} = {width * height / 1e6:.0f} MP", max_pixels)


def too_many_pixels(path: str, size: str, max_pixels: int) -> BadImageError:
    """The error for an image above the pixel limit (ours, or Pillow's own decompression-bomb check at twice its 89 MP)."""
    return BadImageError(
        f"image {path} is {size}, above the pixel limit of {max_pixels / 1e6:.0f} MP; shrink or delete it, "
        "raise --max-image-pixels (Pillow itself refuses more than 179 MP), or pass --skip-bad-images"
    )


def load_image(path: Union[str, bytes], max_pixels: int = MAX_IMAGE_PIXELS, min_side: Optional[int] = None, *, name: Optional[str] = None) -> Image.Image:
    """Open an image as RGB, turning decode failures into a :class:`BadImageError`.

    Args:
        path: Image file, or the encoded image itself (a sample read from a shard).
        max_pixels: The most pixels accepted, checked before decoding (:data:`~efficienttrain.limits.MAX_IMAGE_PIXELS`).
        min_side: When given, a JPEG is decoded at the smallest of 1/1, 1/2, 1/4, 1/8 scale whose
            sides stay at least this long (the caller shrinks it further): a large photo costs a
            fraction of its full decode.

        name: What error messages call the image (default: ``path``; give it for bytes).

    Returns:
        The decoded RGB image.

    Raises:
        BadImageError: If the file is corrupt, truncated, not an image, or above ``max_pixels``.
    """
    source, path = path, name or (path if isinstance(path, str) else "an image in memory")
    try:
        with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as f:
            img = Image.open(f)
            check_pixels(img, path, max_pixels)
            if min_side is not None and img.format == "JPEG":
                img.draft("RGB", (min_side, min_side))  # Pillow keeps both sides >= the request
            img.load()
            return img.convert("RGB")
    except BadImageError:
        raise
    except Image.DecompressionBombError:
        raise too_many_pixels(path, "larger than Pillow opens", max_pixels) from None
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise BadImageError(f"cannot decode image {path} ({first_line(err)}); replace or delete it, or pass --skip-bad-images") from None


def open_lazy(path: Union[str, bytes], max_pixels: int = MAX_IMAGE_PIXELS, *, name: Optional[str] = None) -> Image.Image:
    """Open an image without decoding its pixels (for :class:`ReducedDecodeRandomResizedCrop`).

    Args:
        path: Image file, or the encoded image itself (a sample read from a shard).
        max_pixels: The most pixels accepted.
        name: What error messages call the image (default: ``path``; give it for bytes).

    Raises:
        BadImageError: If the file is not a readable image, or has more than ``max_pixels`` pixels.
    """
    source, path = path, name or (path if isinstance(path, str) else "an image in memory")
    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError:
        raise too_many_pixels(path, "larger than Pillow opens", max_pixels) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise BadImageError(f"cannot decode image {path} ({first_line(err)}); replace or delete it, or pass --skip-bad-images") from None
    check_pixels(img, path, max_pixels)
    return img


def _decode(img: Image.Image, box: tuple[float, float, float, float], size: tuple[int, int], resample: int) -> Image.Image:
    """Decode (as RGB) and resize the ``box`` region of a lazily opened image to ``size``."""
    try:
        return img.convert("RGB").resize(size, resample, box=box)
    except (OSError, SyntaxError, ValueError) as err:
        name = getattr(img, "filename", "") or "an image"
        raise BadImageError(f"cannot decode image {name} ({first_line(err)}); replace or delete it, or pass --skip-bad-images") from None


class ReducedDecodeRandomResizedCrop:
    """timm's random-resized crop on an image decoded at the smallest scale that still covers the output.

    Args:
        size: Output size (the curriculum's final size; :class:`ShrinkToStage` may lower it per image).
        scale: Area range of the crop.
        ratio: Aspect-ratio range of the crop.
        interpolation: PIL filter name of the final resize (``bicubic`` in the paper's recipe).
    """

    def __init__(self, size: int, scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3), interpolation: str = "bicubic") -> None:
        self.size = (int(size), int(size))
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.resample = RESAMPLE.get(interpolation, Image.Resampling.BICUBIC)
        # How often the last calls could decode at reduced scale (for benchmarks): factor -> count.
        self.factors: dict[int, int] = {}

    def __call__(self, img: Image.Image) -> Image.Image:
        from timm.data.transforms import RandomResizedCropAndInterpolation

        # The region is drawn from the header's size, with timm's own sampler: the same crops as a
        # full decode would get for the same random state.
        i, j, h, w = RandomResizedCropAndInterpolation.get_params(img, self.scale, self.ratio)
        full_w, full_h = img.size
        out_h, out_w = self.size
        if img.format in ("JPEG", "MPO") and getattr(img, "tile", None):
            # draft() picks the largest factor s in {8, 4, 2, 1} with W / s >= the requested width
            # (and the same for heights), so the decoded region still has at least out_w x out_h pixels.
            img.draft("RGB", (math.ceil(full_w * out_w / w), math.ceil(full_h * out_h / h)))
        # The decoded size is ceil(W / s), so each axis has its own exact factor.
        fx, fy = full_w / img.size[0], full_h / img.size[1]
        self.factors[round(fx)] = self.factors.get(round(fx), 0) + 1
        box = (j / fx, i / fy, min((j + w) / fx, img.size[0]), min((i + h) / fy, img.size[1]))
        return _decode(img, box, (out_w, out_h), self.resample)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class ShrinkToStage:
    """Shrink each image to the curriculum's size ``B`` in the worker, before augmentation.

    :class:`~efficienttrain.data.worker.CurriculumDataset` sets :attr:`size` for every sample (as it
    sets the RandAugment magnitude). With ``op="lowfreq"`` the image is cropped in its spectrum
    (exactly what the device would do to the final-size crop); with a resampling op the
    random-resized crop before this step is told to produce ``B`` directly, and this step passes
    the image through.

    Args:
        op: ``lowfreq`` or a resampling op (``bilinear``, ``bicubic``, ``lanczos``, ``area``, ``nearest``).
        rrc: The random-resized crop that precedes this step (its output size is changed for resampling ops).
        final_size: The curriculum's final size.
    """

    def __init__(self, op: str, rrc: Any, final_size: int) -> None:
        if op != "lowfreq" and op not in RESAMPLE:
            raise ValueError(f"unknown crop op {op!r} for augmentation at the stage size")
        self.op = op
        self.rrc = rrc
        self.final_size = int(final_size)
        self.size: Optional[int] = None

    def set_size(self, size: Optional[int]) -> None:
        """The size of the next images (``None``: the final size)."""
        self.size = size
        if self.op != "lowfreq":
            set_crop_size(self.rrc, size or self.final_size)

    def __call__(self, img: Image.Image) -> Image.Image:
        if self.op != "lowfreq" or self.size is None or img.size == (self.size, self.size):
            return img
        return low_frequency_crop_image(img, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(op={self.op!r})"
