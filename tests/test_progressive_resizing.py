"""Composer-style progressive resizing as a curriculum: the same size as Composer's rule at every step."""

from __future__ import annotations

import numpy as np
import pytest

from efficienttrain.curricula import factories
from efficienttrain.curricula.factories import create_curriculum, progressive_resizing


def composer_width(t: float, width: int, initial=0.5, delay=0.5, finetune=0.2, increment=4) -> int:
    """Composer's ProgressiveResizing.apply, written out from its documented rule."""
    frac = min((t - delay) / (1 - finetune - delay), 1) if t >= delay else 0.0
    scale = initial + (1 - initial) * frac
    pinned = round(width * scale / increment) * increment
    return width if pinned / width >= 1 else pinned


@pytest.mark.parametrize(
    "epochs, final, kwargs",
    [(8, 112, {}), (10, 224, {}), (5.5, 160, {"initial": 0.3, "delay": 0.1, "finetune": 0.3, "increment": 8}), (6, 96, {"delay": 0.0})],
)
def test_every_step_has_composers_size(epochs, final, kwargs):
    opts = {"initial_scale": kwargs.get("initial", 0.5), "delay_fraction": kwargs.get("delay", 0.5)}
    opts.update(finetune_fraction=kwargs.get("finetune", 0.2), size_increment=kwargs.get("increment", 4))
    cur = progressive_resizing(epochs, final, max_magnitude=3, **opts)
    steps = 4001
    rng = np.random.default_rng(0)
    # Avoid sampling exactly on a boundary, where both sides are defensible.
    fractions = (np.arange(steps) + rng.uniform(0.2, 0.8, steps)) / steps
    mismatched = [t for t in fractions if cur(t * epochs).size != composer_width(t, final, **kwargs)]
    assert not mismatched, f"{len(mismatched)} of {steps} steps differ, first at t={mismatched[0]:.4f}"
    assert cur.stages[-1].size == final and cur.magnitude_rule == "constant" and cur(0.0).magnitude == 3
    assert all(a.size < b.size for a, b in zip(cur.stages, cur.stages[1:]))


def test_defaults_and_names():
    cur = create_curriculum("composer", 10, 112)
    assert cur.stages[0].size == 56 and cur.stages[0].end == pytest.approx(5.107142857, abs=1e-6)
    assert cur.stages[-1].start == pytest.approx(7.892857142, abs=1e-6) and cur.epochs == 10
    assert "progressive-resizing" in factories.list_curricula()
    assert create_curriculum("progressive-resizing", 10, 112).to_dict() == cur.to_dict()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"initial_scale": 0.0}, "initial_scale"), ({"delay_fraction": 0.7, "finetune_fraction": 0.4}, "sum"), ({"size_increment": 0}, "size_increment")],
)
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        progressive_resizing(8, 112, **kwargs)


@pytest.mark.slow
def test_a_run_trains_at_composers_sizes_with_nearest_resizing(tmp_path):
    from efficienttrain.runner import Trainer

    from .conftest import tiny_config

    cfg = tiny_config(tmp_path, curriculum="progressive-resizing", crop_op="nearest", randaugment="rand-m3-mstd0.5-inc1", epochs=4, final_size=32)
    result = Trainer(cfg, log=lambda line: None).run()
    expected = progressive_resizing(4, 32, max_magnitude=3)
    stages = result.summary["compute"]["stages"]
    assert result.completed and [st["size"] for st in stages] == expected.sizes
    assert sum(st["images"] for st in stages) == 4 * 80  # 80 demo images, each epoch
