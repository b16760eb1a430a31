"""Tests of the cost models."""

from __future__ import annotations

import pytest
import torch

from efficienttrain.cost import curriculum_cost, get_cost_function, measured_cost, pixel_cost, token_cost, token_cost_for_model
from efficienttrain.curricula import constant, efficienttrain, efficienttrain_pp


def test_default_schedule_is_153x_under_pixel_model():
    report = curriculum_cost(efficienttrain(300, 224))
    assert report.relative_cost == pytest.approx(9830400 / 15052800)  # (180*160^2 + 60*192^2 + 60*224^2) / (300*224^2)
    assert round(report.speedup, 2) == 1.53
    assert sum(report.stage_costs) == pytest.approx(report.relative_cost)
    assert report.cumulative[-1] == (300, pytest.approx(report.relative_cost))
    assert report.final_size_epochs == pytest.approx(300 * report.relative_cost)


def test_speedup_independent_of_epochs():
    assert curriculum_cost(efficienttrain(100, 224)).speedup == pytest.approx(curriculum_cost(efficienttrain(300, 224)).speedup)


def test_baseline_costs_one():
    assert curriculum_cost(constant(10, 224)).speedup == pytest.approx(1.0)


@pytest.mark.parametrize("dim,expected", [(192, 1.59), (384, 1.56)])
def test_token_model_reproduces_table6_for_deit(dim, expected):
    """DeiT-Tiny (d=192) and DeiT-Small (d=384), patch 16, one class token: Table 6 speedups."""
    report = curriculum_cost(efficienttrain(300, 224), lambda b: token_cost(b, patch_size=16, embed_dim=dim, num_prefix_tokens=1))
    assert round(report.speedup, 2) == expected


def test_token_cost_quadratic_term():
    small = token_cost(112, embed_dim=64)
    big = token_cost(224, embed_dim=64)
    assert big / small > 4.0  # more than the 4x pixel ratio, because of attention's n^2


def test_token_cost_for_timm_model():
    cost = token_cost_for_model("deit_tiny_patch16_224")
    assert cost(224) == token_cost(224, patch_size=16, embed_dim=192, num_prefix_tokens=1)
    with pytest.raises(ValueError, match="ViT"):
        token_cost_for_model("resnet10t")


def test_etpp_costs_its_budget_under_pixel_model():
    cur = efficienttrain_pp(300, 224, family="resnet")
    report = curriculum_cost(cur)
    assert report.final_size_epochs == pytest.approx(300)


def test_measured_cost_times_each_size():
    table = measured_cost(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 10)), [16, 32], batch_size=4, steps=2, warmup=1, device="cpu")
    assert set(table) == {16, 32} and all(v > 0 for v in table.values())


def test_get_cost_function_errors():
    assert get_cost_function("pixel") is pixel_cost
    with pytest.raises(ValueError, match="needs a model"):
        get_cost_function("tokens")
    with pytest.raises(ValueError, match="unknown cost model"):
        get_cost_function("flops")


def test_training_flops_counts_attention():
    """The fused CPU attention kernel has no FLOP formula; the count must still see its two products."""
    import torch

    from efficienttrain.cost import training_flops

    class AttentionOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # (B, C, H, W) -> one head over H*W tokens of width C
            t = (x * self.scale).flatten(2).transpose(1, 2).unsqueeze(1).contiguous()
            return torch.nn.functional.scaled_dot_product_attention(t, t, t)

    n, d = 8 * 8, 64  # a ViT-like head width: the fused kernel takes it (a width of 3 falls back to math)
    forward = 2 * (2 * n * n * d)  # Q K^T and the weighted sum of V, per image
    flops = training_flops(AttentionOnly(), [8], channels=d)
    # backward: two products per forward product (gradients of both operands)
    assert flops[8] == pytest.approx(3 * forward)
