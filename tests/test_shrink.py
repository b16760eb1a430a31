"""The one owner of where images shrink: ShrinkPlan, batch_keys, shrink_batch, and everyone who reads them."""

from __future__ import annotations

import pytest
import torch

from .conftest import tiny_config
from efficienttrain.curricula import efficienttrain
from efficienttrain.data import CurriculumBatchSampler, CurriculumDataset, ShrinkPlan, batch_keys, build_train_transform, shrink_batch
from efficienttrain.errors import UserError
from efficienttrain.frequency import resize_to


def test_plan_rejects_unknown_place_operator_and_replay():
    with pytest.raises(ValueError, match="shrink at one of device, workers, before-augment"):
        ShrinkPlan("gpu")
    with pytest.raises(ValueError, match="operator must be one of"):
        ShrinkPlan(op="sinc")
    with pytest.raises(ValueError, match="replay must be at least 1"):
        ShrinkPlan(replay=0)


def test_plan_answers_for_every_place():
    cur = efficienttrain(4, 32)
    small = cur(0.1)
    assert small.size < 32
    device, workers, before = ShrinkPlan("device"), ShrinkPlan("workers"), ShrinkPlan("before-augment", "bicubic", reduced_decode=True)
    assert (device.in_workers, workers.in_workers, before.in_workers) == (False, True, True)
    assert device.transform_options() == {"reduced_decode": False, "augment_at_size": None}
    assert before.transform_options() == {"reduced_decode": True, "augment_at_size": "bicubic"}
    replay = ShrinkPlan(replay=2)
    assert replay.uses_per_image(small.size, 32) == 2 and replay.uses_per_image(32, 32) == 1


def test_shrink_batch_crops_only_on_the_device():
    x = torch.randn(2, 3, 32, 32)
    settings = efficienttrain(4, 32)(0.1)
    out = shrink_batch(ShrinkPlan("device", "bilinear"), x, settings)
    assert out.shape[-1] == settings.size and torch.equal(out, resize_to(x, settings.size, "bilinear"))
    assert shrink_batch(ShrinkPlan("workers"), x, settings) is x  # the workers already did it
    assert shrink_batch(ShrinkPlan(), x, 32) is x  # at the final size there is nothing to do


def test_batch_keys_are_the_samplers_keys():
    cur = efficienttrain(4, 32)
    plan = ShrinkPlan("workers", replay=2)
    sampler = CurriculumBatchSampler(40, cur, batch_size=4, seed=3, plan=plan)
    sampler.set_epoch(0)
    indices = list(sampler.index_sampler)
    first = next(iter(sampler))
    expected = batch_keys(plan, indices[:2], sampler.settings(0, 0), seed=3, epoch=0, final_size=32)
    assert first == expected
    assert [k.view for k in first] == [0, 1, 0, 1] and all(k.size == sampler.settings(0, 0).size for k in first)


def test_sampler_takes_a_plan_or_the_shorthands_not_both():
    cur = efficienttrain(4, 32)
    assert CurriculumBatchSampler(40, cur, batch_size=4, crop_in_workers=True, replay=2).plan == ShrinkPlan("workers", replay=2)
    with pytest.raises(ValueError, match="not both"):
        CurriculumBatchSampler(40, cur, batch_size=4, plan=ShrinkPlan(), replay=2)
    with pytest.raises(ValueError, match="positive divisor"):
        CurriculumBatchSampler(40, cur, batch_size=4, plan=ShrinkPlan(replay=3))


def test_the_sampler_takes_the_datasets_plan_and_refuses_another_place():
    cur = efficienttrain(4, 32)
    data = CurriculumDataset([(torch.zeros(3, 32, 32), 0)] * 40, plan=ShrinkPlan("workers", "bilinear"), expect_randaugment=False)
    assert CurriculumBatchSampler(data, cur, batch_size=4).plan is data.plan  # one plan, not a second copy
    with pytest.raises(ValueError, match="pass the plan to CurriculumDataset"):
        CurriculumBatchSampler(data, cur, batch_size=4, plan=ShrinkPlan("device"))


