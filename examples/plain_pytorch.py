"""EfficientTrain in a plain PyTorch training loop, on the built-in demo data (no download).

The lines that differ from an ordinary loop are marked ``# EfficientTrain``: build the curriculum,
wrap the dataset, use the curriculum's batch sampler, call ``sampler.set_epoch`` before each epoch,
and crop each batch on the device. Everything else (model, optimizer, loss, evaluation) is as usual.

Run it (about half a minute on 2 CPU cores)::

    python examples/plain_pytorch.py
    python examples/plain_pytorch.py --epochs 6 --stop-after 3 --checkpoint run.pt   # interrupted ...
    python examples/plain_pytorch.py --epochs 6 --checkpoint run.pt --resume         # ... and resumed
    python examples/plain_pytorch.py --shards OUT    # from WebDataset shards (efficienttrain shards DIR OUT)
    python examples/plain_pytorch.py --hf DATASET    # from a Hugging Face dataset saved with save_to_disk

With ``--shards`` the stream takes the sampler's place: it is the loader's dataset, its workers
form whole batches (``batch_size=None``), and it answers ``set_epoch``, ``settings`` and
``state_dict`` as the sampler does.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

import efficienttrain as et


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options (the defaults train for about half a minute on 2 CPU cores)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6, help="training epochs (the curriculum scales to them)")
    p.add_argument("--image-size", type=int, default=32, help="final input size of the demo images")
    p.add_argument("--per-class", type=int, default=40, help="training images per class (10 classes)")
    p.add_argument("--val-per-class", type=int, default=10, help="validation images per class")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=1, help="data-loader workers (persistent)")
    p.add_argument("--model", default="resnet10t", help="any timm model name")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (1 is fastest on a busy machine)")
    p.add_argument("--checkpoint", type=Path, default=None, help="save the training state here after every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many epochs (to try --resume)")
    p.add_argument("--shards", type=Path, default=None, help="train from WebDataset shards: a folder with train/ and val/ (from efficienttrain shards)")
    p.add_argument("--hf", type=Path, default=None, help="train from a Hugging Face dataset saved with save_to_disk (splits train and validation)")
    return p.parse_args(argv)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Top-1 accuracy (%) at the final size."""
    model.eval()
    correct = total = 0
    for images, targets in loader:
        correct += (model(images.to(device)).argmax(1).cpu() == targets).sum().item()
        total += len(targets)
    model.train()
    return 100.0 * correct / max(total, 1)


def demo_loaders(args: argparse.Namespace, curriculum: et.Curriculum) -> tuple[et.CurriculumBatchSampler, DataLoader, DataLoader, list[str]]:
    """The demo data's loaders: a map-style dataset with the curriculum's batch sampler."""
    train_data = et.DemoDataset(
        "train", per_class=args.per_class, image_size=args.image_size, transform=et.build_train_transform(args.image_size)
    )
    train_set = et.CurriculumDataset(train_data)  # EfficientTrain: lets workers read the magnitude
    sampler = et.CurriculumBatchSampler(train_set, curriculum, args.batch_size, seed=args.seed)  # EfficientTrain
    loader = DataLoader(train_set, batch_sampler=sampler, num_workers=args.workers, persistent_workers=args.workers > 0)
    val_set = et.DemoDataset(
        "val", per_class=args.val_per_class, image_size=args.image_size, transform=et.build_eval_transform(args.image_size, crop_pct=1.0)
    )
    return sampler, loader, DataLoader(val_set, batch_size=2 * args.batch_size), list(train_data.classes)


def shard_loaders(args: argparse.Namespace, curriculum: et.Curriculum) -> tuple[et.CurriculumStream, DataLoader, DataLoader, list[str]]:
    """Loaders of WebDataset shards: the stream forms whole batches in the workers."""
    train = et.ShardSet.open(str(args.shards / "train"))
    train.transform = et.build_train_transform(args.image_size)
    stream = et.CurriculumStream(train, curriculum, args.batch_size, seed=args.seed, workers=args.workers)  # EfficientTrain
    loader = DataLoader(stream, batch_size=None, num_workers=args.workers, persistent_workers=args.workers > 0)
    val = et.ShardSet.open(str(args.shards / "val"))
    val.transform = et.build_eval_transform(args.image_size, crop_pct=1.0)
    return stream, loader, DataLoader(et.EvalStream(val), batch_size=2 * args.batch_size), train.classes


