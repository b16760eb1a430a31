"""Tests of the curricula: the paper's tables, EfficientTrain++, scaling, serialisation, validation."""

from __future__ import annotations

import json

import pytest

from efficienttrain.curricula import (
    Curriculum,
    Stage,
    constant,
    create_curriculum,
    efficienttrain,
    efficienttrain_pp,
    etpp_family_for_model,
    linear,
    load_curriculum,
    round_size,
)


def _size_per_epoch(cur: Curriculum) -> list[int]:
    """Size at the start of each 1-based epoch."""
    return [cur(e).size for e in range(cur.num_epochs)]


def test_table5_exact():
    cur = efficienttrain(300, 224)
    sizes = _size_per_epoch(cur)
    assert sizes[:180] == [160] * 180  # epochs 1-180
    assert sizes[180:240] == [192] * 60  # epochs 181-240
    assert sizes[240:] == [224] * 60  # epochs 241-300
    # m = (t / T) * 9 with t the epoch counted from 1
    for t in (1, 100, 180, 181, 240, 300):
        assert cur(t - 1).magnitude == pytest.approx(9 * t / 300)
        assert cur(t - 1).epoch == t
    assert [cur.epoch_range(s) for s in cur.stages] == ["0-180", "180-240", "240-300"]


def test_magnitude_is_constant_within_an_epoch():
    cur = efficienttrain(300, 224)
    assert cur(10.0).magnitude == cur(10.99).magnitude == pytest.approx(9 * 11 / 300)


def test_progress_is_clamped():
    cur = efficienttrain(10, 224)
    assert cur(-3).size == 160
    assert cur(25).size == 224 and cur(25).magnitude == pytest.approx(9.0)
    with pytest.raises(ValueError):
        cur(float("nan"))


@pytest.mark.parametrize("epochs", [100, 200, 300, 30])
def test_table8a_epoch_scaling(epochs):
    cur = efficienttrain(epochs, 224)
    assert [(s.start, s.end, s.size) for s in cur.stages] == [
        (0.0, pytest.approx(0.6 * epochs), 160),
        (pytest.approx(0.6 * epochs), pytest.approx(0.8 * epochs), 192),
        (pytest.approx(0.8 * epochs), epochs, 224),
    ]


def test_fractional_boundaries_are_exact():
    cur = efficienttrain(12, 224)
    assert cur.stages[0].end == pytest.approx(7.2)
    assert cur(7.19).size == 160 and cur(7.2).size == 192
    assert cur.epoch_range(cur.stages[0]) == "0-7.20"


@pytest.mark.parametrize("gamma,expected", [(224, [160, 192, 224]), (384, [160, 272, 384]), (512, [160, 336, 512])])
def test_table8c_final_sizes(gamma, expected):
    assert [s.size for s in efficienttrain(300, gamma).stages] == expected


def test_small_final_size_scales_proportionally():
    cur = efficienttrain(100, 64)
    assert [s.size for s in cur.stages] == [46, 55, 64]  # 160*64/224=45.7, 192*64/224=54.9
    assert [s.size for s in efficienttrain(100, 112).stages] == [80, 96, 112]


def test_multiple_of_rounding():
    assert [s.size for s in efficienttrain(300, 224, multiple_of=32).stages] == [160, 192, 224]
    assert [s.size for s in efficienttrain(300, 384, multiple_of=32).stages] == [160, 288, 384]
    assert [s.size for s in efficienttrain(300, 100, multiple_of=16).stages] == [64, 80, 100]
    # Never above the final size.
    assert round_size(99, 16, final_size=100) == 96
    assert round_size(5, 16) == 16
    with pytest.raises(ValueError):
        round_size(10, 0)


def test_merging_of_equal_sizes():
    # At a tiny final size two stages can round to the same B; they merge into one stage.
    cur = efficienttrain(10, 8, multiple_of=8)
    assert [s.size for s in cur.stages] == [8]


@pytest.mark.parametrize(
    "family,table",
    [
        ("resnet", [96] * 2 + [160] * 4 + [224] * 4),
        ("swin", [96] * 2 + [160] * 4 + [224] * 4),
        ("cswin", [96] * 2 + [160] * 4 + [224] * 4),
        ("deit", [96] * 2 + [160] * 4 + [192] * 2 + [224] * 2),
        ("convnext", [160] * 6 + [224] * 4),
    ],
)
def test_etpp_stage_tables(family, table):
    cur = efficienttrain_pp(300, 224, family=family)
    assert [s.size for s in cur.stages] == table
    assert [s.magnitude for s in cur.stages] == list(range(10))
    for st in cur.stages:
        # (224/B)^2 * budget/10 epochs, so each stage costs a tenth of the budget
        assert st.epochs == pytest.approx((224 / st.size) ** 2 * 30)
        assert st.epochs * (st.size / 224) ** 2 == pytest.approx(30)
    assert cur.budget == 300
    assert cur(0).magnitude == 0 and cur(cur.epochs - 1e-3).magnitude == 9


def test_etpp_scales_to_final_size_and_rounds():
    cur = efficienttrain_pp(100, 384, family="convnext")
    assert [s.size for s in cur.stages] == [274] * 6 + [384] * 4
    r = efficienttrain_pp(100, 224, family="resnet", round_epochs=True)
    assert all(float(s.end).is_integer() for s in r.stages)
    with pytest.raises(ValueError, match="unknown EfficientTrain\\+\\+ family"):
        efficienttrain_pp(100, 224, family="mlp")


