"""Spectra of images (Figs. 2 and 5) and a numeric check of Proposition 1.

Proposition 1 says that the low-frequency crop to ``B x B`` depends only on the frequencies
inside the centred ``B x B`` window of the spectrum, while down-sampling to ``B x B`` with a
common interpolation also depends on frequencies outside it (they alias into the output).

:func:`spectral_leakage` measures this directly. For each image ``x`` and size ``B`` it forms the
*remainder* ``x_out``: ``x`` with every frequency of the window removed (a high-pass by a square
window, ``|k_y| <= B // 2`` and ``|k_x| <= B // 2``; these are exactly the frequencies that the
crop reads). Then, for each shrinking operator ``op``:

* ``leak = ||op(x_out)||^2 / ||op(x) - mean||^2``: the share of the output's energy that comes
  from outside the window. The mean, which every operator keeps, is left out of the reference,
  so the number does not depend on the image's brightness.
* ``transmission = mean(op(x_out)^2) / mean(x_out^2)``: the fraction of the out-of-window
  energy (per pixel) that gets through. Nearest-neighbour sampling folds it all back (about 1);
  antialiased resamplers damp it but do not remove it.

For the crop both are zero up to floating-point rounding (about 1e-30 in float64); for every
down-sampling mode they are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import torch

from ..errors import UserError
from ..frequency import resize_to
from ..limits import CROP_OPS
from .report import format_table, write_csv, write_json

__all__ = [
    "LEAKAGE_OPS",
    "log_spectrum",
    "window_mask",
    "remove_window",
    "spectral_leakage",
    "LeakageResult",
    "default_crop_sizes",
    "load_images",
]

LEAKAGE_OPS = CROP_OPS  # the crop and every down-sampling mode
PathLike = Union[str, Path]


def log_spectrum(x: torch.Tensor) -> torch.Tensor:
    """Centred log-magnitude spectrum, ``log10(1 + |F(x)|)``, averaged over the channels.

    Args:
        x: ``(C, H, W)`` or ``(H, W)`` image.

    Returns:
        ``(H, W)`` tensor with the zero frequency at ``(H // 2, W // 2)``.
    """
    spec = torch.fft.fftshift(torch.fft.fft2(x.to(torch.float64)), dim=(-2, -1)).abs()
    out = torch.log10(1.0 + spec)
    return out.mean(dim=0) if out.dim() == 3 else out


def window_mask(h: int, w: int, size: Union[int, tuple[int, int]], device: Union[str, torch.device, None] = None) -> torch.Tensor:
    """Boolean mask (in ``torch.fft.fft2`` order) of the frequencies a crop to ``size`` reads.

    Args:
        h: Image height.
        w: Image width.
        size: Crop size ``B`` or ``(B_h, B_w)``.
        device: Device of the mask.

    Returns:
        ``(h, w)`` mask, true where ``|k_y| <= B_h // 2`` and ``|k_x| <= B_w // 2``.
    """
    bh, bw = (size, size) if isinstance(size, int) else size
    ky = torch.fft.fftfreq(h, d=1.0 / h, device=device).abs().view(-1, 1)
    kx = torch.fft.fftfreq(w, d=1.0 / w, device=device).abs().view(1, -1)
    return (ky <= bh // 2) & (kx <= bw // 2)


def remove_window(x: torch.Tensor, size: Union[int, tuple[int, int]]) -> torch.Tensor:
    """Remove every frequency inside the crop window: what a ``size`` crop must ignore.

    Args:
        x: Real ``(..., H, W)`` tensor.
        size: Window size ``B`` or ``(B_h, B_w)``.

    Returns:
        The remainder, real, same shape and dtype as ``x``.
    """
    mask = window_mask(x.shape[-2], x.shape[-1], size, x.device)
    # The mask is symmetric under k -> -k, so the inverse transform of a real image stays real.
    return torch.fft.ifft2(torch.fft.fft2(x) * ~mask).real.to(x.dtype)


def default_crop_sizes(size: int) -> list[int]:
    """Crop sizes to show for ``size``-pixel images: 1/2, 5/8 and 3/4 of it (even numbers).

    Args:
        size: Image size.

    Returns:
        Distinct sizes smaller than ``size``.
    """
    out: list[int] = []
    for frac in (1 / 2, 5 / 8, 3 / 4):
        b = max(2, 2 * round(size * frac / 2))
        if b < size and b not in out:
            out.append(b)
    return out


@dataclass
class LeakageResult:
    """Out-of-window energy that each shrinking operator lets through (Proposition 1).

    Attributes:
        rows: One dict per (size, op): ``size``, ``op``, ``leak``, ``transmission``,
            ``outside`` (the input's energy share outside the window, without the mean) and
            ``images``.
        meta: Image size, count and dtype.
    """

    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        """The window sizes, in order."""
        return list(dict.fromkeys(r["size"] for r in self.rows))

    @property
    def ops(self) -> list[str]:
        """The operators, in order."""
        return list(dict.fromkeys(r["op"] for r in self.rows))

    def value(self, op: str, size: int, key: str = "leak") -> float:
        """One number of the table.

        Raises:
            KeyError: If there is no such row.
        """
        for r in self.rows:
            if r["op"] == op and r["size"] == size:
                return float(r[key])
        raise KeyError(f"no result for {op} at B={size}")

    def table(self, key: str = "leak") -> str:
        """One row per operator, one column per window size, cells in scientific notation."""
        headers = [key] + [f"B={b}" for b in self.sizes]
        rows = [[op] + [f"{self.value(op, b, key):.2e}" for b in self.sizes] for op in self.ops]
        return format_table(headers, rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``meta`` and ``rows``."""
        return {"meta": self.meta, "rows": self.rows}

    def to_csv(self, path: PathLike) -> Path:
        """Write the rows as CSV."""
        return write_csv(self.rows, path, ["size", "op", "leak", "transmission", "outside", "images"])

    def to_json(self, path: PathLike) -> Path:
        """Write :meth:`to_dict` as JSON."""
        return write_json(self.to_dict(), path)


def spectral_leakage(
    images: torch.Tensor,
    sizes: Sequence[int],
    ops: Sequence[str] = LEAKAGE_OPS,
    *,
    dtype: torch.dtype = torch.float64,
) -> LeakageResult:
    """Measure how much out-of-window energy each operator passes on (see the module docstring).

    Args:
        images: ``(N, C, H, W)`` images (any range; ``[0, 1]`` pixels are typical).
        sizes: Window/output sizes ``B``, each smaller than ``H`` and ``W``.
        ops: ``lowfreq`` (the crop) and down-sampling modes (:data:`~efficienttrain.frequency.DOWNSAMPLE_MODES`).
        dtype: Precision of the computation; float64 shows the crop's zero down to ~1e-30.

    Returns:
        The :class:`LeakageResult`.

    Raises:
        UserError: On an impossible size or an unknown operator.
    """
    if images.dim() != 4:
        raise UserError(f"expected a batch of images (N, C, H, W), got shape {tuple(images.shape)}")
    h, w = images.shape[-2:]
    for op in ops:
        if op not in LEAKAGE_OPS:
            raise UserError(f"unknown operator {op!r}; choose from {', '.join(LEAKAGE_OPS)}")
    x = images.to(dtype)
    centred = x - x.mean(dim=(-2, -1), keepdim=True)
    rows: list[dict[str, Any]] = []
    for b in sizes:
        if not 1 <= b < min(h, w):
            raise UserError(f"crop size {b} must be between 1 and {min(h, w) - 1} for {h}x{w} images; pick smaller --sizes")
        rest = remove_window(x, b)
        outside = float(rest.pow(2).sum() / centred.pow(2).sum().clamp_min(1e-300))
        for op in ops:
            full = resize_to(x, b, op)
            full_ac = full - full.mean(dim=(-2, -1), keepdim=True)
            leaked = resize_to(rest, b, op)
            energy = leaked.pow(2)
            rows.append(
                {
                    "size": int(b),
                    "op": op,
                    "leak": float(energy.sum() / full_ac.pow(2).sum().clamp_min(1e-300)),
                    "transmission": float(energy.mean() / rest.pow(2).mean().clamp_min(1e-300)),
                    "outside": outside,
                    "images": int(x.shape[0]),
                }
            )
    return LeakageResult(rows, {"image_size": [int(h), int(w)], "images": int(x.shape[0]), "dtype": str(dtype).replace("torch.", "")})


def load_images(paths: Sequence[PathLike], size: int) -> torch.Tensor:
    """Load image files as ``[0, 1]`` tensors, resized and centre-cropped to ``size``.

    Args:
        paths: Image files (anything Pillow reads).
        size: Output size (shorter side resized to it, then a centre crop).

    Returns:
        ``(N, 3, size, size)`` float tensor.

    Raises:
        UserError: If a file is missing or cannot be decoded.
    """
    from ..data import build_eval_transform, load_image

    tf = build_eval_transform(size, crop_pct=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    out = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.is_file():
            raise UserError(f"image not found: {path}; pass existing image files to --images")
        out.append(tf(load_image(str(path))))
    return torch.stack(out)