def test_a_run_builds_its_plan_once_and_every_reader_gets_that_one(tmp_path, monkeypatch):
    from efficienttrain.runner import Trainer
    from efficienttrain.runner.config import TrainConfig

    cfg = tiny_config(tmp_path, epochs=1, batch_size=8, demo_per_class=2, demo_val_per_class=1, shrink_at="workers", workers=0, preflight=False)
    calls = []
    build = TrainConfig.shrink_plan
    monkeypatch.setattr(TrainConfig, "shrink_plan", lambda self: calls.append(1) or build(self))
    trainer = Trainer(cfg)
    trainer.run()
    parts = trainer.parts
    assert len(calls) == 1
    assert parts.sampler.plan is parts.plan and parts.train_loader.dataset.plan is parts.plan


def test_dataset_checks_the_plan_against_the_transform():
    data = [(torch.zeros(3, 8, 8), 0)]
    with pytest.raises(ValueError, match="has no shrink step"):
        CurriculumDataset(data, plan=ShrinkPlan("before-augment"), expect_randaugment=False)

    class Folder:
        transform = build_train_transform(32, randaugment=None, augment_at_size="lowfreq")

        def __len__(self) -> int:
            return 1

    with pytest.raises(ValueError, match="plan shrinks images at 'device'"):
        CurriculumDataset(Folder(), plan=ShrinkPlan("device"), expect_randaugment=False)
    assert CurriculumDataset(Folder(), plan=ShrinkPlan("before-augment"), expect_randaugment=False).transforms.shrinks


@pytest.mark.parametrize(
    "overrides, at",
    [
        ({}, "device"),
        ({"shrink_at": "workers"}, "workers"),
        ({"crop_in_workers": True}, "workers"),  # the deprecated spelling
        ({"crop_in_workers": True, "augment_at_size": True}, "before-augment"),
        ({"shrink_at": "before-augment", "crop_in_workers": True, "augment_at_size": True}, "before-augment"),
    ],
)
def test_config_resolves_one_place(tmp_path, overrides, at):
    cfg = tiny_config(tmp_path, crop_op="bilinear", replay=2, **overrides)
    assert cfg.shrink_plan() == ShrinkPlan(at, "bilinear", False, 2)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"shrink_at": "host"}, "--shrink-at must be one of device, workers, before-augment"),
        ({"shrink_at": "workers", "crop_in_workers": True, "augment_at_size": True}, "contradicts the deprecated"),
        ({"augment_at_size": True}, "add --crop-in-workers"),
    ],
)
def test_config_rejects_a_bad_or_contradictory_place(tmp_path, overrides, message):
    with pytest.raises(UserError, match=message):
        tiny_config(tmp_path, **overrides)


def test_probe_measures_the_replayed_views(tmp_path, monkeypatch):
    from efficienttrain.runner.probe import probe

    seen = []
    load = CurriculumDataset.__getitems__

    def recording(self, keys):
        seen.extend(keys)
        return load(self, keys)

    monkeypatch.setattr(CurriculumDataset, "__getitems__", recording)
    report = probe(tiny_config(tmp_path, epochs=4, batch_size=8, replay=2), batches=1, warmup=0, rounds=1, log=lambda _m: None)
    keys = [k for k in seen if isinstance(k, tuple)]
    cur = efficienttrain(4, 32)
    assert [p.size for p in report.sizes] == sorted(cur.sizes)
    final_stage = next(s for s in cur.stages if s.size == cur.final_size)
    final_magnitude = cur((final_stage.start + final_stage.end) / 2).magnitude
    views = {}
    for k in keys:
        views.setdefault(k.magnitude, []).append(k.view)
    # Below the final size the loader was timed on replayed batches, one view per loaded image,
    # as the run's sampler keys them; at the final size nothing is replayed.
    assert set(views[final_magnitude]) == {0}
    below = [v for m, v in views.items() if m != final_magnitude]
    assert len(below) == len(cur.sizes) - 1
    assert all(v.count(1) == v.count(0) > 0 for v in below)


def test_cli_names_the_new_flag_for_the_deprecated_spelling(tmp_path, capsys):
    from efficienttrain.cli import main

    code = main(["train", "--crop-in-workers", "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert "--crop-in-workers/--augment-at-size are deprecated; pass --shrink-at workers" in err
    assert code == 2 and "missing" in err  # the run itself stops on the bad path, as before
    assert main(["train", "--crop-in-workers", "--augment-at-size", "--shrink-at", "workers"]) == 2
    assert "contradicts the deprecated" in capsys.readouterr().err
