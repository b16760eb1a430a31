"""EfficientTrain in a compact script with the structure of timm's ``train.py``, on the demo data.

timm's ``train.py`` is not part of the timm wheel, so this script follows its layout with the same
timm pieces (``timm.create_model``, ``create_optimizer_v2``, a ``CosineLRScheduler`` stepped per
update, ``Mixup`` with ``SoftTargetCrossEntropy``, ``update_summary``) and shows where the
EfficientTrain lines go; they are marked ``# EfficientTrain``. docs/drop-in.md shows the same
changes as a diff against the real ``train.py``.

Run it (about half a minute on 2 CPU cores)::

    python examples/timm_script.py --output runs/timm
    python examples/timm_script.py --output runs/timm-vit --model vit_tiny_patch16_224 \
        --model-kwargs dynamic_img_size=True img_size=32 --multiple-of 16
    python examples/timm_script.py --output runs/timm-baseline --curriculum constant
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections import OrderedDict
from typing import Callable, Optional, Sequence

import timm
import torch
from timm.data import Mixup, create_transform
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler
from timm.utils import AverageMeter, ParseKwargs, accuracy, update_summary
from torch import nn
from torch.utils.data import DataLoader

import efficienttrain as et

_logger = logging.getLogger("train")


def _parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Options named as in timm's train.py, plus the curriculum's and the demo data's."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Model (as in timm's train.py).
    p.add_argument("--model", default="resnet10t", help="timm model name")
    p.add_argument("--model-kwargs", nargs="*", default={}, action=ParseKwargs, help="extra model arguments, e.g. dynamic_img_size=True")
    p.add_argument("--img-size", type=int, default=32, help="final input size")
    p.add_argument("--drop-path", type=float, default=0.0)
    # Optimizer and schedule.
    p.add_argument("-b", "--batch-size", type=int, default=32)
    p.add_argument("--opt", default="adamw")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--warmup-lr", type=float, default=1e-5)
    p.add_argument("--min-lr", type=float, default=1e-5)
    # Augmentation and regularisation (the paper's recipe, Table 14).
    p.add_argument("--aa", default="rand-m9-mstd0.5-inc1", help="RandAugment; the curriculum drives its magnitude")
    p.add_argument("--reprob", type=float, default=0.25)
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--mixup", type=float, default=0.8)
    p.add_argument("--cutmix", type=float, default=1.0)
    p.add_argument("--mixup-prob", type=float, default=1.0)
    p.add_argument("--mixup-switch-prob", type=float, default=0.5)
    # Misc.
    p.add_argument("-j", "--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--log-interval", type=int, default=50)
    p.add_argument("--output", default="", help="folder for summary.csv")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (1 is fastest on a busy machine)")
    # EfficientTrain.
    p.add_argument("--curriculum", default="efficienttrain", choices=("efficienttrain", "constant"), help="constant: the baseline")
    p.add_argument("--multiple-of", type=int, default=1, help="round the sizes (16 for ViT/16, 32 for Swin)")
    # The built-in demo data stands in for --data-dir.
    p.add_argument("--per-class", type=int, default=40)
    p.add_argument("--val-per-class", type=int, default=10)
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> OrderedDict:
    """Train and return the last epoch's evaluation metrics."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    num_classes = len(et.DemoDataset.classes)

    model = timm.create_model(args.model, num_classes=num_classes, drop_path_rate=args.drop_path, **args.model_kwargs)
    model.to(device)

    # EfficientTrain: the schedule, and a check that the model takes each of its sizes.
    if args.curriculum == "constant":
        curriculum = et.constant(args.epochs, args.img_size)
    else:
        curriculum = et.efficienttrain(args.epochs, args.img_size, multiple_of=args.multiple_of)
    et.check_model_sizes(model, curriculum.sizes, final_size=args.img_size, model_name=args.model)
    _logger.info("%s", curriculum)

    optimizer = create_optimizer_v2(model, opt=args.opt, lr=args.lr, weight_decay=args.weight_decay)

    dataset_train = et.DemoDataset("train", per_class=args.per_class, image_size=args.img_size, seed=args.seed)
    dataset_eval = et.DemoDataset("val", per_class=args.val_per_class, image_size=args.img_size, seed=args.seed)

    mixup_fn = None
    mixup_active = args.mixup > 0 or args.cutmix > 0
    if mixup_active:
        mixup_fn = Mixup(
            mixup_alpha=args.mixup,
            cutmix_alpha=args.cutmix,
            prob=args.mixup_prob,
            switch_prob=args.mixup_switch_prob,
            label_smoothing=args.smoothing,
            num_classes=num_classes,
        )

    # timm's create_loader() builds its own sampler. Build the same transform with
    # create_transform() and a DataLoader around the curriculum's sampler instead.
    dataset_train.transform = create_transform(
        args.img_size, is_training=True, auto_augment=args.aa, re_prob=args.reprob, re_mode="pixel", interpolation="bicubic"
    )
    dataset_train = et.CurriculumDataset(dataset_train)  # EfficientTrain
    sampler = et.CurriculumBatchSampler(dataset_train, curriculum, args.batch_size, seed=args.seed)  # EfficientTrain: DDP-aware
    loader_train = DataLoader(
        dataset_train,
        batch_sampler=sampler,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=args.workers > 0,
    )
    dataset_eval.transform = create_transform(args.img_size, is_training=False, crop_pct=1.0, interpolation="bicubic")
    loader_eval = DataLoader(dataset_eval, batch_size=2 * args.batch_size, num_workers=0)

    train_loss_fn: nn.Module
    if mixup_active:
        train_loss_fn = SoftTargetCrossEntropy()  # smoothing is in Mixup's soft targets
    elif args.smoothing:
        train_loss_fn = LabelSmoothingCrossEntropy(smoothing=args.smoothing)
    else:
        train_loss_fn = nn.CrossEntropyLoss()
    validate_loss_fn = nn.CrossEntropyLoss()

    # One cosine schedule over every update of the curriculum, stepped per update. The epochs
    # come from the curriculum, and sampler.total_steps is exact even for a partial last epoch.
    updates_per_epoch = sampler.steps_per_epoch
    lr_scheduler = CosineLRScheduler(
        optimizer,
        t_initial=sampler.total_steps,
        lr_min=args.min_lr,
        warmup_lr_init=args.warmup_lr,
        warmup_t=int(args.warmup_epochs * updates_per_epoch),
        t_in_epochs=False,
    )
    num_epochs = curriculum.num_epochs  # EfficientTrain

    output_dir = args.output or None
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    eval_metrics: OrderedDict = OrderedDict()
    for epoch in range(num_epochs):
        sampler.set_epoch(epoch)  # EfficientTrain: every epoch, distributed or not, before iterating

        train_metrics = train_one_epoch(epoch, model, loader_train, optimizer, train_loss_fn, args, device, lr_scheduler, mixup_fn)
        eval_metrics = validate(model, loader_eval, validate_loss_fn, device)
        first, last = sampler.settings(epoch, 0), sampler.settings(epoch, sampler.batches_in_epoch(epoch) - 1)
        sizes = str(first.size) if first.size == last.size else f"{first.size}->{last.size}"
        _logger.info(
            "epoch %d/%d  B=%s  m=%.2f  train loss %.3f  val top1 %.1f%%",
            epoch + 1,
            num_epochs,
            sizes,
            first.magnitude,
            train_metrics["loss"],
            eval_metrics["top1"],
        )
        if output_dir:
            lrs = [group["lr"] for group in optimizer.param_groups]
            update_summary(
                epoch,
                train_metrics,
                eval_metrics,
                filename=os.path.join(output_dir, "summary.csv"),
                lr=sum(lrs) / len(lrs),
                write_header=epoch == 0,
            )
    _logger.info("final val top1 %.1f%%", eval_metrics["top1"])
    return eval_metrics


