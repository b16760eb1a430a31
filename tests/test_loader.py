"""Tests of the loader tools: data-wait logging, the probe, reduced-scale decoding, augmentation at B, replay."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import efficienttrain as et
from efficienttrain.cli import main
from efficienttrain.curricula import Settings
from efficienttrain.data import SampleKey, build_train_transform, sample_seed
from efficienttrain.data.datasets import CheckedImageFolder
from efficienttrain.data.decode import ReducedDecodeRandomResizedCrop, ShrinkToStage, open_lazy
from efficienttrain.data.worker import replay_view
from efficienttrain.runner import Trainer
from efficienttrain.runner.progress import DataWaitWatch

from .conftest import tiny_config


def smooth_jpeg(path: Path, size=(500, 375), seed: int = 0) -> Path:
    """A photo-like JPEG: smooth colour fields and soft shapes (quality 90)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6)
        img[..., c] = 0.5 + 0.35 * np.sin(2 * np.pi * (fx * x + fy * y) + ph)
    cx, cy = rng.uniform(0.2, 0.8, 2)
    img[((x - cx) ** 2 + (y - cy * h / w) ** 2) < 0.02] *= 0.4
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((img * 255).clip(0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)
    return path


def test_reduced_decode_matches_a_full_decode_within_tolerance(tmp_path):
    """Same crop (same random state), decoded at reduced scale: mean error under 2 of 255, 99% of pixels within 12."""
    from timm.data.transforms import RandomResizedCropAndInterpolation

    path = smooth_jpeg(tmp_path / "a.jpg")
    reduced = ReducedDecodeRandomResizedCrop(64, scale=(0.5, 1.0))
    full = RandomResizedCropAndInterpolation(64, scale=(0.5, 1.0), interpolation="bicubic")
    worst_mean = 0.0
    for seed in range(20):
        random.seed(seed)
        a = np.asarray(reduced(open_lazy(str(path))), dtype=np.float64)
        random.seed(seed)
        b = np.asarray(full(Image.open(path).convert("RGB")), dtype=np.float64)
        assert a.shape == b.shape == (64, 64, 3)
        diff = np.abs(a - b)
        worst_mean = max(worst_mean, diff.mean())
        assert np.percentile(diff, 99) < 12
    assert worst_mean < 2.0
    # With a 500x375 image and a 64-px output, regions of at least half the area allow 1/4 scale or less.
    assert set(reduced.factors) <= {2, 4, 8} and sum(reduced.factors.values()) == 20


def test_reduced_decode_leaves_small_regions_and_other_formats_at_full_scale(tmp_path):
    path = smooth_jpeg(tmp_path / "a.jpg", size=(120, 90))
    png = tmp_path / "a.png"
    Image.open(path).save(png)
    crop = ReducedDecodeRandomResizedCrop(64)
    for p in (path, png):
        random.seed(0)
        assert crop(open_lazy(str(p))).size == (64, 64)
    assert set(crop.factors) == {1}


def test_truncated_jpeg_is_a_bad_image_error(tmp_path):
    path = smooth_jpeg(tmp_path / "a.jpg")
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(et.UserError, match="cannot decode image"):
        ReducedDecodeRandomResizedCrop(64)(open_lazy(str(path)))


def _folder(tmp_path: Path, n: int = 4) -> Path:
    for c in range(2):
        for i in range(n):
            smooth_jpeg(tmp_path / "train" / f"c{c}" / f"{i}.jpg", seed=10 * c + i)
            smooth_jpeg(tmp_path / "val" / f"c{c}" / f"{i}.jpg", size=(80, 60), seed=100 + 10 * c + i)
    return tmp_path


@pytest.mark.parametrize("op", ["lowfreq", "bicubic"])
def test_augment_at_size_returns_stage_sized_images(tmp_path, op):
    root = _folder(tmp_path / "d")
    tf = build_train_transform(64, reduced_decode=True, augment_at_size=op)
    folder = CheckedImageFolder(str(root / "train"), tf)
    folder.loader = open_lazy
    ds = et.CurriculumDataset(folder, plan=et.ShrinkPlan("before-augment", op, reduced_decode=True))
    assert ds.transforms.shrinks and any(isinstance(t, ShrinkToStage) for t in tf.transforms)
    for size in (40, 48, 64, None):
        img, label = ds[SampleKey(0, 5.0, size, 123)]
        assert img.shape == (3, size or 64, size or 64) and label == 0


def test_replay_accounting_and_views(tmp_path):
    cur = et.efficienttrain(4, 32)  # B=23 until epoch 2.4, 27 until 3.2, then 32
    n, bs = 96, 8
    plain = et.CurriculumBatchSampler(n, cur, bs, seed=1)
    replay = et.CurriculumBatchSampler(n, cur, bs, seed=1, replay=2)
    for epoch in range(cur.num_epochs):
        plain.set_epoch(epoch)
        replay.set_epoch(epoch)
        batches = list(replay)
        assert len(batches) == len(list(plain)) == 12  # the number of steps is unchanged
        for step, batch in enumerate(batches):
            uses = replay.uses_per_image(epoch, step)
            assert uses == (2 if cur(epoch + step / 12).size < 32 else 1)
            assert [k.view for k in batch] == list(range(uses)) * (bs // uses)
            assert all(k.index == batch[i - k.view].index and k.seed == batch[i - k.view].seed for i, k in enumerate(batch))
        distinct = {k.index for b in batches for k in b}
        assert len(distinct) == replay.distinct_in_epoch(epoch)
    # Epoch 0 replays throughout: half the images. Epoch 3 replays its first 3 batches (B=27 until
    # epoch 3.2), then loads a fresh image per sample: 3 * 4 + 9 * 8.
    assert replay.distinct_in_epoch(0) == n // 2 and replay.distinct_in_epoch(3) == 84
    # A resumed sampler yields exactly the remaining batches.
    replay.set_epoch(2, 5)
    resumed = list(replay)
    replay.set_epoch(2)
    assert resumed == list(replay)[5:]


def test_replayed_views_are_deterministic_and_differ_from_the_loaded_sample():
    ds = et.CurriculumDataset(et.DemoDataset("train", per_class=2, image_size=32, transform=build_train_transform(32)))
    seed = sample_seed(0, 0, 3)
    first = ds[SampleKey(3, 4.0, None, seed, 0)]
    view = ds[SampleKey(3, 4.0, None, seed, 1)]
    assert view[1] == first[1] and view[0].shape == first[0].shape and not torch.equal(view[0], first[0])
    # Another worker, which did not load the sample itself, produces the same view.
    other = et.CurriculumDataset(et.DemoDataset("train", per_class=2, image_size=32, transform=build_train_transform(32)))
    assert torch.equal(other[SampleKey(3, 4.0, None, seed, 1)][0], view[0])
    assert torch.equal(replay_view(first[0], 5), replay_view(first[0], 5))


def test_data_wait_is_logged_and_a_slow_loader_warns(tmp_path):
    lines: list[str] = []
    result = Trainer(tiny_config(tmp_path / "a", epochs=1), log=lines.append).run()
    row = result.history[0]
    assert 0 <= row["data_wait_s"] <= row["epoch_time"] and 0 <= row["data_wait_pct"] <= 100
    assert "data_wait_pct" in json.loads((result.output_dir / "metrics.jsonl").read_text().splitlines()[0])
    # A watch fed with batches that mostly wait warns once for the stage, naming the remedies.
    warnings: list[str] = []
    watch = DataWaitWatch(warnings.append, workers=1, min_steps=5)
    s = Settings(size=80, magnitude=1.0, stage=0, epoch=1, progress=0.1)
    for i in range(12):
        watch.observe(s, waited=0.05, step_time=0.1, first_of_epoch=i == 0)
    watch.observe(Settings(96, 2.0, 1, 2, 1.5), waited=0.0, step_time=0.1, first_of_epoch=False)
    assert len(warnings) == 1 and "stage 1 (B=80)" in warnings[0] and "--workers" in warnings[0] and "--replay" in warnings[0]


@pytest.mark.slow
def test_slow_loader_warning_in_a_run(tmp_path):
    class Slow(torch.utils.data.Dataset):
        def __init__(self, inner):
            self.inner, self.transform = inner, inner.transform

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            # 20 ms a sample keeps the wait well above the 10% threshold even when a busy
            # machine slows the training step tenfold (4 ms gave 11% under load).
            time.sleep(0.02)
            return self.inner[i]

    lines: list[str] = []
    trainer = Trainer(tiny_config(tmp_path, epochs=2, demo_per_class=16, batch_size=8), log=lines.append)
    trainer.setup()
    # The loader reads through the CurriculumDataset: slow down the dataset it wraps.
    trainer.parts.train_loader.dataset.dataset = Slow(trainer.parts.train_loader.dataset.dataset)
    trainer.run()
    assert any("waits for data" in line for line in lines)


@pytest.mark.slow
def test_probe_json(tmp_path, capsys):
    argv = ["probe", "--preset", "cpu", "--data", "demo", "--demo-per-class", "4", "--demo-image-size", "32", "--model", "resnet10t",
            "--epochs", "4", "--batch-size", "8", "--workers", "0", "--batches", "2", "--warmup", "1", "--json"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["size"] for r in report["sizes"]] == [23, 27, 32] and report["final_size"] == 32
    for r in report["sizes"]:
        assert r["step_s"] > 0 and r["loader_s"] > 0 and r["together_s"] > 0
        assert r["pipelined_s"] == max(r["step_s"], r["loader_s"]) and r["bottleneck"] in ("model", "loader")
        assert (r["workers_needed"] is None) == (r["bottleneck"] == "model")
    assert sum(r["epochs"] for r in report["sizes"]) == pytest.approx(4)
    assert set(report["predicted_speedup"]) == {"pipelined", "together", "bare_step"} and report["pixel_speedup"] == pytest.approx(1024 / (0.6 * 23**2 + 0.2 * 27**2 + 0.2 * 32**2))
    assert not list(Path.cwd().glob("runs/probe*"))  # the probe writes nothing
    rounds = report["round_speedups"]
    assert len(rounds) == 3 and all(r > 0 for r in rounds)  # --rounds 3: one prediction a round, its spread
    assert report["can_tell"] == (min(rounds) > 1 or max(rounds) < 1)


def _report(round_speedups):
    from efficienttrain.runner.probe import ProbeReport, SizeProbe

    sizes = [SizeProbe(24, 3.0, 0.010, 0.001, 0.011), SizeProbe(32, 1.0, 0.016, 0.001, 0.017)]
    return ProbeReport("m", 32, 1, 2, sizes, {}, 1.5, round_speedups=round_speedups)


def test_the_probe_says_it_cannot_tell_when_its_rounds_straddle_no_speedup():
    sure = _report([1.31, 1.38, 1.35])
    assert sure.spread == (1.31, 1.38) and sure.can_tell and "cannot tell" not in sure.table()
    assert "(rounds: 1.31x-1.38x)" in sure.table()
    unsure = _report([0.95, 1.18, 1.07])
    assert not unsure.can_tell
    assert "cannot tell whether the curriculum is faster here: the rounds range from 0.95x to 1.18x" in unsure.table()
    assert not _report([1.3]).can_tell and "one round cannot show its own spread" in _report([1.3]).table()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--augment-at-size"], "--crop-in-workers"),
        (["--replay", "3"], "--replay must be a positive divisor"),
        (["--reduced-decode"], "--reduced-decode needs an image folder"),
    ],
)
def test_loader_option_errors(tmp_path, capsys, flags, message):
    argv = ["train", "--data", "demo", "--demo-per-class", "2", "--epochs", "1", "--batch-size", "8", "--workers", "0",
            "--output", str(tmp_path / "r"), "--no-progress", *flags]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
