"""MAE pretraining of a ViT with the EfficientTrain curriculum, then supervised fine-tuning of its encoder.

Both stages go through the public runner (:func:`efficienttrain.train`), on the built-in demo data
(no download). The pretraining run follows the curriculum's size schedule (smaller, low-frequency
images early on; MAE uses no RandAugment), logs the k-NN accuracy of its frozen features every
epoch, and exports its encoder as ``model.safetensors``; the fine-tuning run starts from it with
``init_from``.

Run it (about two minutes on 2 CPU cores)::

    python examples/mae_pretrain_finetune.py
    python examples/mae_pretrain_finetune.py --curriculum constant      # the same without the curriculum

The command-line equivalent::

    efficienttrain train --objective mae --model deit_tiny_patch16_224 --patch-size 8 --multiple-of 8 --data demo ...
    efficienttrain train --model deit_tiny_patch16_224 --patch-size 8 --init-from runs/.../model.safetensors ...
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

import efficienttrain as et


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options (the defaults run for about two minutes on 2 CPU cores)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="deit_tiny_patch16_224", help="a timm ViT")
    p.add_argument("--patch-size", type=int, default=8, help="ViT patch size (sizes are rounded to multiples of it)")
    p.add_argument("--image-size", type=int, default=32, help="final input size of the demo images")
    p.add_argument("--per-class", type=int, default=40, help="training images per class (10 classes)")
    p.add_argument("--val-per-class", type=int, default=10, help="validation images per class")
    p.add_argument("--pretrain-epochs", type=int, default=6)
    p.add_argument("--finetune-epochs", type=int, default=4)
    p.add_argument("--curriculum", default="efficienttrain", help="efficienttrain, or none for plain MAE")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", default="runs/mae-example")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Pretrain with MAE, then fine-tune the exported encoder; print both results."""
    args = parse_args(argv)
    out = Path(args.output)
    common = dict(
        preset="cpu", data="demo", model=args.model, patch_size=args.patch_size, multiple_of=args.patch_size,
        demo_image_size=args.image_size, demo_per_class=args.per_class, demo_val_per_class=args.val_per_class,
        batch_size=args.batch_size, workers=args.workers, threads=args.threads, safetensors=True,
    )  # fmt: skip
    # 1. Self-supervised pretraining: the objective is MAE, the curriculum only changes the inputs.
    pre = et.train(**common, objective="mae", curriculum=args.curriculum, epochs=args.pretrain_epochs, output=str(out / "pretrain"))
    print(f"pretraining: k-NN top-1 {pre.final_top1:.2f}% after {args.pretrain_epochs} epochs, {pre.train_time:.1f}s of training")
    # 2. Supervised fine-tuning of the exported encoder (a plain timm ViT; its new head starts fresh).
    fine = et.train(
        **common, curriculum="constant", epochs=args.finetune_epochs, init_from=str(out / "pretrain" / "model.safetensors"), output=str(out / "finetune")
    )
    print(f"fine-tuning: top-1 {fine.final_top1:.2f}% after {args.finetune_epochs} epochs")


if __name__ == "__main__":
    main()
