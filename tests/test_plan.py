"""``efficienttrain plan``: the time model, the candidates, the budget fit, the plan file and ``train --plan``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from efficienttrain.cli import main
from efficienttrain.errors import UserError
from efficienttrain.runner.plan import Plan, TimeModel, candidates_for_epochs, fit_budget, load_plan, parse_duration

from .conftest import assert_one_line_error, tiny_config


def test_durations_read_like_a_scheduler_writes_them():
    assert parse_duration("90m") == 5400 and parse_duration("6h") == 21600 and parse_duration("1.5d") == 129600 and parse_duration("42") == 42
    for bad in ("", "abc", "-1h", "0s", "inf"):
        with pytest.raises(UserError, match="not a duration"):
            parse_duration(bad)


def test_the_time_model_fits_a_fixed_and_a_per_pixel_part():
    exact = {s: 0.002 + 1e-6 * s * s for s in (80, 96, 112)}
    model = TimeModel.fit(exact)
    assert model.fixed == pytest.approx(0.002) and model.per_pixel == pytest.approx(1e-6)
    assert model.seconds_per_image(64) == pytest.approx(0.002 + 1e-6 * 64 * 64)
    assert model.seconds_per_image(96) == exact[96]  # a measured size keeps its measurement
    noisy = TimeModel.fit({80: 0.02, 112: 0.01})  # larger images cannot get cheaper
    assert noisy.per_pixel == 0.0 and noisy.seconds_per_image(200) == pytest.approx(0.015)


# Mostly per pixel, as for a model at sizes where compute dominates (a large fixed part per image
# would make the budgeted ET++, which trains more images, the slower one).
MODEL = TimeModel.fit({s: 1e-5 + 1e-6 * s * s for s in (23, 27, 32)})


def test_the_candidates_at_e_epochs_are_predicted_stage_by_stage(tmp_path):
    cfg = tiny_config(tmp_path, final_size=32)
    baseline, et, etpp_half, etpp_third = candidates_for_epochs(cfg, 8, MODEL, 1000)
    assert (baseline.name, et.name, etpp_half.name) == ("baseline", "efficienttrain", "efficienttrain++")
    assert baseline.seconds == pytest.approx(8 * 1000 * MODEL.seconds_per_image(32))
    assert et.seconds == pytest.approx(sum(s.epochs * 1000 * MODEL.seconds_per_image(s.size) for s in et.stages))
    assert sum(s.epochs for s in et.stages) == pytest.approx(8) and [s.size for s in et.stages] == [23, 27, 32]
    assert baseline.seconds > et.seconds > etpp_half.seconds > etpp_third.seconds
    assert etpp_half.compute == pytest.approx(4, rel=0.05) and baseline.compute == pytest.approx(8)


def test_a_budget_gets_the_longest_schedule_that_fits(tmp_path):
    cfg = tiny_config(tmp_path, final_size=32)
    budget = 20.0
    cands = fit_budget(cfg, budget, MODEL, 1000)
    assert {c.name for c in cands} == {"efficienttrain", "efficienttrain++"}
    for c in cands:
        assert c.seconds <= budget
        longer = candidates_for_epochs(cfg, c.length + 0.3, MODEL, 1000)[1] if c.name == "efficienttrain" else None
        if longer is not None:
            assert longer.seconds > budget  # a tenth of an epoch from the limit, or closer
    with pytest.raises(UserError, match="fits no schedule"):
        fit_budget(cfg, 0.5, MODEL, 1000)


def test_a_plan_file_round_trips_its_curriculum(tmp_path):
    cfg = tiny_config(tmp_path, final_size=32)
    cands = candidates_for_epochs(cfg, 6, MODEL, 500)
    plan = Plan(cands, cands[1], MODEL, 500)
    plan.write(tmp_path / "plans" / "plan.yaml")  # missing folders are made when the plan is written
    curriculum, data = load_plan(tmp_path / "plans" / "plan.yaml")
    assert curriculum.to_dict() == cands[1].curriculum.to_dict()
    assert data["chosen"]["name"] == "efficienttrain" and data["chosen"]["predicted_train_s"] == pytest.approx(cands[1].seconds)
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({"stages": []}))
    with pytest.raises(UserError, match="not a plan file"):
        load_plan(tmp_path / "other.yaml")


@pytest.mark.slow
def test_plan_then_train_the_plan_as_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["--preset", "cpu", "--data", "demo", "--demo-per-class", "6", "--demo-val-per-class", "2", "--demo-image-size", "32",
              "--model", "resnet10t", "--batch-size", "8", "--workers", "0", "--threads", "1"]  # fmt: skip
    assert main(["plan", *common, "--budget", "4s", "--batches", "1", "--out", "p.yaml"]) == 0
    out = capsys.readouterr().out
    assert "<- chosen" in out and "wrote p.yaml" in out
    curriculum, data = load_plan("p.yaml")
    assert data["budget_s"] == 4 and data["chosen"]["predicted_train_s"] <= 4
    assert main(["train", *common, "--plan", "p.yaml", "--no-progress", "--output", "run"]) == 0
    assert yaml.safe_load(Path("run/curriculum.yaml").read_text()) == yaml.safe_load(curriculum.to_yaml())
    assert json.loads(Path("run/summary.json").read_text())["completed"]
    # A plan needs a length or a budget; a bad budget and a file that is not a plan are one-line errors.
    capsys.readouterr()
    assert_one_line_error(main(["plan", *common]), capsys.readouterr().err, "--epochs E or --budget")
    assert_one_line_error(main(["plan", *common, "--budget", "soon"]), capsys.readouterr().err, "not a duration")
    Path("bad.yaml").write_text("stages: []\n")
    assert_one_line_error(main(["train", *common, "--plan", "bad.yaml", "--output", "run2"]), capsys.readouterr().err, "not a plan file")


def test_a_huge_budget_stops_at_the_longest_plan(tmp_path):
    from efficienttrain.runner.plan import MAX_PLAN_EPOCHS

    cands = fit_budget(tiny_config(tmp_path, final_size=32), 1e12, MODEL, 10)
    assert all(c.length == MAX_PLAN_EPOCHS for c in cands)


def test_train_plan_refuses_a_contradiction_and_names_settings_that_differ(tmp_path):
    import dataclasses

    from efficienttrain.runner.plan import check_plan_fits, timing_settings

    cfg = tiny_config(tmp_path, final_size=32, epochs=None)  # as `train --plan` without --epochs
    cands = candidates_for_epochs(cfg, 6, MODEL, 500)
    Plan(cands, cands[1], MODEL, 500, settings=timing_settings(cfg)).write(tmp_path / "plan.yaml")
    curriculum, data = load_plan(tmp_path / "plan.yaml")
    assert data["settings"]["batch_size"] == 16 and check_plan_fits(cfg, curriculum, data, set()) == []
    same = dataclasses.replace(cfg, epochs=6.0, curriculum="efficienttrain")
    assert check_plan_fits(same, curriculum, data, {"epochs", "curriculum"}) == []  # agreeing with the plan is fine
    contradictions = [
        (dataclasses.replace(cfg, epochs=5.0), set(), "--epochs 5 contradicts the plan's 6"),
        (dataclasses.replace(cfg, curriculum="linear"), {"curriculum"}, "--curriculum linear contradicts the plan's efficienttrain"),
        (dataclasses.replace(cfg, final_size=None, demo_image_size=48), set(), "this run trains at 48 px; pass --final-size 32"),
    ]
    for other, given, message in contradictions:
        with pytest.raises(UserError, match=message):
            check_plan_fits(other, curriculum, data, given)
    notes = check_plan_fits(dataclasses.replace(cfg, batch_size=32, workers=2), curriculum, data, set())
    assert notes == ["note: the plan was measured with other settings (--batch-size 16, now 32; --workers 0, now 2), so its predicted time is not this run's"]
