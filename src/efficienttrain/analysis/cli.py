"""``efficienttrain analyze``: the paper's frequency analyses from the command line.

* ``analyze filtered``: accuracy of checkpoints on low-/high-pass filtered validation sets
  (Fig. 4, Table 1);
* ``analyze cka``: linear CKA of final-layer features between two series of checkpoints (Fig. 6);
* ``analyze spectra``: spectra, low-pass filters and low-frequency crops of images (Figs. 2, 5)
  and the out-of-window energy that crop and down-sampling let through (Proposition 1).

Each prints a table and writes CSV, JSON and PNG files to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional

from ..errors import UserError
from ..limits import CROP_OPS

__all__ = ["add_parser"]

_DEFAULT_OUT = "analysis"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` command and its ``filtered``, ``cka`` and ``spectra`` sub-commands.

    Args:
        sub: The sub-parsers of the ``efficienttrain`` parser.
    """
    p = sub.add_parser(
        "analyze",
        help="frequency analyses: filtered accuracy, CKA, spectra",
        description="The paper's frequency analyses: accuracy of checkpoints on low-/high-pass filtered validation images "
        "(Fig. 4, Table 1), CKA similarity of features across training (Fig. 6), and spectra, crops and Proposition 1.",
    )
    p.set_defaults(func=lambda _args: _help(p))
    analyses = p.add_subparsers(dest="analysis", metavar="ANALYSIS")
    _add_filtered(analyses)
    _add_cka(analyses)
    _add_spectra(analyses)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# -- shared options ---------------------------------------------------------------------------
def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("checkpoints")
    g.add_argument("--model", default=None, help="timm model name, for files that do not record it (.safetensors, plain state dicts)")
    g.add_argument("--num-classes", type=int, default=None, help="number of classes, for files that do not record it")
    g.add_argument("--ema", action="store_true", help="use the EMA weights of runner checkpoints")


def _add_data_options(p: argparse.ArgumentParser, limit_default: Optional[int], limit_help: str) -> None:
    g = p.add_argument_group("validation data (default: the first checkpoint's own)")
    g.add_argument("--data", default=None, help="demo, cifar10, cifar100, or an ImageFolder DIR with train/ and val/")
    g.add_argument("--data-root", default=None, help="where torchvision datasets are stored (default ./data)")
    g.add_argument("--download", action="store_true", help="let torchvision download CIFAR when missing")
    g.add_argument("--val-split", default=None, help="validation directory of an ImageFolder (default val)")
    g.add_argument("--size", type=int, default=None, help="evaluation size (default: the run's final size)")
    g.add_argument(
        "--crop-pct", type=float, default=None, help="centre-crop fraction of the evaluation transform (default: the run's, 0.875)"
    )
    g.add_argument("--limit", type=int, default=limit_default, help=limit_help)
    g.add_argument("--seed", type=int, default=None, help="demo dataset seed (default: the run's seed)")


def _add_runtime_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("runtime and output")
    g.add_argument("--batch-size", type=int, default=128, help="images per forward pass (default 128)")
    g.add_argument("--workers", type=int, default=0, help="data-loader workers (default 0)")
    g.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    g.add_argument("--out", default=_DEFAULT_OUT, help=f"output directory (default ./{_DEFAULT_OUT})")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bars (default: on a terminal)")


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown --device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda, but no CUDA device is available; use --device cpu")
    return device