def train_one_epoch(
    epoch: int,
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    args: argparse.Namespace,
    device: torch.device,
    lr_scheduler: CosineLRScheduler,
    mixup_fn: Optional[Callable] = None,
) -> OrderedDict:
    """One epoch, as timm's train_one_epoch (without AMP, accumulation and EMA, for brevity)."""
    sampler = et.find_curriculum_sampler(loader)  # EfficientTrain
    losses_m = AverageMeter()
    model.train()
    # Updates before this epoch: exact even when an epoch of the curriculum is partial.
    num_updates = sum(sampler.batches_in_epoch(e) for e in range(epoch))
    start = time.time()
    for batch_idx, (input, target) in enumerate(loader):
        input, target = input.to(device), target.to(device)
        input = et.crop_batch(input, sampler.settings(epoch, batch_idx))  # EfficientTrain: before Mixup/CutMix
        if mixup_fn is not None:
            input, target = mixup_fn(input, target)

        output = model(input)
        loss = loss_fn(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        losses_m.update(loss.item(), input.size(0))
        num_updates += 1
        if batch_idx % args.log_interval == 0:
            lr = sum(g["lr"] for g in optimizer.param_groups) / len(optimizer.param_groups)
            _logger.info(
                "Train: %d [%d/%d]  Loss: %.3f (%.3f)  LR: %.3e  input %s  (%.1fs)",
                epoch,
                batch_idx,
                len(loader),
                losses_m.val,
                losses_m.avg,
                lr,
                tuple(input.shape[-2:]),
                time.time() - start,
            )
        lr_scheduler.step_update(num_updates=num_updates, metric=losses_m.avg)
    return OrderedDict([("loss", losses_m.avg)])


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, device: torch.device) -> OrderedDict:
    """Loss, top-1 and top-5 at the final size."""
    losses_m, top1_m, top5_m = AverageMeter(), AverageMeter(), AverageMeter()
    model.eval()
    for input, target in loader:
        input, target = input.to(device), target.to(device)
        output = model(input)
        acc1, acc5 = accuracy(output, target, topk=(1, 5))
        losses_m.update(loss_fn(output, target).item(), input.size(0))
        top1_m.update(acc1.item(), output.size(0))
        top5_m.update(acc5.item(), output.size(0))
    return OrderedDict([("loss", losses_m.avg), ("top1", top1_m.avg), ("top5", top5_m.avg)])


if __name__ == "__main__":
    main()
