"""Tests of the Lightning callback: hook order with persistent workers, the crop reaching the model,
logging, checkpoint save/restore (at an epoch boundary and mid-epoch) and the DDP checks.

Every fit trains a tiny conv net on 48 synthetic 16-px images for at most 4 epochs of 6 batches.
The probe dataset returns, next to each image, the RandAugment magnitude its worker had set when
it loaded the sample, so the tests see what really reached the workers.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

pl = pytest.importorskip("lightning.pytorch")

import efficienttrain as et
from efficienttrain.integrations.lightning import EfficientTrainCallback

N_IMAGES = 48
BATCH = 8
SIZE = 16
EPOCHS = 4
STEPS = N_IMAGES // BATCH


def make_curriculum() -> et.Curriculum:
    # Sizes 11, 14, 16 with stage switches inside epochs 3 and 4; magnitude 9 t / 4 differs per epoch.
    return et.efficienttrain(EPOCHS, SIZE)


def image_of(index: int) -> torch.Tensor:
    return torch.randn(3, SIZE, SIZE, generator=torch.Generator().manual_seed(index))


class ProbeDataset(Dataset):
    """Deterministic images, plus the magnitude of the transform's RandAugment at load time."""

    def __init__(self) -> None:
        from timm.data.auto_augment import rand_augment_transform

        self.transform = rand_augment_transform("rand-m9-mstd0.5-inc1", {})

    def __len__(self) -> int:
        return N_IMAGES

    def __getitem__(self, index: int) -> tuple:
        magnitude = self.transform.ops[0].magnitude
        return image_of(index), index % 2, torch.tensor(magnitude, dtype=torch.float64), index


class ProbeModule(pl.LightningModule):
    """Records, for every training batch, what training_step and the network received."""

    def __init__(self, workers: int = 0, crash_at_step: Optional[int] = None) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        self.workers = workers
        self.crash_at_step = crash_at_step
        self.records: list[dict[str, Any]] = []
        self.net_input_sizes: list[int] = []
        self.net.register_forward_pre_hook(lambda _m, args: self.net_input_sizes.append(int(args[0].shape[-1])))

    def train_dataloader(self) -> DataLoader:
        data = et.CurriculumDataset(ProbeDataset())
        sampler = et.CurriculumBatchSampler(data, make_curriculum(), BATCH, seed=3)
        extra = {"persistent_workers": True} if self.workers else {}
        return DataLoader(data, batch_sampler=sampler, num_workers=self.workers, **extra)

    def training_step(self, batch: list, batch_idx: int) -> torch.Tensor:
        if self.crash_at_step is not None and self.global_step == self.crash_at_step:
            raise RuntimeError("simulated crash")
        x, y, magnitude, index = batch
        self.records.append(
            {
                "epoch": self.current_epoch,
                "step": batch_idx,
                "x": x.detach().clone(),
                "magnitudes": magnitude.tolist(),
                "indices": index.tolist(),
            }
        )
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def make_trainer(tmp_path: Path, max_epochs: int = EPOCHS, callbacks: Optional[list] = None, **kwargs: Any) -> pl.Trainer:
    options: dict[str, Any] = {
        "max_epochs": max_epochs,
        "accelerator": "cpu",
        "devices": 1,
        "use_distributed_sampler": False,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "default_root_dir": str(tmp_path),
    }
    options.update(kwargs)
    cbs = [EfficientTrainCallback(make_curriculum())] + list(callbacks or [])
    return pl.Trainer(callbacks=cbs, **options)


def expected_batches() -> dict[tuple[int, int], tuple[list[int], et.Settings]]:
    """(epoch, step) -> (dataset indices, settings), from a sampler iterated here in the main process."""
    sampler = et.CurriculumBatchSampler(N_IMAGES, make_curriculum(), BATCH, seed=3)
    out = {}
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        for step, keys in enumerate(sampler):
            out[(epoch, step)] = ([k.index for k in keys], sampler.settings(epoch, step))
    return out


