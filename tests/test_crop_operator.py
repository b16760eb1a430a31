"""Tests of the closed-form crop operator: agreement with the old dense sum and the FFT, memory, size bound."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from efficienttrain.frequency import (
    MAX_IMAGE_SIZE,
    build_crop_matrix,
    crop_operator,
    downsample,
    low_frequency_crop,
    low_frequency_crop_fft,
    resize_to,
)


def dense_reference(in_len: int, out_len: int) -> np.ndarray:
    """The operator as it was built before the closed form: an explicit sum over an (M, N, M) phase array.

    Kept verbatim (apart from returning numpy) as the reference the closed form must reproduce; it
    needs O(in_len * out_len**2) memory, so the tests use it only up to 224 px.
    """
    if out_len == in_len:
        return np.eye(in_len, dtype=np.float64)
    half = out_len // 2
    freqs = np.arange(-half, half + 1, dtype=np.float64)
    weights = np.ones_like(freqs)
    if out_len % 2 == 0:
        # The unpaired Nyquist bin receives +M/2 and -M/2 with half weight each.
        weights[0] = weights[-1] = 0.5
    m = np.arange(out_len, dtype=np.float64)[:, None, None]
    n = np.arange(in_len, dtype=np.float64)[None, :, None]
    phase = 2.0 * np.pi * freqs * (m / out_len - n / in_len)
    return (weights * np.cos(phase)).sum(-1) / in_len


# (in, out): odd and even on both sides, in == out, out = 1 and 2, pairs with no common factor, and
# the paper's stage sizes. Larger pairs (448->320, 640->448) are compared in benchmarks/crop_operator.py,
# where the dense reference's memory (1-3 GiB) is affordable.
SIZES = [
    (1, 1),
    (2, 1),
    (2, 2),
    (3, 2),
    (5, 1),
    (5, 2),
    (7, 3),
    (8, 5),
    (9, 4),
    (10, 7),
    (16, 16),
    (17, 17),
    (31, 17),
    (33, 16),
    (64, 48),
    (97, 64),
    (100, 1),
    (100, 2),
    (101, 100),
    (128, 127),
    (224, 160),
    (224, 192),
]


@pytest.mark.parametrize("in_len,out_len", SIZES)
def test_closed_form_matches_dense_reference(in_len: int, out_len: int) -> None:
    ours = crop_operator(in_len, out_len, dtype=torch.float64).numpy()
    ref = dense_reference(in_len, out_len)
    assert ours.shape == (out_len, in_len)
    assert np.abs(ours - ref).max() <= 1e-6


@pytest.mark.parametrize("in_len,out_len", [(1031, 1030), (1024, 768), (999, 500)])
def test_operator_matches_fft_reference_on_a_basis(in_len: int, out_len: int) -> None:
    """Cropping the identity's rows with the FFT reference yields S^T: an independent check at sizes the dense sum cannot reach."""
    eye = torch.eye(in_len, dtype=torch.float64)
    ref = low_frequency_crop_fft(eye, (in_len, out_len)).T
    ours = crop_operator(in_len, out_len, dtype=torch.float64)
    assert (ours - ref).abs().max().item() <= 1e-10


@pytest.mark.parametrize("in_hw,out_hw", [((224, 224), (160, 160)), ((97, 130), (64, 97))])
def test_images_match_fft_reference(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *in_hw, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = low_frequency_crop(x, out_hw, method="matmul")
    assert (y - low_frequency_crop_fft(x, out_hw)).abs().max().item() <= 1e-10


def test_exact_zeros_and_mean_at_the_largest_size() -> None:
    # 4096 -> 2048: every other input sample sits on an output sample's kernel zero, exactly.
    try:
        op = build_crop_matrix(MAX_IMAGE_SIZE, MAX_IMAGE_SIZE // 2)
        assert (op[0, 2::2] == 0).all()
        assert op[0, 0].item() == 0.5
        # Each row sums to 1 (the DC gain), which also shows the precision holds at the bound.
        assert (op.sum(1) - 1).abs().max().item() <= 1e-12
    finally:
        del op  # a 64 MiB matrix no other test needs (uncached: nothing keeps it for the session)


def test_build_memory_at_640_to_448() -> None:
    """The old (M, N, M) construction peaked at ~2.9 GiB here; the closed form needs a few (M, N) arrays."""
    tracemalloc.start()
    try:
        build_crop_matrix(640, 448)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def _assert_refused(call) -> None:
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    assert f"above the supported maximum {MAX_IMAGE_SIZE}" in message
    assert "efficienttrain.frequency.MAX_IMAGE_SIZE" in message
    assert "--final-size" in message


def test_sizes_above_the_maximum_are_refused_before_allocating() -> None:
    too_big = MAX_IMAGE_SIZE + 1
    wide = torch.zeros(1, too_big)  # a tiny tensor with one side above the bound
    small = torch.zeros(1, 8, 8)
    tracemalloc.start()
    try:
        _assert_refused(lambda: crop_operator(too_big, 7))
        _assert_refused(lambda: crop_operator(2 * MAX_IMAGE_SIZE, 2 * MAX_IMAGE_SIZE - 1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 2**20, "the refusal must come before the operator is built"
    _assert_refused(lambda: low_frequency_crop(wide, (1, 100)))
    _assert_refused(lambda: low_frequency_crop(small, 8192))
    _assert_refused(lambda: downsample(wide, (1, 100), mode="lanczos"))
    _assert_refused(lambda: resize_to(wide, (1, 100)))
    _assert_refused(lambda: resize_to(wide, (1, 100), op="bilinear"))


def test_the_maximum_itself_is_accepted() -> None:
    assert crop_operator(MAX_IMAGE_SIZE, 1).shape == (1, MAX_IMAGE_SIZE)
