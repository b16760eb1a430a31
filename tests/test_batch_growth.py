"""Larger early batches (``--batch-growth``): coverage, exact resume, the learning rate, the pre-flight's cap."""

from __future__ import annotations

import json

import pytest
import torch

from efficienttrain.curricula import Curriculum, Stage
from efficienttrain.data.sampler import BatchGrowth, CurriculumBatchSampler
from efficienttrain.data.shrink import ShrinkPlan
from efficienttrain.errors import UserError
from efficienttrain.runner import Trainer

from .conftest import sigterm_at_loss_call, tiny_config

# Half of the run at 16 px, a quarter at 24, the rest at the final 32: growth up to 4x, then 1.77x.
STAGES = (Stage(0, 1.5, 16), Stage(1.5, 2.25, 24), Stage(2.25, 3, 32))


def _curriculum() -> Curriculum:
    return Curriculum(STAGES, final_size=32)


def _sampler(n: int = 200, batch: int = 8, cap: float = 4.0, rank: int = 0, replicas: int = 1, replay: int = 1) -> CurriculumBatchSampler:
    sampler = CurriculumBatchSampler(n, _curriculum(), batch, seed=3, num_replicas=replicas, rank=rank, plan=ShrinkPlan(replay=replay))
    sampler.set_growth(BatchGrowth.for_curriculum(_curriculum(), batch, cap, multiple_of=replay))
    return sampler


def test_grown_batches_follow_the_pixel_rule_and_the_cap():
    growth = BatchGrowth.for_curriculum(_curriculum(), 8, 4.0)
    assert dict(growth.batches) == {16: 32, 24: 14}  # (32/16)^2 = 4; (32/24)^2 = 1.78 -> 14 of 8
    assert dict(BatchGrowth.for_curriculum(_curriculum(), 8, 2.0).batches) == {16: 16, 24: 14}
    assert dict(BatchGrowth.for_curriculum(_curriculum(), 8, 4.0, multiple_of=4).batches) == {16: 32, 24: 12}
    assert not BatchGrowth.for_curriculum(_curriculum(), 8, 1.0).active
    assert BatchGrowth.from_dict(json.loads(json.dumps(growth.to_dict()))) == growth


@pytest.mark.parametrize("replicas", [1, 3])
def test_every_image_once_per_epoch_in_fewer_larger_batches(replicas):
    seen_ranks: list[set[int]] = []
    for rank in range(replicas):
        plain = CurriculumBatchSampler(200, _curriculum(), 8, seed=3, num_replicas=replicas, rank=rank)
        sampler = _sampler(replicas=replicas, rank=rank)
        for epoch in range(3):
            sampler.set_epoch(epoch)
            plain.set_epoch(epoch)
            batches = list(sampler)
            assert len(batches) == sampler.batches_in_epoch(epoch) == len(sampler)
            indices = [k.index for b in batches for k in b]
            assert len(indices) == len(set(indices))  # no image twice in an epoch
            # The same samples as the plain sampler's epoch: growth only cuts them differently.
            assert sorted(indices) == sorted(k.index for b in plain for k in b)
            per_size: dict[int, int] = {}
            for step, batch in enumerate(batches):
                settings = sampler.settings(epoch, step)
                assert len(batch) == sampler.batch_size_at(epoch, step)
                assert {k.size for k in batch} == {settings.size}
                per_size[settings.size] = per_size.get(settings.size, 0) + len(batch)
                # Batches are cut short only at the epoch's end and where the next stage begins.
                if step + 1 < len(batches) and sampler.settings(epoch, step + 1).size == settings.size:
                    assert len(batch) == {16: 32, 24: 14, 32: 8}[settings.size]
            # Each stage trains the images it trains without growth.
            plain_sizes: dict[int, int] = {}
            for batch in plain:
                plain_sizes[batch[0].size] = plain_sizes.get(batch[0].size, 0) + len(batch)
            assert per_size == plain_sizes
            if epoch == 0:
                seen_ranks.append(set(indices))
        # Every rank takes the same number of steps (DDP needs it).
        assert [sampler.batches_in_epoch(e) for e in range(3)] == [_sampler(replicas=replicas).batches_in_epoch(e) for e in range(3)]
    if replicas > 1:
        assert not set.intersection(*seen_ranks)
    assert _sampler(replicas=replicas).batches_in_epoch(0) < plain.batches_in_epoch(0)