def hf_loaders(args: argparse.Namespace, curriculum: et.Curriculum) -> tuple[et.CurriculumBatchSampler, DataLoader, DataLoader, list[str]]:
    """Loaders of a Hugging Face dataset on disk: map-style, so the same sampler as a folder."""
    import datasets

    from efficienttrain.data.hf import HFImageDataset

    splits = datasets.load_from_disk(str(args.hf))
    train_data = HFImageDataset(splits["train"], et.build_train_transform(args.image_size))
    train_set = et.CurriculumDataset(train_data)  # EfficientTrain
    sampler = et.CurriculumBatchSampler(train_set, curriculum, args.batch_size, seed=args.seed)  # EfficientTrain
    loader = DataLoader(train_set, batch_sampler=sampler, num_workers=args.workers, persistent_workers=args.workers > 0)
    val_set = HFImageDataset(splits["validation"], et.build_eval_transform(args.image_size, crop_pct=1.0))
    classes = train_data.classes or [str(i) for i in range(max(train_data.labels()) + 1)]
    return sampler, loader, DataLoader(val_set, batch_size=2 * args.batch_size), classes


def main(argv: Optional[Sequence[str]] = None) -> float:
    """Train through the curriculum and return the final validation top-1 (%)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    curriculum = et.efficienttrain(args.epochs, args.image_size)  # EfficientTrain: Table 5, scaled
    print(curriculum)

    if args.shards is not None:
        sampler, loader, val_loader, classes = shard_loaders(args, curriculum)
    elif args.hf is not None:
        sampler, loader, val_loader, classes = hf_loaders(args, curriculum)
    else:
        sampler, loader, val_loader, classes = demo_loaders(args, curriculum)

    model = et.create_model(args.model, num_classes=len(classes), img_size=args.image_size).to(device)
    et.check_model_sizes(model, curriculum.sizes, final_size=args.image_size)  # fail now, not at the first size change
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    # One cosine schedule over every batch of the curriculum (sampler.total_steps), stepped per batch.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(i / sampler.total_steps, 1.0))))
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    start_epoch = 0
    if args.resume:
        state = torch.load(args.checkpoint, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.load_state_dict(state["sampler"])  # EfficientTrain: epoch, start_step and seed
        start_epoch = sampler.epoch
        print(f"resumed from {args.checkpoint} at epoch {start_epoch + 1}, batch {sampler.start_step}")

    top1 = float("nan")
    for epoch in range(start_epoch, curriculum.num_epochs):
        if args.stop_after is not None and epoch - start_epoch >= args.stop_after:
            print(f"stopped after {args.stop_after} epoch(s); continue with --resume")
            return top1
        # EfficientTrain: before iterating, so that (persistent) workers get this epoch's magnitude.
        # A resumed epoch starts at the saved batch.
        sampler.set_epoch(epoch, sampler.start_step if epoch == start_epoch else 0)
        t0, loss_sum, n = time.perf_counter(), 0.0, 0
        for step, (images, targets) in enumerate(loader, start=sampler.start_step):
            settings = sampler.settings(epoch, step)  # EfficientTrain: what the workers used for this batch
            images = et.crop_batch(images.to(device), settings)  # EfficientTrain: low-frequency crop to B
            loss = criterion(model(images), targets.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum, n = loss_sum + loss.item(), n + 1
        top1 = evaluate(model, val_loader, device)
        print(
            f"epoch {epoch + 1}/{curriculum.num_epochs}  B={settings.size}  m={settings.magnitude:.2f}  "
            f"loss {loss_sum / max(n, 1):.3f}  val top1 {top1:.1f}%  ({time.perf_counter() - t0:.1f}s)",
            flush=True,
        )
        if args.checkpoint is not None:
            # EfficientTrain: the next batch to train is batch 0 of the next epoch; a mid-epoch
            # save would store sampler.state_dict(epoch, step + 1).
            position = sampler.state_dict(epoch + 1, 0)
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "sampler": position,
                },
                args.checkpoint,
            )
    print(f"final val top1 {top1:.1f}%")
    return top1


if __name__ == "__main__":
    main()
