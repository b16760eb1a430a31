"""Tests of the frequency operators: exactness, Proposition 1, conventions, dtypes and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from efficienttrain.frequency import (
    crop_operator,
    downsample,
    high_pass_filter,
    low_frequency_crop,
    low_frequency_crop_fft,
    low_frequency_crop_image,
    low_pass_filter,
    resize_to,
)

SHAPES = [
    ((224, 224), (160, 160)),
    ((224, 224), (192, 192)),
    ((32, 32), (17, 17)),  # odd output
    ((31, 40), (17, 22)),  # non-square, odd input
    ((33, 32), (16, 15)),
    ((10, 7), (5, 6)),
    ((9, 9), (4, 4)),
]


def _centred_window(spec: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """The symmetric-Nyquist window of an (unshifted) spectrum, computed by explicit indexing."""
    h, w = spec.shape[-2:]

    def axis(n: int, m: int) -> list[tuple[int, float, int]]:
        # (input frequency, weight, output bin)
        half = m // 2
        entries = []
        for k in range(-half, half + 1):
            weight = 0.5 if (m % 2 == 0 and abs(k) == half) else 1.0
            if m == n and m % 2 == 0 and k == half:
                continue  # identity: the single Nyquist bin counted once below
            if m == n and m % 2 == 0 and k == -half:
                weight = 1.0
            entries.append((k % n, weight, k % m))
        return entries

    out = torch.zeros(*spec.shape[:-2], *out_hw, dtype=spec.dtype)
    for ki, wi, oi in axis(h, out_hw[0]):
        for kj, wj, oj in axis(w, out_hw[1]):
            out[..., oi, oj] += wi * wj * spec[..., ki, kj]
    return out


@pytest.mark.parametrize("in_hw,out_hw", SHAPES)
@pytest.mark.parametrize("method", ["matmul", "rfft"])
def test_operator_matches_fft_reference(in_hw, out_hw, method):
    x = torch.rand(2, 3, *in_hw, generator=torch.Generator().manual_seed(0))
    ours = low_frequency_crop(x, out_hw, method=method)
    ref = low_frequency_crop_fft(x.double(), out_hw)
    assert ours.shape == (2, 3, *out_hw)
    assert ours.dtype == torch.float32
    assert (ours.double() - ref).abs().max().item() < 1e-5


def test_fp32_reference_and_operator_agree_to_1e5():
    x = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    for size in (160, 192):
        dev = (low_frequency_crop(x, size, method="matmul") - low_frequency_crop_fft(x, size)).abs().max().item()
        assert dev <= 1e-5, dev


@pytest.mark.parametrize("in_hw,out_hw", SHAPES)
def test_output_spectrum_is_scaled_centre_block(in_hw, out_hw):
    """Proposition 1a: F(X_c) equals the (H'W'/HW)-scaled centre block of F(X)."""
    x = torch.rand(3, *in_hw, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    y = low_frequency_crop(x, out_hw)
    scale = (out_hw[0] * out_hw[1]) / (in_hw[0] * in_hw[1])
    expected = scale * _centred_window(torch.fft.fft2(x), out_hw)
    assert torch.allclose(torch.fft.fft2(y), expected, atol=1e-9)


def test_crop_is_invertible_on_its_window():
    """Proposition 1a: the kept block of the spectrum can be recovered from X_c."""
    x = torch.rand(64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = low_frequency_crop(x, 33)  # odd: no Nyquist sharing, so the window is recovered exactly
    recovered = torch.fft.fft2(y) * (64 * 64) / (33 * 33)
    f = torch.fft.fft2(x)
    for ki in range(-16, 17):
        for kj in range(-16, 17):
            assert torch.allclose(recovered[ki % 33, kj % 33], f[ki % 64, kj % 64], atol=1e-9)


def _cosine(n: int, ky: int, kx: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    return torch.cos(2 * torch.pi * (ky * yy + kx * xx) / n)


@pytest.mark.parametrize("ky,kx", [(85, 3), (5, 90), (100, 100), (81, 0)])
def test_high_frequencies_do_not_reach_the_crop_but_reach_downsampling(ky, kx):
    """Proposition 1b: energy outside the window leaves X_c unchanged but changes X_d."""
    n, b = 224, 160  # window keeps |k| <= 80
    x = torch.rand(1, 1, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    x_pert = x + 0.2 * _cosine(n, ky, kx)
    assert torch.allclose(low_frequency_crop(x, b), low_frequency_crop(x_pert, b), atol=1e-10)
    for mode in ("bilinear", "bicubic"):
        change = (downsample(x, b, mode) - downsample(x_pert, b, mode)).abs().max().item()
        assert change > 1e-3, (mode, change)


def test_frequencies_inside_the_window_do_reach_the_crop():
    n, b = 224, 160
    x = torch.zeros(1, 1, n, n, dtype=torch.float64)
    y = low_frequency_crop(x + 0.2 * _cosine(n, 30, 10), b)
    assert y.abs().max().item() > 0.1


def test_mean_intensity_is_preserved():
    x = torch.rand(5, 3, 97, 130, generator=torch.Generator().manual_seed(5))
    for size in [(50, 64), (96, 129), (13, 13)]:
        y = low_frequency_crop(x, size)
        assert torch.allclose(y.mean(dim=(-2, -1)), x.mean(dim=(-2, -1)), atol=1e-5)


def test_constant_image_stays_constant():
    x = torch.full((1, 3, 64, 64), 0.37)
    assert torch.allclose(low_frequency_crop(x, 40), torch.full((1, 3, 40, 40), 0.37), atol=1e-6)


def test_identity_when_size_equals_input():
    x = torch.rand(2, 3, 32, 33)
    assert low_frequency_crop(x, (32, 33)) is x
    assert torch.allclose(low_frequency_crop_fft(x, (32, 33)), x, atol=1e-6)
    assert torch.allclose(crop_operator(12, 12, dtype=torch.float64), torch.eye(12, dtype=torch.float64))


def test_output_is_exactly_real_in_reference():
    """The symmetric Nyquist split makes the inverse FFT real: nothing is discarded."""
    x = torch.rand(3, 64, 64, dtype=torch.float64)
    spec = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
    from efficienttrain.frequency import _fold_window

    spec = _fold_window(_fold_window(spec, 64, 40, -2), 64, 40, -1)
    y = torch.fft.ifft2(torch.fft.ifftshift(spec, dim=(-2, -1)))
    assert y.imag.abs().max().item() < 1e-12


def test_larger_size_raises():
    with pytest.raises(ValueError, match="larger than the input"):
        low_frequency_crop(torch.rand(1, 3, 32, 32), 33)
    with pytest.raises(ValueError, match="larger than the input"):
        low_frequency_crop(torch.rand(1, 3, 32, 32), (16, 40))
    with pytest.raises(ValueError, match="positive"):
        low_frequency_crop(torch.rand(1, 3, 32, 32), 0)
    with pytest.raises(ValueError, match="can only shrink"):
        crop_operator(10, 11)


def test_integer_tensor_rejected_with_hint():
    with pytest.raises(TypeError, match="float"):
        low_frequency_crop(torch.zeros(3, 8, 8, dtype=torch.uint8), 4)


def test_bad_method():
    with pytest.raises(ValueError, match="method"):
        low_frequency_crop(torch.rand(3, 8, 8), 4, method="dct")


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2), (torch.float64, 1e-12)])
def test_dtypes(dtype, tol):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    ref = low_frequency_crop_fft(x.double(), 40)
    y = low_frequency_crop(x.to(dtype), 40)
    assert y.dtype == dtype
    # The crop runs in float32 for half inputs: the error is about one rounding of the output
    # (plus the rounding of the input itself).
    assert (y.double() - ref).abs().max().item() < tol * max(1.0, ref.abs().max().item())


def test_autocast_does_not_lower_precision():
    x = torch.rand(2, 3, 64, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = low_frequency_crop(x, 40, method="matmul")
    assert y.dtype == torch.float32
    assert (y - low_frequency_crop_fft(x, 40)).abs().max().item() < 1e-5


def test_leading_dimensions():
    x = torch.rand(2, 2, 3, 20, 24)
    assert low_frequency_crop(x, (10, 12)).shape == (2, 2, 3, 10, 12)
    assert low_frequency_crop(torch.rand(20, 24), 8).shape == (8, 8)
    with pytest.raises(ValueError):
        low_frequency_crop(torch.rand(20), 8)


def test_operator_cache_returns_same_object():
    a = crop_operator(224, 160)
    b = crop_operator(224, 160)
    assert a is b
    assert crop_operator(224, 160, dtype=torch.float64) is not a


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    x = torch.rand(4, 3, 224, 224)
    y = low_frequency_crop(x.cuda(), 160).cpu()
    assert (y - low_frequency_crop(x, 160)).abs().max().item() < 1e-5


def test_per_image_pil_uint8_rounding_and_clamping():
    rng = np.random.default_rng(0)
    arr = (rng.random((48, 40, 3)) > 0.5).astype(np.uint8) * 255  # harsh edges ring past 0 and 255
    img = Image.fromarray(arr)
    out = low_frequency_crop_image(img, (30, 20))
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (20, 30)
    ref = low_frequency_crop_fft(torch.from_numpy(arr).permute(2, 0, 1).double(), (30, 20))
    assert ref.min() < 0 and ref.max() > 255  # the clamp is needed
    expected = ref.round().clamp(0, 255).permute(1, 2, 0).numpy().astype(np.uint8)
    assert np.abs(np.asarray(out).astype(int) - expected.astype(int)).max() <= 1


def test_per_image_other_types():
    gray = Image.fromarray(np.full((16, 16), 200, dtype=np.uint8), mode="L")
    out = low_frequency_crop_image(gray, 8)
    assert out.mode == "L" and np.all(np.asarray(out) == 200)
    arr = np.full((16, 16, 3), 10, dtype=np.uint8)
    assert low_frequency_crop_image(arr, 8).shape == (8, 8, 3)
    assert low_frequency_crop_image(np.full((16, 16), 7, dtype=np.uint8), 8).shape == (8, 8)
    t8 = torch.full((3, 16, 16), 100, dtype=torch.uint8)
    assert low_frequency_crop_image(t8, 8).dtype == torch.uint8
    tf = torch.rand(3, 16, 16)
    assert torch.allclose(low_frequency_crop_image(tf, 8), low_frequency_crop(tf, 8))
    with pytest.raises(ValueError):
        low_frequency_crop_image(torch.rand(1, 3, 16, 16), 8)
    with pytest.raises(TypeError):
        low_frequency_crop_image([1, 2, 3], 8)


def test_low_and_high_pass_split_the_image():
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    lo, hi = low_pass_filter(x, 12), high_pass_filter(x, 12)
    assert lo.shape == x.shape and hi.shape == x.shape
    assert torch.allclose(lo + hi, x, atol=1e-10)
    assert torch.allclose(low_pass_filter(x, 0), x.mean(dim=(-2, -1), keepdim=True).expand_as(x), atol=1e-10)
    assert torch.allclose(low_pass_filter(x, 100), x, atol=1e-10)
    # The circle: (3, 4) has radius 5 and survives r=5 but not r=4.9.
    c = _cosine(64, 3, 4)
    assert torch.allclose(low_pass_filter(c, 5), c, atol=1e-10)
    assert low_pass_filter(c, 4.9).abs().max() < 1e-10
    with pytest.raises(ValueError):
        low_pass_filter(x, -1)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic", "area", "lanczos"])
def test_downsample_modes(mode):
    x = torch.rand(2, 3, 50, 60)
    y = downsample(x, (23, 37), mode)
    assert y.shape == (2, 3, 23, 37) and y.dtype == x.dtype
    assert downsample(x, (50, 60), mode) is x


def test_lanczos_matches_pillow():
    arr = np.random.default_rng(1).random((50, 60)).astype(np.float32)
    pil = np.asarray(Image.fromarray(arr, mode="F").resize((37, 23), Image.LANCZOS))
    ours = downsample(torch.from_numpy(arr), (23, 37), "lanczos").numpy()
    assert np.abs(pil - ours).max() < 1e-5


def test_bilinear_is_antialiased_like_pillow():
    arr = np.random.default_rng(2).random((64, 64)).astype(np.float32)
    pil = np.asarray(Image.fromarray(arr, mode="F").resize((24, 24), Image.BILINEAR))
    ours = downsample(torch.from_numpy(arr), 24, "bilinear").numpy()
    assert np.abs(pil - ours).max() < 1e-4


def test_downsample_errors():
    with pytest.raises(ValueError, match="unknown down-sampling mode"):
        downsample(torch.rand(1, 8, 8), 4, "gaussian")
    with pytest.raises(ValueError):
        downsample(torch.rand(1, 8, 8), 9)


def test_resize_to_dispatch():
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(resize_to(x, 16), low_frequency_crop(x, 16))
    assert torch.equal(resize_to(x, 16, "bicubic"), downsample(x, 16, "bicubic"))
    with pytest.raises(ValueError, match="unknown crop op"):
        resize_to(x, 16, "fourier")
