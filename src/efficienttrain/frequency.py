"""Frequency-domain operators: the low-frequency crop and the filters and resamplers it is compared with.

The low-frequency crop (paper eq. 1, Fig. 5) keeps the centred ``h x w`` block of an image's 2-D
spectrum and transforms it back, giving a smaller image that holds exactly the low frequencies
(Proposition 1). It is linear and separable, so it is applied here as ``y = S_h @ x @ S_w^T`` with a
small real matrix ``S`` per (input size, output size), cached per device and dtype.

Conventions (shared by every implementation in this module, so they agree to float precision):

* Frequencies are the DFT's integer frequencies ``k`` in cycles per image. Cropping an axis of
  length ``N`` to length ``M`` keeps the frequencies ``|k| <= M // 2``.
* Odd ``M``: the window ``-(M-1)/2 .. (M-1)/2`` is symmetric; nothing more is needed.
* Even ``M``: the window has an unpaired Nyquist bin. The frequencies ``+M/2`` and ``-M/2`` of the
  input both land on it, each with weight 1/2 (the Nyquist component is split symmetrically
  between the window's two edges). For a real input this makes the output exactly real, so
  nothing is discarded by taking a real part.
* ``M == N`` is the identity, for odd and even sizes alike.
* The output is scaled by ``(M_h * M_w) / (N_h * N_w)`` so that the mean intensity (the DC
  component divided by the pixel count) is preserved.
* Output sample ``m`` sits at input position ``m * N / M``: the top-left pixel stays in place.
"""

from __future__ import annotations

import functools
from typing import Literal, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .limits import CROP_OPS, DOWNSAMPLE_MODES, MAX_IMAGE_SIZE

__all__ = [
    "crop_operator",
    "low_frequency_crop",
    "low_frequency_crop_fft",
    "low_frequency_crop_image",
    "low_pass_filter",
    "high_pass_filter",
    "downsample",
    "DOWNSAMPLE_MODES",
    "CROP_OPS",
    "resize_to",
    "MAX_IMAGE_SIZE",
]

SizeLike = Union[int, Sequence[int]]
ImageLike = Union[torch.Tensor, np.ndarray, Image.Image]
CropMethod = Literal["auto", "matmul", "rfft"]

# Below this many image planes (channels x batch) on a CPU, the separable real FFT beats the
# dense matmul: measured in benchmarks/crop_speed.py (one 3-channel image: about 0.5 ms against
# 0.85 ms on one core), while for batches the matmul wins (about 2x at batch 64).
_RFFT_MAX_PLANES = 16

_REDUCED_PRECISION = (torch.float16, torch.bfloat16)


def _pair(size: SizeLike) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(s) for s in size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or an (h, w) pair, got {size!r}") from None
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {(h, w)}")
    return h, w


def _check_max_size(*lengths: int) -> None:
    """Refuse image sides above :data:`MAX_IMAGE_SIZE`, before anything is allocated for them."""
    largest = max(lengths)
    if largest > MAX_IMAGE_SIZE:
        raise ValueError(
            f"image size {largest} is above the supported maximum {MAX_IMAGE_SIZE} "
            "(efficienttrain.frequency.MAX_IMAGE_SIZE); lower --final-size"
        )