def _progress(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() if args.progress is None else bool(args.progress)


def _check_runtime(args: argparse.Namespace) -> None:
    if args.batch_size <= 0:
        raise UserError(f"--batch-size must be positive, got {args.batch_size}")
    if args.workers < 0:
        raise UserError(f"--workers must be 0 or more, got {args.workers}")


def _eval_set(args: argparse.Namespace, config: dict[str, Any], final_size: Optional[int], *, normalise: bool = True):
    from ..data.datasets import default_final_size
    from .evaldata import build_eval_set

    source = args.data or config.get("data") or "demo"
    same_data = not args.data or args.data == config.get("data")
    if source == "demo":
        # Render the demo images at the size the run used; without a config, at the size asked for.
        demo_size = int(config.get("demo_image_size") or 64) if same_data and config else (args.size or final_size or 64)
    else:
        demo_size = 64
    size = args.size or default_final_size(source, final_size if same_data else None, demo_size)
    seed = args.seed if args.seed is not None else int(config.get("seed", 0) if same_data else 0)
    crop_pct = args.crop_pct if args.crop_pct is not None else float(config.get("crop_pct") or 0.875)
    stats = {} if normalise else {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
    return build_eval_set(
        source,
        size=size,
        limit=args.limit,
        crop_pct=crop_pct,
        data_root=args.data_root or (config.get("data_root") if same_data else None),
        download=args.download,
        val_split=args.val_split or (config.get("val_split") if same_data else None) or "val",
        demo_val_per_class=int(config.get("demo_val_per_class") or 50) if same_data else 50,
        demo_image_size=demo_size,
        seed=seed,
        workers=getattr(args, "workers", 0),
        **stats,
    )


def _wrote(paths: list[Path]) -> None:
    for path in paths:
        print(f"wrote {path}")


# -- filtered ---------------------------------------------------------------------------------
def _add_filtered(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filtered",
        help="accuracy on low-/high-pass filtered validation images (Fig. 4, Table 1)",
        description="Evaluate checkpoints on low-pass and high-pass filtered versions of the validation set at several radii "
        "(paper Fig. 4 and Table 1). Pass checkpoint files and/or run directories; a run directory contributes its "
        "epoch_*.pt snapshots (train with --snapshot-every 1), or its last.pt. Filters act on the normalised images: "
        "the low-pass result is the same as filtering pixels; the high-pass result is zero-mean (see --space).",
    )
    p.add_argument("checkpoints", nargs="+", help="checkpoint files (.pt, .safetensors) and/or run directories, in order")
    p.add_argument("--radii", default=None, help="radii in cycles per image, e.g. 4,8,16 (default: 1/16 to 1/2 of the size)")
    p.add_argument("--filters", default="low,high", help="low, high or low,high (default both)")
    p.add_argument(
        "--space", choices=("normalized", "pixel"), default="normalized", help="filter the normalised tensor (default) or the [0,1] pixels"
    )
    p.add_argument(
        "--match-highpass",
        type=float,
        default=None,
        metavar="R",
        help="Table 1: also find the high-pass radius at which the last checkpoint scores as well as at low-pass radius R",
    )
    _add_model_options(p)
    _add_data_options(p, None, "evaluate on this many validation images, evenly spaced (default: all)")
    _add_runtime_options(p)
    p.set_defaults(func=_cmd_filtered)


def _cmd_filtered(args: argparse.Namespace) -> int:
    from ..outputs import prepare_output_folder
    from .checkpoints import load_model, peek_config, resolve_checkpoints
    from .filtered import default_radii, evaluate_series, make_settings, match_highpass_radius, parse_radii, sort_settings
    from .plots import plot_filtered

    _check_runtime(args)
    radii = parse_radii(args.radii) if args.radii is not None else None
    filters = [f for f in args.filters.replace(",", " ").split()]
    make_settings([], filters)  # validates the filter names before any work
    if args.match_highpass is not None and args.match_highpass < 0:
        raise UserError(f"--match-highpass must be a non-negative radius, got {args.match_highpass:g}")
    device = _device(args.device)
    out = prepare_output_folder(args.out, "--out")  # before the evaluation, not after it
    paths = resolve_checkpoints(args.checkpoints)
    config, final_size = peek_config(paths[0])
    evalset = _eval_set(args, config, final_size)
    settings = make_settings(radii if radii is not None else default_radii(evalset.size), filters)
    progress = _progress(args)
    match = None
    if args.match_highpass is not None:
        evalset.cache()
        last = load_model(paths[-1], model=args.model, num_classes=args.num_classes, ema=args.ema, device=device)
        match = match_highpass_radius(last.model, evalset, args.match_highpass, space=args.space, batch_size=args.batch_size, device=device)
        del last
        settings = sort_settings(settings + [("low", match["low_radius"]), ("high", match["high_radius"])])
    result = evaluate_series(
        paths, evalset, settings, space=args.space, model=args.model, num_classes=args.num_classes, ema=args.ema,
        batch_size=args.batch_size, device=device, progress=progress,
    )  # fmt: skip
    print(f"top-1 (%) on {len(evalset)} {evalset.source} validation images at {evalset.size} px, filtered in {args.space} space")
    print(result.table())
    if match is not None:
        result.meta["match_highpass"] = match
        print(
            f"\nTable 1: on {result.checkpoints[-1]['label']}, high-pass r={match['high_radius']:g} ({match['high_top1']:.2f}%) "
            f"matches low-pass r={match['low_radius']:g} ({match['low_top1']:.2f}%)"
        )
        print(result.table(settings=[("low", match["low_radius"]), ("high", match["high_radius"])], transpose=True))
    _wrote([result.to_csv(out / "filtered.csv"), result.to_json(out / "filtered.json"), plot_filtered(result, out / "filtered.png")])
    return 0


# -- cka --------------------------------------------------------------------------------------
def _add_cka(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cka",
        help="CKA similarity of final-layer features between checkpoints (Fig. 6)",
        description="Linear CKA of final-layer (pre-logits) features between every checkpoint of series A and of series B, "
        "all fed the same original validation images (paper Fig. 6). Each series is checkpoint files and/or run directories; "
        "without --b, A is compared with itself.",
    )
    p.add_argument("--a", nargs="+", required=True, metavar="PATH", help="series A (x axis): checkpoint files and/or run directories")
    p.add_argument("--b", nargs="+", default=None, metavar="PATH", help="series B (y axis); default: series A")
    p.add_argument(
        "--axis",
        choices=("epoch", "cost"),
        default="epoch",
        help="heatmap axes: epochs, or training cost in final-size epochs (the paper's)",
    )
    p.add_argument("--labels", nargs=2, default=None, metavar=("A", "B"), help="names of the two series for the plot")
    _add_model_options(p)
    _add_data_options(p, 500, "number of validation images, evenly spaced (default 500)")
    _add_runtime_options(p)
    p.set_defaults(func=_cmd_cka)


def _cmd_cka(args: argparse.Namespace) -> int:
    from ..outputs import prepare_output_folder
    from .checkpoints import peek_config, resolve_checkpoints
    from .cka import cka_series
    from .plots import plot_cka

    _check_runtime(args)
    device = _device(args.device)
    out = prepare_output_folder(args.out, "--out")
    paths_a = resolve_checkpoints(args.a)
    paths_b = resolve_checkpoints(args.b) if args.b else paths_a
    config, final_size = peek_config(paths_a[0])
    evalset = _eval_set(args, config, final_size)
    result = cka_series(
        paths_a, paths_b, evalset, model=args.model, num_classes=args.num_classes, ema=args.ema,
        batch_size=args.batch_size, device=device, progress=_progress(args),
    )  # fmt: skip
    print(f"linear CKA of final-layer features on {len(evalset)} {evalset.source} validation images at {evalset.size} px")
    if result.matrix.numel() == 1:
        print(f"CKA({result.a[0]['label']}, {result.b[0]['label']}) = {float(result.matrix[0, 0]):.4f}")
    else:
        print(result.table())
    labels = args.labels or (_series_name(args.a), _series_name(args.b or args.a))
    _wrote(
        [result.to_csv(out / "cka.csv"), result.to_json(out / "cka.json"), plot_cka(result, out / "cka.png", axis=args.axis, labels=labels)]
    )
    return 0


def _series_name(paths: list[str]) -> str:
    p = Path(paths[0])
    return p.name if p.is_dir() else p.parent.name or p.stem


# -- spectra ----------------------------------------------------------------------------------
def _add_spectra(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "spectra",
        help="spectra, low-pass filters, crops (Figs. 2, 5) and Proposition 1's leakage",
        description="Show images with their centred log spectra, low-pass filtered versions and low-frequency crops "
        "(paper Figs. 2 and 5), and measure how much energy from outside the BxB window reaches images shrunk to BxB by "
        "the crop and by each down-sampling mode (Proposition 1: zero for the crop only).",
    )
    p.add_argument("--images", nargs="+", default=None, metavar="FILE", help="image files (default: validation images of --data)")
    p.add_argument("--radii", default=None, help="low-pass radii to show, e.g. 4,8,16 (default: 1/16, 1/8 and 1/4 of the size)")
    p.add_argument("--sizes", default=None, help="crop sizes B, e.g. 32,40,48 (default: 1/2, 5/8 and 3/4 of the size)")
    p.add_argument("--ops", default=",".join(CROP_OPS), help=f"operators compared (default {','.join(CROP_OPS)})")
    p.add_argument("--show", type=int, default=3, help="images shown in the spectra figure (default 3)")
    g = p.add_argument_group("images")
    g.add_argument("--data", default="demo", help="demo (default), cifar10, cifar100, or an ImageFolder DIR")
    g.add_argument("--data-root", default=None, help="where torchvision datasets are stored")
    g.add_argument("--download", action="store_true", help="let torchvision download CIFAR when missing")
    g.add_argument("--val-split", default=None, help="validation directory of an ImageFolder (default val)")
    g.add_argument("--size", type=int, default=None, help="image size (default: 64 for demo, 32 for CIFAR, 224 otherwise)")
    g.add_argument("--limit", type=int, default=32, help="images in the leakage numbers (default 32)")
    g.add_argument("--seed", type=int, default=0, help="demo dataset seed")
    g.add_argument("--out", default=_DEFAULT_OUT, help=f"output directory (default ./{_DEFAULT_OUT})")
    p.set_defaults(func=_cmd_spectra, crop_pct=1.0, workers=0)


def _int_list(text: str, flag: str) -> list[int]:
    out = []
    for item in text.replace(",", " ").split():
        try:
            out.append(int(item))
        except ValueError:
            raise UserError(f"bad size {item!r} in {flag}; give whole numbers of pixels, e.g. {flag} 32,48") from None
    if not out:
        raise UserError(f"{flag} is empty; give whole numbers of pixels, e.g. {flag} 32,48")
    return out


def _cmd_spectra(args: argparse.Namespace) -> int:
    import torch

    from ..outputs import prepare_output_folder
    from .filtered import parse_radii
    from .plots import plot_leakage, plot_spectra
    from .spectra import LEAKAGE_OPS, default_crop_sizes, load_images, spectral_leakage

    if args.show <= 0:
        raise UserError(f"--show must be positive, got {args.show}")
    ops = [o for o in args.ops.replace(",", " ").split()]
    unknown = [o for o in ops if o not in LEAKAGE_OPS]
    if unknown or not ops:
        raise UserError(f"unknown operator {', '.join(unknown) or '(none)'} in --ops; choose from {','.join(LEAKAGE_OPS)}")
    out = prepare_output_folder(args.out, "--out")
    if args.images:
        images = load_images(args.images, args.size or 224)
        source = f"{len(args.images)} image file(s)"
    else:
        evalset = _eval_set(args, {}, None, normalise=False)
        images = torch.cat([x for x, _ in evalset.batches(256)])
        source = f"{len(images)} {evalset.source} validation images"
    size = int(images.shape[-1])
    radii = parse_radii(args.radii) if args.radii is not None else [float(max(1, round(size * f))) for f in (1 / 16, 1 / 8, 1 / 4)]
    sizes = _int_list(args.sizes, "--sizes") if args.sizes is not None else default_crop_sizes(size)
    for b in sizes:
        if not 1 <= b < size:
            raise UserError(f"crop size {b} must be between 1 and {size - 1} for {size} px images; pick smaller --sizes")
    result = spectral_leakage(images, sizes, ops)
    print(f"Proposition 1 on {source} at {size} px: share of the output's energy (without the mean) that comes from outside the BxB window")
    print(result.table("leak"))
    print("\nfraction of the out-of-window energy (per pixel) that gets through")
    print(result.table("transmission"))
    _wrote([
        plot_spectra(images[: args.show], radii, sizes, out / "spectra.png"),
        result.to_csv(out / "leakage.csv"),
        result.to_json(out / "leakage.json"),
        plot_leakage(result, images, out / "leakage.png"),
    ])  # fmt: skip
    return 0
