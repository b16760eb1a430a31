"""EfficientTrain with PyTorch Lightning: the callback, on the built-in demo data (no download).

Three things differ from an ordinary LightningModule/Trainer (marked ``# EfficientTrain``):
``train_dataloader`` uses the curriculum's dataset wrapper and batch sampler, the Trainer gets
``EfficientTrainCallback`` with ``max_epochs=curriculum.num_epochs`` and
``use_distributed_sampler=False``, and the learning-rate schedule spans ``sampler.total_steps``.

Run it (needs ``pip install 'efficienttrain[lightning]'``; about half a minute on 2 CPU cores)::

    python examples/lightning_example.py --output runs/lightning
    python examples/lightning_example.py --output runs/lightning --devices 2     # DDP on 2 CPU processes
    python examples/lightning_example.py --output runs/lightning --resume runs/lightning/checkpoints/last.ckpt
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader

import efficienttrain as et
from efficienttrain.integrations.lightning import EfficientTrainCallback


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options (the defaults train for about half a minute on 2 CPU cores)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6, help="training epochs (the curriculum scales to them)")
    p.add_argument("--image-size", type=int, default=32, help="final input size of the demo images")
    p.add_argument("--per-class", type=int, default=40, help="training images per class (10 classes)")
    p.add_argument("--val-per-class", type=int, default=10, help="validation images per class")
    p.add_argument("--batch-size", type=int, default=32, help="per process")
    p.add_argument("--workers", type=int, default=1, help="data-loader workers (persistent)")
    p.add_argument("--model", default="resnet10t", help="any timm model name")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--devices", type=int, default=1, help="processes (DDP when more than 1)")
    p.add_argument("--output", type=Path, default=Path("runs/lightning"), help="logs (metrics.csv) and checkpoints")
    p.add_argument("--resume", type=Path, default=None, help="a checkpoint to continue from (e.g. OUTPUT/checkpoints/last.ckpt)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (1 is fastest on a busy machine)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


class DemoClassifier(pl.LightningModule):
    """A timm model trained on the demo data through the curriculum.

    Args:
        curriculum: The EfficientTrain curriculum.
        args: The command-line options.
    """

    def __init__(self, curriculum: et.Curriculum, args: argparse.Namespace) -> None:
        super().__init__()
        self.curriculum = curriculum
        self.args = args
        self.model = et.create_model(args.model, num_classes=10, img_size=args.image_size)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    def train_dataloader(self) -> DataLoader:
        # Built here, after Lightning started the DDP process group: the sampler reads the world
        # size and rank from it and gives each process its shard.
        a = self.args
        data = et.DemoDataset("train", per_class=a.per_class, image_size=a.image_size, transform=et.build_train_transform(a.image_size))
        train_set = et.CurriculumDataset(data)  # EfficientTrain
        sampler = et.CurriculumBatchSampler(train_set, self.curriculum, a.batch_size, seed=a.seed)  # EfficientTrain
        return DataLoader(train_set, batch_sampler=sampler, num_workers=a.workers, persistent_workers=a.workers > 0)

    def val_dataloader(self) -> DataLoader:
        a = self.args
        data = et.DemoDataset(
            "val", per_class=a.val_per_class, image_size=a.image_size, transform=et.build_eval_transform(a.image_size, crop_pct=1.0)
        )
        return DataLoader(data, batch_size=2 * a.batch_size, num_workers=0)

    def training_step(self, batch: list, batch_idx: int) -> torch.Tensor:
        images, targets = batch  # already cropped to the curriculum's size by the callback
        loss = self.criterion(self.model(images), targets)
        self.log("train/loss", loss, on_step=False, on_epoch=True, sync_dist=True, batch_size=len(targets))
        return loss

    def validation_step(self, batch: list, batch_idx: int) -> None:
        images, targets = batch
        top1 = (self.model(images).argmax(1) == targets).float().mean() * 100
        self.log("val/top1", top1, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=len(targets))

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.args.lr, weight_decay=0.05)
        # Lightning calls this before it builds the loader, so count the curriculum's batches with a
        # sampler of the same shape (trainer.estimated_stepping_batches would miss a partial last epoch).
        steps = et.CurriculumBatchSampler(
            self.args.per_class * 10,
            self.curriculum,
            self.args.batch_size,
            num_replicas=self.trainer.world_size,
            rank=self.trainer.global_rank,
        ).total_steps
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(i / steps, 1.0))))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def main(argv: Optional[Sequence[str]] = None) -> dict[str, float]:
    """Train through the curriculum and return the final metrics."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pl.seed_everything(args.seed, workers=True, verbose=False)
    curriculum = et.efficienttrain(args.epochs, args.image_size)  # EfficientTrain
    trainer = pl.Trainer(
        max_epochs=curriculum.num_epochs,  # EfficientTrain: the curriculum decides the length
        use_distributed_sampler=False,  # EfficientTrain: the curriculum sampler shards for DDP itself
        callbacks=[
            EfficientTrainCallback(curriculum),
            ModelCheckpoint(dirpath=args.output / "checkpoints", save_last=True),
        ],  # EfficientTrain
        accelerator="auto",
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        logger=CSVLogger(str(args.output), name="", version=""),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(DemoClassifier(curriculum, args), ckpt_path=str(args.resume) if args.resume else None)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if trainer.is_global_zero:
        print(
            f"finished {trainer.current_epoch} epochs: val top1 {metrics.get('val/top1', float('nan')):.1f}%, "
            f"metrics in {Path(trainer.logger.log_dir) / 'metrics.csv'}",
            flush=True,
        )
    return metrics


if __name__ == "__main__":
    main()
