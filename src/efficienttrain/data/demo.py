"""The built-in demo dataset: procedurally generated, deterministic, no download.

Ten classes combine five coarse shapes (disk, square, triangle, cross, ring) with two fine
textures inside the shape (straight stripes or a checker of dots, with a period of 2.4 to 3.2
pixels at 64 px and a faint contrast). Telling the shapes apart needs only low frequencies and
is the easier cue (the shape always differs from the background in brightness); telling the
textures apart needs the high ones, close to the Nyquist limit, which the low-frequency crop of
the first stage (46 of 64 px keeps periods above 2.8 px) partly removes. A model can learn half
of the task from the early, small inputs and must use the full images for the rest: the
situation the curriculum is designed for.

Position, scale, rotation, colours, texture orientation and phase, and the smooth background all
vary per image; every image is a pure function of ``(seed, split, index)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ..errors import UserError

__all__ = ["DemoDataset", "DEMO_CLASSES", "render_demo_image", "write_demo_dataset"]

SHAPES = ("disk", "square", "triangle", "cross", "ring")
TEXTURES = ("stripes", "dots")
DEMO_CLASSES = tuple(f"{s}-{t}" for s in SHAPES for t in TEXTURES)
_SPLIT_IDS = {"train": 0, "val": 1}


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Soft (anti-aliased) mask of a unit shape in rotated, normalised coordinates ``u, v``."""
    if shape == "disk":
        d = np.sqrt(u * u + v * v) - 1.0
    elif shape == "square":
        d = np.maximum(np.abs(u), np.abs(v)) - 0.85
    elif shape == "triangle":
        # Signed distance-like value of an equilateral triangle pointing up.
        k = np.sqrt(3.0)
        d = np.maximum(np.abs(u) * k / 2 + v / 2, -v) - 0.55
    elif shape == "cross":
        arm = np.minimum(np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.33), np.maximum(np.abs(u) - 0.33, np.abs(v) - 1.0))
        d = arm
    elif shape == "ring":
        r = np.sqrt(u * u + v * v)
        d = np.abs(r - 0.75) - 0.27
    else:  # pragma: no cover - guarded by DEMO_CLASSES
        raise ValueError(shape)
    return np.clip(0.5 - d * 12.0, 0.0, 1.0)