def test_a_batch_takes_the_settings_of_its_first_sample():
    sampler, plain = _sampler(), CurriculumBatchSampler(200, _curriculum(), 8, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        plain.set_epoch(epoch)
        # Sample by sample, the settings without growth (those of the base batch holding it).
        assert [(k.index, k.size, k.magnitude) for b in sampler for k in b] == [(k.index, k.size, k.magnitude) for b in plain for k in b]
    # The stage boundary at 1.5 epochs falls inside epoch 1: both sizes appear in it.
    assert {sampler.settings(1, s).size for s in range(sampler.batches_in_epoch(1))} == {16, 24}


def test_resume_at_any_step_yields_the_same_batches():
    sampler = _sampler()
    for epoch in range(3):
        sampler.set_epoch(epoch)
        whole = list(sampler)
        for start in range(len(whole) + 1):
            resumed = _sampler()
            resumed.load_state_dict(sampler.state_dict(epoch, start))
            assert [k for b in resumed for k in b] == [k for b in whole[start:] for k in b]


def test_the_checkpointed_position_carries_the_growth():
    sampler = _sampler()
    sampler.set_growth(sampler.growth.with_batch(16, 16, 8))  # as the pre-flight does after running out of memory
    sampler.set_epoch(1, 3)
    fresh = CurriculumBatchSampler(200, _curriculum(), 8, seed=3)
    fresh.load_state_dict(sampler.state_dict())
    assert fresh.growth == sampler.growth and (fresh.epoch, fresh.start_step) == (1, 3)
    assert list(fresh) == list(sampler)


def test_replay_with_growth_loads_batch_over_replay_images():
    sampler = _sampler(replay=2)
    sampler.set_epoch(0)
    for step, batch in enumerate(sampler):
        assert len(batch) == sampler.batch_size_at(0, step)
        assert len({k.index for k in batch}) == len(batch) // 2  # each loaded image used twice below the final size


def test_lr_scale_and_schedule_position_count_base_batches():
    sampler = _sampler()
    plain = CurriculumBatchSampler(200, _curriculum(), 8, seed=3)
    total = sum(plain.batches_in_epoch(e) for e in range(3))
    positions = [sampler.schedule_steps(e, s) for e in range(3) for s in range(sampler.batches_in_epoch(e))]
    assert positions == sorted(positions) and positions[-1] == total  # the schedule ends where the plain run's does
    assert sampler.lr_scale(0, 0) == 4.0 and sampler.lr_scale(2, sampler.batches_in_epoch(2) - 1) == 1.0
    # Without growth, the position is the global step count.
    assert [plain.schedule_steps(e, s) for e in range(3) for s in range(plain.batches_in_epoch(e))] == list(range(1, total + 1))


def test_an_update_of_a_grown_batch_scales_the_lr_for_itself_only():
    from timm.scheduler import CosineLRScheduler

    from efficienttrain.runner.optim import GrowthStep, Optimisation

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = CosineLRScheduler(opt, t_initial=100, lr_min=0.0, t_in_epochs=False)
    optim = Optimisation(opt, sched, 0.1, 100)
    used = []
    opt.step = lambda *a, **k: used.append(opt.param_groups[0]["lr"])  # type: ignore[method-assign]
    model(torch.ones(1, 2)).sum().backward()
    optim.step(model, None, 1, GrowthStep(4.0, 4))
    assert used == [pytest.approx(0.4)]  # the schedule's lr at the start, times the batch's factor
    assert opt.param_groups[0]["lr"] == pytest.approx(sched._get_lr(4)[0])  # then the schedule's value after 4 base batches
    optim.step(model, None, 2, None)
    assert used[-1] == pytest.approx(sched._get_lr(4)[0])


@pytest.mark.slow
def test_a_run_with_growth_resumes_exactly_and_trains_every_image(tmp_path):
    settings = {"demo_image_size": 32, "epochs": 3, "batch_growth": 4, "workers": 0}
    straight = Trainer(tiny_config(tmp_path / "a", **settings), curriculum=_curriculum()).run()
    summary = json.loads((straight.output_dir / "summary.json").read_text())
    # The images of each stage without growth (80 images, 5 batches of 16 an epoch; the stages
    # change at 1.5 and 2.25 epochs): 5 + 3 batches at 16 px, 2 + 2 at 24 px, 3 at 32 px.
    assert [stage["images"] for stage in summary["compute"]["stages"]] == [128, 64, 48]
    grown = torch.load(straight.output_dir / "last.pt", weights_only=True)
    assert grown["num_updates"] == 2 + 3 + 5  # epoch 1: 64 + 16; epoch 2: 48 at 16 px, 28 + 4 at 24; epoch 3: 28 + 4 at 24, then 3 x 16
    assert grown["sampler"]["batch_growth"]["batches"] == {"16": 64, "24": 28}  # 4 x 16 at 16 px; (32/24)^2 x 16 = 28.4 at 24 px
    first = Trainer(tiny_config(tmp_path / "b", preflight=False, **settings), curriculum=_curriculum())
    sigterm_at_loss_call(first, 3)  # epoch 2's first batch (epoch 1 is two: 64 images, then the last 16)
    assert not first.run().completed
    assert (torch.load(first.parts.run_dir.checkpoint_path, weights_only=True)["sampler"]["start_step"]) == 1
    resumed = Trainer(tiny_config(tmp_path / "b", resume=True, **settings), curriculum=_curriculum()).run()
    a = torch.load(straight.output_dir / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed.output_dir / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(UserError, match="batch_growth differ"):
        Trainer(tiny_config(tmp_path / "b", resume=True, **{**settings, "batch_growth": 2}), curriculum=_curriculum()).run()


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True])
def test_the_preflight_halves_a_batch_that_runs_out_of_memory(tmp_path, monkeypatch, compiled):
    from efficienttrain.runner import preflight

    real = preflight.DrySteps._step

    def step(self, size, amp=None):
        if self._batch(size) > 32:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, size, amp)

    monkeypatch.setattr(preflight.DrySteps, "_step", step)
    lines: list[str] = []
    options = {"compile": True, "compile_backend": "aot_eager"} if compiled else {}
    trainer = Trainer(tiny_config(tmp_path, epochs=3, batch_growth=4, workers=0, **options), log=lines.append, curriculum=_curriculum())
    result = trainer.run(max_epochs=1)
    assert dict(trainer.parts.sampler.growth.batches) == {16: 32, 24: 28}
    assert any("batch 64 at 16 px ran out of memory; that stage trains batches of 32 instead" in line for line in lines)
    if compiled:  # the grown stages were fitted (and compiled) before the epochs were cut, not at their first batch
        assert [line.split(" px")[0].split()[-1] for line in lines if line.startswith("pre-flight: compiled")] == ["32", "24", "16"]
        assert not any(line.startswith("compile: compiled") for line in lines)
    assert not result.completed and json.loads((result.output_dir / "summary.json").read_text())["compute"]["stages"][0]["images"] == 80


