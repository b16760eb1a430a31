"""benchmarks/step_time.py: it finds runs of any length and counts the FLOPs of the run's own model."""

from __future__ import annotations

import pytest

from .conftest import load_benchmark

step_time = load_benchmark("step_time.py", "step_time_under_test")


def test_vit_pair_of_another_length_is_found_and_counted_with_its_model_kwargs():
    from efficienttrain.runner.build import build_curriculum

    configs = step_time.schedule_configs(["vit-small-ramp-16ep", "vit-small-et-16ep"], "demo", epochs=16)
    assert configs["vit-small-ramp-16ep"].epochs == 16

    # One invented time per image at every size: rho then compares compute alone.
    times = {name: {s: [1e-3] for s in build_curriculum(cfg).sizes} for name, cfg in configs.items()}
    out = step_time.summarise(configs, times, "vit-small-ramp-16ep", train_images=100)
    small = out["vit-small-ramp-16ep"]["sizes"]["112"]["flops_per_image"]
    # deit_tiny's 12 blocks of 16-px patches cost under 1.5 GFLOPs fwd+bwd at 112 px (49 tokens); the preset's
    # 6 blocks of 8-px patches (196 tokens) cost several times more: the count must see the kwargs.
    assert 2e9 < small < 8e9
    assert out["vit-small-ramp-16ep"]["rho"] == pytest.approx(1.0)
    # Equal time per image but fewer FLOPs per image in the small stages: more seconds per FLOP.
    assert out["vit-small-et-16ep"]["rho"] < 1.0


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(SystemExit, match="unknown schedule"):
        step_time.schedule_configs(["vit-small-ramp-9ep"], "demo", epochs=16)