def render_demo_image(label: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Render one demo image of class ``label``.

    Args:
        label: Class index into :data:`DEMO_CLASSES`.
        rng: Random generator that decides every nuisance factor.
        size: Side length in pixels.

    Returns:
        ``(size, size, 3)`` uint8 array.
    """
    shape = SHAPES[label // len(TEXTURES)]
    texture = TEXTURES[label % len(TEXTURES)]
    yy, xx = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")

    # The shape stands out by brightness: background and shape take opposite halves of the
    # luminance range, so the coarse cue is always visible at low resolution.
    dark_shape = rng.random() < 0.5
    bg_lo, bg_hi = (0.55, 0.9) if dark_shape else (0.1, 0.45)
    fg_lo, fg_hi = (0.1, 0.42) if dark_shape else (0.58, 0.9)

    # Smooth background: a random 3x3 colour field, bilinearly interpolated.
    grid = rng.uniform(bg_lo, bg_hi, size=(3, 3, 3))
    gy, gx = yy / (size - 1) * 2, xx / (size - 1) * 2
    y0, x0 = np.clip(gy.astype(int), 0, 1), np.clip(gx.astype(int), 0, 1)
    fy, fx = (gy - y0)[..., None], (gx - x0)[..., None]
    bg = (
        grid[y0, x0] * (1 - fy) * (1 - fx)
        + grid[y0 + 1, x0] * fy * (1 - fx)
        + grid[y0, x0 + 1] * (1 - fy) * fx
        + grid[y0 + 1, x0 + 1] * fy * fx
    )

    # Shape geometry.
    radius = rng.uniform(0.28, 0.38) * size
    cy, cx = rng.uniform(0.4, 0.6, size=2) * size
    theta = rng.uniform(0, 2 * np.pi)
    dy, dx = (yy - cy) / radius, (xx - cx) / radius
    u = np.cos(theta) * dx + np.sin(theta) * dy
    v = -np.sin(theta) * dx + np.cos(theta) * dy
    mask = _shape_mask(shape, u, v)[..., None]

    # Fine, faint texture near the Nyquist limit, in image pixels so that its frequency does not
    # depend on the shape's scale: the harder cue, which the low-frequency crop partly removes.
    period = rng.uniform(2.4, 3.2) * size / 64.0
    phi = rng.uniform(0, 2 * np.pi)
    alpha = rng.uniform(0, np.pi)
    a = (np.cos(alpha) * xx + np.sin(alpha) * yy) * 2 * np.pi / period
    if texture == "stripes":
        pattern = np.cos(a + phi)
    else:
        b = (-np.sin(alpha) * xx + np.cos(alpha) * yy) * 2 * np.pi / period
        pattern = np.cos(a + phi) * np.cos(b + phi) * 1.4
    colour = rng.uniform(fg_lo, fg_hi, size=3)
    contrast = rng.uniform(0.08, 0.14)
    fg = np.clip(colour + contrast * pattern[..., None], 0.0, 1.0)

    img = bg * (1 - mask) + fg * mask
    img = img + rng.normal(0, 0.02, size=img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


class DemoDataset(Dataset):
    """The procedural demo dataset, generated in memory at construction.

    Args:
        split: ``train`` or ``val``.
        per_class: Images per class.
        image_size: Side length in pixels.
        seed: Dataset seed; the same seed always gives the same images.
        transform: Applied to each PIL image.
        target_transform: Applied to each label.

    Raises:
        ValueError: On an unknown split or non-positive sizes.
    """

    classes = list(DEMO_CLASSES)

    def __init__(
        self,
        split: str = "train",
        *,
        per_class: int = 150,
        image_size: int = 64,
        seed: int = 0,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
    ) -> None:
        if split not in _SPLIT_IDS:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if per_class <= 0 or image_size < 8:
            raise ValueError("per_class must be positive and image_size at least 8")
        self.split = split
        self.transform = transform
        self.target_transform = target_transform
        self.class_to_idx = {c: i for i, c in enumerate(DEMO_CLASSES)}
        n = per_class * len(DEMO_CLASSES)
        self.targets = [i % len(DEMO_CLASSES) for i in range(n)]
        self.images = np.stack(
            [
                render_demo_image(label, np.random.default_rng([seed, _SPLIT_IDS[split], i]), image_size)
                for i, label in enumerate(self.targets)
            ]
        )

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple:
        img = Image.fromarray(self.images[index])
        target = self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


def write_demo_dataset(
    root: Union[str, Path], *, per_class: int = 150, val_per_class: int = 50, image_size: int = 64, seed: int = 0
) -> Path:
    """Write the demo dataset to disk in the ImageFolder layout ``root/{train,val}/<class>/*.png``.

    Args:
        root: Output directory (created).
        per_class: Training images per class.
        val_per_class: Validation images per class.
        image_size: Side length in pixels.
        seed: Dataset seed.

    Returns:
        ``root`` as a path.

    Raises:
        UserError: If ``root`` is a file, holds anything but an earlier demo dataset (the images
            would mix with another dataset's), or cannot be written.
    """
    root = Path(root).expanduser()
    _check_demo_target(root)
    try:
        for split, count in (("train", per_class), ("val", val_per_class)):
            ds = DemoDataset(split, per_class=count, image_size=image_size, seed=seed)
            for cls in DEMO_CLASSES:
                (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i, (arr, label) in enumerate(zip(ds.images, ds.targets)):
                Image.fromarray(arr).save(root / split / DEMO_CLASSES[label] / f"{i:05d}.png")
    except OSError as err:
        raise UserError(f"cannot write the demo dataset in {root} ({err.strerror or err}); choose a writable folder") from None
    return root


def _check_demo_target(root: Path) -> None:
    """Refuse a file, or a folder with anything but ``train``/``val`` folders of demo classes."""
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file; name a new folder for the demo dataset")
    if not root.is_dir():
        return
    allowed = {"train": set(DEMO_CLASSES), "val": set(DEMO_CLASSES)}
    for entry in root.iterdir():
        inside = {e.name for e in entry.iterdir()} if entry.is_dir() and entry.name in allowed else None
        if inside is None or not inside <= allowed[entry.name]:
            raise UserError(f"{root} already holds other files ({entry.name}); the demo images would mix with them: name a new or empty folder")