def check_records(records: list[dict[str, Any]]) -> None:
    """Each batch holds the sampler's indices for its (epoch, step), that step's magnitude and crop."""
    expected = expected_batches()
    for rec in records:
        indices, settings = expected[(rec["epoch"], rec["step"])]
        where = f"epoch {rec['epoch']} step {rec['step']}"
        assert rec["indices"] == indices, where
        assert rec["magnitudes"] == pytest.approx([settings.magnitude] * BATCH, abs=1e-9), where
        assert rec["x"].shape == (BATCH, 3, settings.size, settings.size), where
        full = torch.stack([image_of(i) for i in indices])
        torch.testing.assert_close(rec["x"], et.crop_batch(full, settings), msg=where)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One uninterrupted fit with a persistent worker and a CSV logger, shared by several tests."""
    from lightning.pytorch.loggers import CSVLogger

    tmp = tmp_path_factory.mktemp("full")
    module = ProbeModule(workers=1)
    logger = CSVLogger(str(tmp), name="log", version=0)
    trainer = make_trainer(tmp, logger=logger, log_every_n_steps=1)
    trainer.fit(module)
    return {"module": module, "trainer": trainer, "metrics": Path(logger.log_dir) / "metrics.csv"}


def test_persistent_worker_gets_every_batch_magnitude(full_run: dict[str, Any]) -> None:
    records = full_run["module"].records
    assert [(r["epoch"], r["step"]) for r in records] == sorted(expected_batches())
    check_records(records)
    # The magnitude really changed between epochs, so a stale epoch in the worker would show.
    assert len({r["magnitudes"][0] for r in records}) == EPOCHS


def test_cropped_batch_reaches_the_model(full_run: dict[str, Any]) -> None:
    expected = expected_batches()
    sizes = [expected[(r["epoch"], r["step"])][1].size for r in full_run["module"].records]
    assert full_run["module"].net_input_sizes == sizes
    assert set(sizes) == {11, 14, 16}


def test_logs_size_and_magnitude(full_run: dict[str, Any]) -> None:
    with open(full_run["metrics"]) as f:
        rows = [r for r in csv.DictReader(f) if r.get("efficienttrain/size")]
    assert len(rows) == EPOCHS * STEPS
    expected = expected_batches()
    for row, key in zip(rows, sorted(expected), strict=True):
        assert float(row["efficienttrain/size"]) == expected[key][1].size
        assert float(row["efficienttrain/magnitude"]) == pytest.approx(expected[key][1].magnitude, abs=1e-5)


def test_reloaded_dataloaders_follow_the_curriculum(tmp_path: Path) -> None:
    # A new loader (and sampler, at epoch 0) every epoch: the callback must move it to the epoch.
    module = ProbeModule(workers=0)
    make_trainer(tmp_path, reload_dataloaders_every_n_epochs=1).fit(module)
    assert len(module.records) == EPOCHS * STEPS
    check_records(module.records)


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
def test_resume_at_epoch_boundary(tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    first = ProbeModule(workers=1)
    ckpt = ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True)
    make_trainer(tmp_path, max_epochs=2, callbacks=[ckpt], enable_checkpointing=True).fit(first)
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=False)["callbacks"]["EfficientTrainCallback"]
    assert state["sampler"]["epoch"] == 2 and state["sampler"]["start_step"] == 0 and state["sampler"]["seed"] == 3
    assert state["curriculum"] == make_curriculum().to_dict()

    second = ProbeModule(workers=1)
    make_trainer(tmp_path).fit(second, ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert [(r["epoch"], r["step"]) for r in first.records] == sorted(k for k in expected_batches() if k[0] < 2)
    assert [(r["epoch"], r["step"]) for r in second.records] == sorted(k for k in expected_batches() if k[0] >= 2)
    check_records(second.records)


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")  # expected: see docs
def test_resume_mid_epoch(tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    # Save after global step 9 (epoch 1, batch 2), then stop at step 11 as if the job died.
    first = ProbeModule(workers=1, crash_at_step=11)
    ckpt = ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), every_n_train_steps=9, save_top_k=-1)
    with pytest.raises(RuntimeError, match="simulated crash"):
        make_trainer(tmp_path, callbacks=[ckpt], enable_checkpointing=True).fit(first)
    path = tmp_path / "ckpt" / "epoch=1-step=9.ckpt"
    state = torch.load(path, weights_only=False)["callbacks"]["EfficientTrainCallback"]
    assert (state["sampler"]["epoch"], state["sampler"]["start_step"]) == (1, 3)

    second = ProbeModule(workers=1)
    make_trainer(tmp_path).fit(second, ckpt_path=str(path))
    done = sorted(expected_batches())[:9]
    assert [(r["epoch"], r["step"]) for r in second.records] == sorted(expected_batches())[9:]
    assert [(r["epoch"], r["step"]) for r in first.records[:9]] == done
    check_records(second.records)


def test_resume_with_other_curriculum_is_refused() -> None:
    saved = EfficientTrainCallback(make_curriculum()).state_dict()
    other = EfficientTrainCallback(et.efficienttrain(EPOCHS + 1, SIZE))
    with pytest.raises(ValueError, match="different curriculum"):
        other.load_state_dict(saved)


def test_ddp_needs_use_distributed_sampler_false() -> None:
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=EPOCHS, logger=False)
    with pytest.raises(ValueError, match="use_distributed_sampler=False"):
        EfficientTrainCallback(make_curriculum()).setup(trainer, ProbeModule(), "fit")
    ok = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=EPOCHS, logger=False, use_distributed_sampler=False)
    EfficientTrainCallback(make_curriculum()).setup(ok, ProbeModule(), "fit")


def test_sampler_sharded_for_other_world_size_is_refused(tmp_path: Path) -> None:
    class TwoRankModule(ProbeModule):
        def train_dataloader(self) -> DataLoader:
            data = et.CurriculumDataset(ProbeDataset())
            return DataLoader(data, batch_sampler=et.CurriculumBatchSampler(data, make_curriculum(), BATCH, num_replicas=2, rank=0))

    with pytest.raises(ValueError, match="shards for 2 process"):
        make_trainer(tmp_path).fit(TwoRankModule())


def test_a_sampler_with_grown_batches_is_refused(tmp_path: Path) -> None:
    class GrowingModule(ProbeModule):
        def train_dataloader(self) -> DataLoader:
            data = et.CurriculumDataset(ProbeDataset())
            sampler = et.CurriculumBatchSampler(data, make_curriculum(), BATCH)
            sampler.set_growth(et.BatchGrowth.for_curriculum(make_curriculum(), BATCH, max_factor=4))
            assert sampler.growth.active
            return DataLoader(data, batch_sampler=sampler)

    with pytest.raises(ValueError, match="grows its early batches"):
        make_trainer(tmp_path).fit(GrowingModule())


def test_max_epochs_beyond_curriculum_is_refused() -> None:
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=EPOCHS + 1, logger=False)
    with pytest.raises(ValueError, match="max_epochs"):
        EfficientTrainCallback(make_curriculum()).setup(trainer, ProbeModule(), "fit")


class _StubTrainer:
    current_epoch = 2


class _StubModule:
    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log(self, name: str, value: float, **_: Any) -> None:
        self.logged[name] = value


@pytest.mark.parametrize("kind", ["list", "tuple", "dict"])
def test_crop_replaces_images_in_place(kind: str) -> None:
    cb = EfficientTrainCallback(make_curriculum(), image_key="image" if kind == "dict" else 0)
    cb.sampler = et.CurriculumBatchSampler(N_IMAGES, make_curriculum(), BATCH)
    images, targets = torch.randn(BATCH, 3, SIZE, SIZE), torch.zeros(BATCH)
    original = images.clone()
    batch: Any = {"list": [images, targets], "tuple": (images, targets), "dict": {"image": images, "label": targets}}[kind]
    module = _StubModule()
    cb.on_train_batch_start(_StubTrainer(), module, batch, 0)
    settings = cb.sampler.settings(2, 0)
    got = batch["image"] if kind == "dict" else batch[0]
    assert got.shape[-1] == settings.size == 11
    torch.testing.assert_close(got, et.crop_batch(original, settings))
    assert module.logged == {"efficienttrain/size": 11.0, "efficienttrain/magnitude": pytest.approx(settings.magnitude)}


def test_package_does_not_import_lightning_eagerly() -> None:
    code = "import sys, efficienttrain, efficienttrain.integrations; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