def test_growth_is_refused_with_accumulation(tmp_path):
    with pytest.raises(UserError, match="--batch-growth and --accum-steps"):
        tiny_config(tmp_path, batch_growth=2, accum_steps=2).validate()


def test_ranks_agree_on_the_smallest_batch_any_of_them_fitted(tmp_path, monkeypatch):
    from efficienttrain.runner.distributed import Runtime
    from efficienttrain.runner.preflight import DrySteps

    # Another rank had to halve its 16-px batch: every rank must take that one.
    monkeypatch.setattr(Runtime, "min_over_ranks", lambda self, *values: tuple(min(v, 32) for v in values))
    trainer = Trainer(tiny_config(tmp_path, epochs=3, batch_growth=4, workers=0), curriculum=_curriculum()).setup()
    assert dict(trainer.parts.sampler.growth.batches) == {16: 64, 24: 28}
    DrySteps(trainer.cfg, trainer.parts, log=lambda _m: None)._agree_on_growth()
    assert dict(trainer.parts.sampler.growth.batches) == {16: 32, 24: 28}
    trainer.parts.run_dir.release()


@pytest.mark.slow
def test_the_plan_times_each_stage_at_its_grown_batch(tmp_path, monkeypatch):
    from efficienttrain.runner.plan import make_plan

    seen: dict[int, set[int]] = {}
    real = Trainer.train_step

    def recording(self, state, step, x, y, settings, tally, **kwargs):
        seen.setdefault(settings.size, set()).add(x.shape[0])
        return real(self, state, step, x, y, settings, tally, **kwargs)

    monkeypatch.setattr(Trainer, "train_step", recording)
    lines: list[str] = []
    cfg = tiny_config(tmp_path, batch_size=8, batch_growth=4)
    plan = make_plan(cfg, epochs=4, batches=1, log=lines.append)
    growth = BatchGrowth.for_curriculum(plan.candidates[1].curriculum, 8, 4.0, multiple_of=cfg.batch_quantum())
    assert cfg.batch_quantum() == 2 and dict(growth.batches) == {23: 14, 27: 10}  # 8 x (32/23)^2 = 15.5 and 8 x (32/27)^2 = 11.2, even (Mixup pairs)
    assert seen == {23: {14}, 27: {10}, 32: {8}}  # the timed steps trained the grown batches, the final size the base
    assert any(line.startswith("pre-flight: one training step at 23 px x batch 14") for line in lines)
    assert "timed at their grown batches (23 px x 14, 27 px x 10; base 8)" in plan.table()
    assert "note: note:" not in plan.table() and "does not model" not in plan.table()