def test_etpp_family_from_model_name():
    assert etpp_family_for_model("deit_small_patch16_224") == "deit"
    assert etpp_family_for_model("vit_base_patch16_224") == "deit"
    assert etpp_family_for_model("swin_tiny_patch4_window7_224") == "swin"
    assert etpp_family_for_model("convnext_tiny") == "convnext"
    assert etpp_family_for_model("resnet50") == "resnet"
    assert etpp_family_for_model("efficientnet_b0") == "resnet"


def test_linear_matches_efficienttrain_cost():
    from efficienttrain.cost import curriculum_cost

    lin = linear(300, 224)
    et = efficienttrain(300, 224)
    assert curriculum_cost(lin).relative_cost == pytest.approx(curriculum_cost(et).relative_cost, abs=0.005)
    sizes = _size_per_epoch(lin)
    assert sizes == sorted(sizes) and sizes[-1] == 224
    assert all(0 <= b - a <= 1 for a, b in zip(sizes, sizes[1:]))
    explicit = linear(10, 100, start_size=50)
    assert _size_per_epoch(explicit)[0] == 50 and _size_per_epoch(explicit)[-1] == 100
    with pytest.raises(ValueError):
        linear(10, 100, start_size=120)


def test_constant_baseline():
    cur = constant(90, 224)
    assert [s.size for s in cur.stages] == [224]
    assert cur(0).magnitude == cur(89).magnitude == 9


def test_round_trip_dict_yaml_json(tmp_path):
    for cur in (efficienttrain(300, 224), efficienttrain_pp(300, family="deit"), linear(20, 64), constant(5, 32)):
        assert Curriculum.from_dict(cur.to_dict()) == cur
        for ext in ("yaml", "json"):
            path = tmp_path / f"c.{ext}"
            cur.save(path)
            assert load_curriculum(path) == cur
    assert json.loads((tmp_path / "c.json").read_text())["stages"][0]["size"] == 32


def test_custom_file_with_durations(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nmagnitude: constant\nmax_magnitude: 7\nstages:\n  - {epochs: 4, size: 96}\n  - {epochs: 6, size: 128}\n")
    cur = load_curriculum(path)
    assert cur.epochs == 10 and cur.final_size == 128
    assert cur(3.9).size == 96 and cur(4).size == 128 and cur(0).magnitude == 7


def test_create_curriculum_from_file_rescales(tmp_path):
    path = tmp_path / "et.yaml"
    efficienttrain(300, 224).save(path)
    assert create_curriculum(str(path)) == efficienttrain(300, 224)
    ported = create_curriculum(str(path), epochs=100)
    assert [s.end for s in ported.stages] == [pytest.approx(60), pytest.approx(80), 100]
    ported = create_curriculum(str(path), final_size=112)
    assert [s.size for s in ported.stages] == [80, 96, 112]


def test_create_curriculum_names():
    assert create_curriculum("efficienttrain", 300, 224) == efficienttrain(300, 224)
    assert create_curriculum("none", 10, 32) == constant(10, 32)
    assert create_curriculum("efficienttrain++", 300, 224, model="deit_tiny_patch16_224").name == "efficienttrain++ (deit)"
    with pytest.raises(ValueError, match="unknown curriculum"):
        create_curriculum("fast", 10, 32)
    with pytest.raises(FileNotFoundError):
        create_curriculum("missing.yaml", 10, 32)


@pytest.mark.parametrize(
    "stages,final,match",
    [
        ([Stage(0, 10, 256)], 224, "above the final size"),
        ([Stage(0, 10, 160), Stage(8, 20, 224)], 224, "overlap"),
        ([Stage(0, 10, 160), Stage(12, 20, 224)], 224, "gap"),
        ([Stage(0, 10, 160), Stage(10, 5, 224)], 224, "time order"),
        ([Stage(0, 10, -5), Stage(10, 20, 224)], 224, "positive"),
        ([Stage(1, 10, 224)], 224, "start at epoch 0"),
        ([Stage(0, -1, 224)], 224, "non-negative"),
        ([Stage(0, 10, 160)], 224, "last stage"),
        ([Stage(0, 10, 224, magnitude=-1)], 224, "magnitude"),
    ],
)
def test_invalid_specs(stages, final, match):
    with pytest.raises(ValueError, match=match):
        Curriculum(stages, final_size=final)


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"stages": []}, "non-empty"),
        ({"stages": [{"end": 10}]}, "missing 'size'"),
        ({"stages": [{"size": 10}]}, "needs 'end'"),
        ({"stages": [{"end": 10, "size": 10.5}]}, "integer"),
        ({"stages": [{"end": 10, "size": 10, "colour": 1}]}, "unknown key"),
        ({"stages": [{"end": 10, "size": 10}], "speed": 2}, "unknown curriculum key"),
        ({"epochs": 12, "stages": [{"end": 10, "size": 10}]}, "make them agree"),
        ({"magnitude": "cubic", "stages": [{"end": 10, "size": 10}]}, "magnitude rule"),
    ],
)
def test_invalid_dicts(spec, match):
    with pytest.raises(ValueError, match=match):
        Curriculum.from_dict(spec)


def test_invalid_factory_args():
    with pytest.raises(ValueError, match="epochs"):
        efficienttrain(0, 224)
    with pytest.raises(ValueError, match="final_size"):
        efficienttrain(10, -224)


def test_unparseable_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [unclosed\n")
    with pytest.raises(ValueError, match="cannot parse"):
        load_curriculum(bad)


def test_table_rendering():
    text = efficienttrain(300, 224).table(cost=lambda b: b * b)
    assert "0-180" in text and "240-300" in text and "cost share" in text
    assert "0.306" in text  # 180/300 * (160/224)^2
    assert "Curriculum(name='efficienttrain'" in repr(efficienttrain(300, 224))