def _check_target(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
    if out_hw[0] > in_hw[0] or out_hw[1] > in_hw[1]:
        raise ValueError(
            f"crop size {out_hw[0]}x{out_hw[1]} is larger than the input {in_hw[0]}x{in_hw[1]}; "
            "a low-frequency crop can only shrink an image (pass a size <= the input size)"
        )


def _sin_pi_ratio(num: np.ndarray, den: int) -> np.ndarray:
    """Return ``sin(pi * num / den)`` for integer ``num``, reducing the argument exactly.

    The reduction runs on the integers, so the float argument handed to ``np.sin`` is always in
    ``[0, pi/2]`` and carries only the rounding of ``num / den``: each value has a relative
    error of a few ulps, even next to a zero of the sine (which is where the crop kernel divides).

    Args:
        num: Integer (int64) numerators, any shape.
        den: Positive integer denominator.

    Returns:
        Float64 array of the shape of ``num``. Where ``num`` is a multiple of ``den`` the reduced
        argument is the integer 0, and ``sin(0.0)`` is exactly zero: the zeros are exact.
    """
    r = np.mod(num, 2 * den)  # period 2 pi <-> 2 den: r in [0, 2 den)
    negative = r >= den
    r -= den * negative  # sin(x + pi) = -sin(x): r in [0, den)
    np.minimum(r, den - r, out=r)  # sin(pi - x) = sin(x): r in [0, den / 2]
    out = np.sin(r * (np.pi / den))
    np.negative(out, out=out, where=negative)
    return out


def clear_operator_caches() -> None:
    """Forget every cached crop matrix (to time a fresh build, or to free a large one)."""
    _operator_f64.cache_clear()
    _operator_cached.cache_clear()


@functools.lru_cache(maxsize=64)
def _operator_f64(in_len: int, out_len: int) -> torch.Tensor:
    return build_crop_matrix(in_len, out_len)


def build_crop_matrix(in_len: int, out_len: int) -> torch.Tensor:
    """Build the ``(out_len, in_len)`` float64 crop matrix in O(in_len * out_len) time and memory (uncached).

    ``S[m, n] = (1/N) sum_k w_k cos(2 pi k d)`` with ``d = m/M - n/N`` and the window and weights
    of the module docstring (the sine terms cancel because both are symmetric in ``k``). The sum
    has a closed form, so no ``(M, N, M)`` phase array is needed:

    * odd ``M`` (the Dirichlet kernel): ``sin(M pi d) / sin(pi d)``;
    * even ``M``: the ``M - 1`` full-weight bins give ``sin((M-1) pi d) / sin(pi d)``, and the two
      half-weight Nyquist bins add ``cos(M pi d)``; since ``sin((M-1) x) = sin(M x) cos(x) -
      cos(M x) sin(x)``, the total is ``sin(M pi d) cos(pi d) / sin(pi d)``;
    * where ``sin(pi d) = 0`` (``d`` an integer) every term is 1, so the value is the weight sum ``M``.

    Everything is evaluated from the integer ``p = m N - n M`` (``d = p / (M N)``): the limit is
    taken where ``p == 0`` (the only integer ``d`` here, as ``|p| < M N``), and each sine is
    reduced exactly on integers (:func:`_sin_pi_ratio`), so the exact zeros stay exact and the
    precision holds up to :data:`MAX_IMAGE_SIZE`.
    """
    if out_len == in_len:
        return torch.eye(in_len, dtype=torch.float64)
    big_m, big_n = out_len, in_len
    mn = big_m * big_n
    p = np.arange(big_m, dtype=np.int64)[:, None] * big_n - np.arange(big_n, dtype=np.int64)[None, :] * big_m
    at_limit = p == 0
    op = _sin_pi_ratio(p, big_n)  # sin(M pi d) = sin(pi p / N)
    if big_m % 2 == 0:
        op *= _sin_pi_ratio(mn - 2 * p, 2 * mn)  # cos(pi d) = sin(pi (MN - 2p) / (2MN))
    denom = _sin_pi_ratio(p, mn)  # sin(pi d)
    denom[at_limit] = 1.0  # the limit is set below; this only avoids a 0/0
    op /= denom
    op[at_limit] = big_m
    op /= big_n
    return torch.from_numpy(op)


@functools.lru_cache(maxsize=256)
def _operator_cached(in_len: int, out_len: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return _operator_f64(in_len, out_len).to(device=device, dtype=dtype)


def crop_operator(
    in_len: int,
    out_len: int,
    *,
    device: Union[str, torch.device, None] = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Return the real ``(out_len, in_len)`` matrix of the 1-D low-frequency crop.

    The matrix is built in float64 once per size pair and cached per device and dtype, so
    repeated calls are free.

    Args:
        in_len: Length of the input axis.
        out_len: Length of the output axis; at most ``in_len``.
        device: Device of the returned matrix (default: CPU).
        dtype: Floating dtype of the returned matrix.

    Returns:
        ``S`` such that ``S @ x`` crops a length-``in_len`` signal ``x`` along its first axis.

    Raises:
        ValueError: If the lengths are not positive, ``out_len > in_len``, or a length is above
            :data:`MAX_IMAGE_SIZE`.
    """
    if in_len <= 0 or out_len <= 0:
        raise ValueError(f"lengths must be positive, got in_len={in_len}, out_len={out_len}")
    _check_max_size(in_len, out_len)
    _check_target((in_len, in_len), (out_len, out_len))
    return _operator_cached(int(in_len), int(out_len), torch.device(device or "cpu"), dtype)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    if not dtype.is_floating_point:
        raise TypeError(f"expected a floating-point tensor, got {dtype}; convert with .float() first")
    # Half-precision inputs are cropped in float32: every output pixel sums up to N terms, and in
    # fp16/bf16 that sum would lose ~log2(N) bits. The result is cast back once, so the error is
    # a single rounding of the output (~5e-4 relative for fp16, ~4e-3 for bf16).
    return torch.float32 if dtype in _REDUCED_PRECISION else dtype


def _crop_matmul(x: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    h, w = x.shape[-2:]
    if out_hw[1] != w:
        s_w = _operator_cached(w, out_hw[1], x.device, x.dtype)
        x = torch.matmul(x, s_w.transpose(0, 1))
    if out_hw[0] != h:
        s_h = _operator_cached(h, out_hw[0], x.device, x.dtype)
        x = torch.matmul(s_h, x)
    return x


def _crop_rfft_axis(x: torch.Tensor, out_len: int, dim: int) -> torch.Tensor:
    in_len = x.shape[dim]
    if in_len == out_len:
        return x
    # rfft keeps k = 0..M/2; irfft reads only the real part of the Nyquist bin, which for a real
    # signal is exactly the average of the +M/2 and -M/2 components: the symmetric split.
    spec = torch.fft.rfft(x, dim=dim).narrow(dim, 0, out_len // 2 + 1)
    return torch.fft.irfft(spec, n=out_len, dim=dim) * (out_len / in_len)


def _crop_rfft(x: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    return _crop_rfft_axis(_crop_rfft_axis(x, out_hw[1], -1), out_hw[0], -2)


def low_frequency_crop(x: torch.Tensor, size: SizeLike, *, method: CropMethod = "auto") -> torch.Tensor:
    """Crop the centred ``size`` block of the spectrum of ``x`` and return it as a smaller image.

    This is the paper's low-frequency crop (eq. 1) with the symmetric Nyquist convention of the
    module docstring. It preserves the mean intensity, works for any leading shape, on CPU and
    CUDA, and keeps the input's dtype.

    Args:
        x: Real floating tensor of shape ``(..., H, W)``, e.g. a normalised ``(N, C, H, W)`` batch.
        size: Output size, an int for a square ``size x size`` output or an ``(h, w)`` pair.
        method: ``"matmul"`` applies the cached operators ``S_h @ x @ S_w^T``; ``"rfft"`` runs
            the same map as separable real FFTs; ``"auto"`` (default) uses the matmul except for
            a few image planes on a CPU, where the FFT is faster. Both agree to float precision.

    Returns:
        Tensor of shape ``(..., h, w)``, with the dtype and device of ``x``. When the size equals
        the input size, ``x`` itself is returned.

    Raises:
        ValueError: If ``size`` is not positive or exceeds the input size, a side is above
            :data:`MAX_IMAGE_SIZE`, or ``x`` has fewer than two dimensions.
        TypeError: If ``x`` is not a floating-point tensor.
    """
    if x.dim() < 2:
        raise ValueError(f"expected a tensor of shape (..., H, W), got shape {tuple(x.shape)}")
    in_hw = (x.shape[-2], x.shape[-1])
    out_hw = _pair(size)
    _check_max_size(*in_hw, *out_hw)
    _check_target(in_hw, out_hw)
    compute = _compute_dtype(x.dtype)
    if out_hw == in_hw:
        return x
    if method == "auto":
        planes = x.numel() // (in_hw[0] * in_hw[1])
        method = "rfft" if x.device.type == "cpu" and planes <= _RFFT_MAX_PLANES else "matmul"
    if method not in ("matmul", "rfft"):
        raise ValueError(f"method must be 'auto', 'matmul' or 'rfft', got {method!r}")
    # Autocast would silently run the matmul in half precision; the crop controls its own dtype.
    with torch.autocast(device_type=x.device.type, enabled=False):
        xc = x.to(compute)
        y = _crop_matmul(xc, out_hw) if method == "matmul" else _crop_rfft(xc, out_hw)
    return y.to(x.dtype)


def _fold_window(spec: torch.Tensor, in_len: int, out_len: int, dim: int) -> torch.Tensor:
    """Cut the centred window out of an fftshift-ed spectrum along ``dim`` (reference path)."""
    centre = in_len // 2
    half = out_len // 2
    if out_len % 2 == 1 or out_len == in_len:
        start = centre - half if out_len % 2 == 1 else 0
        return spec.narrow(dim, start, out_len)
    # Take -M/2 .. +M/2 (M + 1 bins) and add the +M/2 edge onto -M/2 with half weight each.
    window = spec.narrow(dim, centre - half, out_len + 1)
    edge = 0.5 * (window.narrow(dim, 0, 1) + window.narrow(dim, out_len, 1))
    return torch.cat([edge, window.narrow(dim, 1, out_len - 1)], dim=dim)


def low_frequency_crop_fft(x: torch.Tensor, size: SizeLike) -> torch.Tensor:
    """Reference low-frequency crop: FFT, centre-crop the shifted spectrum, inverse FFT.

    It follows eq. 1 literally (``F^-1 o C_{h,w} o F``), with the symmetric Nyquist convention,
    and computes in the input's precision (complex64 for float32). Use it to check
    :func:`low_frequency_crop`; it is several times slower.

    Args:
        x: Real floating tensor of shape ``(..., H, W)``.
        size: Output size, an int or an ``(h, w)`` pair.

    Returns:
        Tensor of shape ``(..., h, w)`` with the dtype of ``x``.

    Raises:
        ValueError: If ``size`` is not positive or exceeds the input size.
        TypeError: If ``x`` is not a floating-point tensor.
    """
    in_hw = (x.shape[-2], x.shape[-1])
    out_hw = _pair(size)
    _check_target(in_hw, out_hw)
    compute = _compute_dtype(x.dtype)
    spec = torch.fft.fftshift(torch.fft.fft2(x.to(compute)), dim=(-2, -1))
    spec = _fold_window(spec, in_hw[0], out_hw[0], -2)
    spec = _fold_window(spec, in_hw[1], out_hw[1], -1)
    # After the fold the window runs from -floor(M/2) upward, which is what ifftshift expects.
    y = torch.fft.ifft2(torch.fft.ifftshift(spec, dim=(-2, -1))).real
    scale = (out_hw[0] * out_hw[1]) / (in_hw[0] * in_hw[1])
    return (y * scale).to(x.dtype)


def _hwc_tensor(img: ImageLike) -> tuple[torch.Tensor, str, object]:
    """View an 8-bit image as a float ``(H, W, C)`` tensor (no channel permute: saves two copies)."""
    if isinstance(img, Image.Image):
        arr = np.array(img)
        if arr.dtype != np.uint8:
            raise ValueError(f"PIL mode {img.mode!r} is not 8-bit; convert it, e.g. img.convert('RGB')")
        kind, meta = "pil", img.mode
    elif isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or img.ndim not in (2, 3):
            raise ValueError("numpy images must be uint8 arrays of shape (H, W) or (H, W, C)")
        arr, kind, meta = img, "numpy", None
    else:
        raise TypeError(f"expected a PIL image, numpy array or tensor, got {type(img).__name__}")
    planes = torch.from_numpy(np.ascontiguousarray(arr)).float()
    return (planes.unsqueeze(-1) if planes.dim() == 2 else planes), kind, meta


def _to_uint8(y: torch.Tensor) -> torch.Tensor:
    # Ringing can push a crop of a full-range image slightly outside [0, 255]: round and clamp.
    # (+0.5 then truncation rounds half up, the values being non-negative after the clamp.)
    return y.add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)


def low_frequency_crop_image(img: ImageLike, size: SizeLike) -> ImageLike:
    """Low-frequency crop of a single image, for use inside data-loader workers.

    Args:
        img: A PIL image (8-bit modes such as ``L``, ``RGB``, ``RGBA``), a uint8 numpy array
            ``(H, W)`` or ``(H, W, C)``, or a ``(C, H, W)`` tensor (uint8 or floating).
        size: Output size, an int or an ``(h, w)`` pair.

    Returns:
        The cropped image in the input's type. 8-bit outputs are rounded to the nearest integer
        and clamped to ``[0, 255]``; floating tensors are returned unclamped.

    Raises:
        ValueError: If the size is impossible or the image type is not supported.
        TypeError: If ``img`` is of an unsupported type.
    """
    if isinstance(img, torch.Tensor):
        if img.dim() != 3:
            raise ValueError(f"image tensors must be CHW, got shape {tuple(img.shape)}")
        if img.dtype == torch.uint8:
            return _to_uint8(low_frequency_crop(img.float(), size))
        return low_frequency_crop(img, size)
    hwc, kind, meta = _hwc_tensor(img)
    out_hw = _pair(size)
    _check_target((hwc.shape[0], hwc.shape[1]), out_hw)
    # Crop the (H, W) axes of the HWC layout directly with the real-FFT path (fastest on one core).
    y = _crop_rfft_axis(_crop_rfft_axis(hwc, out_hw[1], 1), out_hw[0], 0)
    arr = _to_uint8(y).numpy()
    if kind == "numpy":
        return arr if img.ndim == 3 else arr[..., 0]
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr, mode="L" if arr.shape[2] == 1 else None)


def _radial_frequency(h: int, w: int, device: torch.device) -> torch.Tensor:
    ky = torch.fft.fftfreq(h, d=1.0 / h, device=device).view(-1, 1)
    kx = torch.fft.fftfreq(w, d=1.0 / w, device=device).view(1, -1)
    return torch.sqrt(ky * ky + kx * kx)


def _radial_filter(x: torch.Tensor, radius: float, keep_low: bool) -> torch.Tensor:
    if radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    compute = _compute_dtype(x.dtype)
    h, w = x.shape[-2:]
    dist = _radial_frequency(h, w, x.device)
    mask = dist <= radius if keep_low else dist > radius
    spec = torch.fft.fft2(x.to(compute)) * mask
    return torch.fft.ifft2(spec).real.to(x.dtype)


def low_pass_filter(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Keep the frequencies inside a centred circle of the spectrum (paper Fig. 2).

    Args:
        x: Real floating tensor of shape ``(..., H, W)``.
        radius: Radius ``r`` of the circle, in cycles per image (the distance from the centre of
            the shifted spectrum in bins). ``r = 0`` keeps only the mean.

    Returns:
        The filtered tensor, same shape and dtype as ``x``.

    Raises:
        ValueError: If ``radius`` is negative.
    """
    return _radial_filter(x, radius, keep_low=True)


def high_pass_filter(x: torch.Tensor, radius: float) -> torch.Tensor:
    """Keep the frequencies outside a centred circle of the spectrum; ``x - low_pass_filter(x, r)``.

    The mean (DC) is removed, so the output is centred at zero.

    Args:
        x: Real floating tensor of shape ``(..., H, W)``.
        radius: Radius ``r`` of the removed circle, in cycles per image.

    Returns:
        The filtered tensor, same shape and dtype as ``x``.

    Raises:
        ValueError: If ``radius`` is negative.
    """
    return _radial_filter(x, radius, keep_low=False)


def _lanczos_kernel(t: np.ndarray, a: int = 3) -> np.ndarray:
    out = np.sinc(t) * np.sinc(t / a)
    out[np.abs(t) >= a] = 0.0
    return out


@functools.lru_cache(maxsize=64)
def _lanczos_matrix_f64(in_len: int, out_len: int) -> torch.Tensor:
    # Same sampling grid, support scaling (antialiasing) and per-row normalisation as Pillow's
    # LANCZOS filter, so it matches PIL on float images to float precision.
    scale = in_len / out_len
    support = 3.0 * max(scale, 1.0)
    filter_scale = max(scale, 1.0)
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    for i in range(out_len):
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_len)
        taps = np.arange(lo, hi, dtype=np.float64)
        weights = _lanczos_kernel((taps - centre + 0.5) / filter_scale)
        total = weights.sum()
        mat[i, lo:hi] = weights / total if total != 0 else weights
    return torch.from_numpy(mat)


@functools.lru_cache(maxsize=128)
def _lanczos_cached(in_len: int, out_len: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return _lanczos_matrix_f64(in_len, out_len).to(device=device, dtype=dtype)


def downsample(x: torch.Tensor, size: SizeLike, mode: str = "bilinear") -> torch.Tensor:
    """Spatially down-sample ``x``: the alternative to the low-frequency crop (Table 13b).

    ``bilinear`` and ``bicubic`` are antialiased (torch's ``antialias=True``, as PIL does);
    ``area`` averages; ``nearest`` picks pixels; ``lanczos`` is Lanczos-3 with Pillow's
    antialiasing, applied as a separable matrix so that it also runs batched and on CUDA.

    Args:
        x: Floating tensor of shape ``(..., H, W)``.
        size: Output size, an int or an ``(h, w)`` pair; at most the input size.
        mode: One of ``nearest``, ``bilinear``, ``bicubic``, ``area``, ``lanczos``.

    Returns:
        Tensor of shape ``(..., h, w)`` with the dtype of ``x``.

    Raises:
        ValueError: If the mode is unknown, the size impossible, or a side is above
            :data:`MAX_IMAGE_SIZE`.
    """
    if mode not in DOWNSAMPLE_MODES:
        raise ValueError(f"unknown down-sampling mode {mode!r}; choose one of {', '.join(DOWNSAMPLE_MODES)}")
    in_hw = (x.shape[-2], x.shape[-1])
    out_hw = _pair(size)
    _check_max_size(*in_hw, *out_hw)
    _check_target(in_hw, out_hw)
    if out_hw == in_hw:
        return x
    compute = _compute_dtype(x.dtype)
    lead = x.shape[:-2]
    xc = x.to(compute)
    with torch.autocast(device_type=x.device.type, enabled=False):
        if mode == "lanczos":
            s_h = _lanczos_cached(in_hw[0], out_hw[0], x.device, compute)
            s_w = _lanczos_cached(in_hw[1], out_hw[1], x.device, compute)
            y = torch.matmul(torch.matmul(s_h, xc), s_w.transpose(0, 1))
        else:
            flat = xc.reshape(-1, 1, *in_hw)
            kwargs = {"antialias": True, "align_corners": False} if mode in ("bilinear", "bicubic") else {}
            y = F.interpolate(flat, size=out_hw, mode=mode, **kwargs).reshape(*lead, *out_hw)
    return y.to(x.dtype)


def resize_to(x: torch.Tensor, size: SizeLike, op: str = "lowfreq") -> torch.Tensor:
    """Shrink images to ``size`` with the low-frequency crop or a down-sampling mode.

    This is the single switch behind ``--crop-op`` (Table 13b): ``lowfreq`` calls
    :func:`low_frequency_crop`, anything else :func:`downsample`.

    Args:
        x: Floating tensor ``(..., H, W)``.
        size: Output size, an int or an ``(h, w)`` pair.
        op: ``lowfreq`` or one of :data:`DOWNSAMPLE_MODES`.

    Returns:
        The shrunk tensor (``x`` itself when the size already matches).

    Raises:
        ValueError: On an unknown op, an impossible size, or a side above :data:`MAX_IMAGE_SIZE`.
    """
    # Both branches refuse sides above MAX_IMAGE_SIZE themselves, before building any operator.
    if op == "lowfreq":
        return low_frequency_crop(x, size)
    if op not in DOWNSAMPLE_MODES:
        raise ValueError(f"unknown crop op {op!r}; choose one of {', '.join(CROP_OPS)}")
    return downsample(x, size, op)
