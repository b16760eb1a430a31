"""The ``efficienttrain`` command line.

Commands:

* ``schedule``: print a curriculum's stage table and theoretical speedup, optionally as JSON or a plot;
* ``train``: the recipe runner (every :class:`~efficienttrain.runner.TrainConfig` field is a flag);
* ``probe``: measure model step and data loader at each curriculum size, and predict the speedup;
* ``demo``: baseline against EfficientTrain on the built-in demo data, with a comparison table and plot;
* ``plot``: accuracy against wall time for run directories;
* ``make-demo-data``: write the demo dataset as an ImageFolder;
* ``search`` and ``analyze``: the research tools.

Errors a user can fix print one line and exit with status 2; a distributed run that loses one of
its processes prints one line and exits with status 1. Set ``EFFICIENTTRAIN_DEBUG=1`` for the
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from typing import Any, NoReturn, Optional, Sequence

from .errors import UserError, did_you_mean

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2
EXIT_FAILURE = 1


# -- schedule ---------------------------------------------------------------------------------
def _add_schedule(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="show a curriculum's stages, cost and speedup", description="Show a curriculum's stage table and its theoretical speedup.")
    p.add_argument("--epochs", type=float, default=None, help="training epochs (efficienttrain++: the budget); default 300, or the file's own")
    p.add_argument("--final-size", type=int, default=None, help="final input size; default 224, or the file's own")
    from .curricula import list_curricula

    p.add_argument("--kind", default="efficienttrain", help=f"{', '.join(list_curricula())} (no curriculum), or a YAML/JSON file")
    p.add_argument("--multiple-of", type=int, default=1, help="round sizes to a multiple of this (32 for Swin, 16 for ViT)")
    p.add_argument("--family", default=None, help="efficienttrain++ family: resnet, swin, cswin, deit, convnext")
    p.add_argument("--model", default=None, help="timm model: picks the efficienttrain++ family and is used by --cost tokens/measured")
    p.add_argument("--cost", choices=("pixel", "tokens", "measured"), default="pixel", help="cost model (default: pixel)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size for --cost measured")
    p.add_argument("--device", default=None, help="device for --cost measured (default: cuda if available)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--plot", metavar="FILE.png", default=None, help="write size/magnitude and cumulative cost against epoch")
    p.add_argument("--save", metavar="FILE.yaml", default=None, help="write the curriculum to a YAML/JSON file")
    p.set_defaults(func=_cmd_schedule)


def _cmd_schedule(args: argparse.Namespace) -> int:
    from .curricula import create_curriculum
    from .curricula.cost import curriculum_cost, pixel_cost
    from .outputs import prepare_output_file

    plot = prepare_output_file(args.plot, "--plot", "schedule.png") if args.plot else None
    save = prepare_output_file(args.save, "--save", "curriculum.yaml") if args.save else None
    try:
        cur = create_curriculum(args.kind, args.epochs, args.final_size, multiple_of=args.multiple_of, family=args.family, model=args.model)
    except FileNotFoundError as err:
        raise UserError(str(err)) from None
    if args.cost == "pixel":
        cost_fn = pixel_cost  # the common case answers without PyTorch
    else:
        from .cost import get_cost_function

        cost_fn = get_cost_function(args.cost, model=args.model, sizes=cur.sizes, batch_size=args.batch_size, device=args.device, progress=not args.json)
    report = curriculum_cost(cur, cost_fn, kind=args.cost)
    if args.json:
        print(json.dumps({"curriculum": cur.to_dict(), "cost": report.to_dict()}, indent=2))
    else:
        print(cur.table(cost=cost_fn))
        extra = f" for {args.model}" if args.model and args.cost != "pixel" else ""
        print(f"relative cost {report.relative_cost:.3f} of training at {cur.final_size} throughout -> theoretical speedup {report.speedup:.2f}x ({args.cost} model{extra})")
        if cur.budget is not None:
            print(f"cost: {report.final_size_epochs:.1f} epochs at the final size (budget {cur.budget:g}), spread over {cur.epochs:.1f} epochs")
    if plot:
        from .plots import plot_curriculum

        path = plot_curriculum(cur, plot, cost_fn)
        if not args.json:
            print(f"wrote {path}")
    if save:
        cur.save(save)
        if not args.json:
            print(f"wrote {save}")
    return 0


# -- train / probe ----------------------------------------------------------------------------
def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (and --config FILE), as ``train`` and ``probe`` take them."""
    from .runner.config import HELP, SECTIONS, field_type, flag_name

    p.add_argument("--config", metavar="FILE.yaml", default=None, help="YAML file of settings; flags override it")
    for section, names in SECTIONS.items():
        group = p.add_argument_group(section)
        for name in names:
            flag = flag_name(name)
            kind = field_type(name)
            kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": HELP[name]}
            if kind.base is bool:
                group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            elif kind.base is tuple:
                group.add_argument(flag, type=kind.items[0], nargs=len(kind.items), **kwargs)
            elif kind.base is dict:
                group.add_argument(flag, nargs="+", metavar="KEY=VALUE", **kwargs)
            elif kind.base is not None:
                group.add_argument(flag, type=kind.base, **kwargs)


def _config_from_args(args: argparse.Namespace, own: tuple[str, ...] = ()) -> Any:
    from .runner.config import load_config, make_config

    values = {k: v for k, v in vars(args).items() if k not in ("func", "config", "command", *own)}
    cfg = load_config(args.config, values) if args.config else make_config(values)
    if cfg.crop_in_workers or cfg.augment_at_size:
        print(f"efficienttrain: note: --crop-in-workers/--augment-at-size are deprecated; pass --shrink-at {cfg.resolved_shrink_at()}", file=sys.stderr)
    _note_ignored(cfg, values)
    return cfg


def _note_ignored(cfg: Any, given: dict[str, Any]) -> None:
    """Say which given flags the chosen objective never reads (MAE ignores the classification recipe)."""
    from .runner.config import flag_name
    from .runner.objectives import OBJECTIVES

    ignored = [name for name in OBJECTIVES[cfg.objective].ignored_options if name in given]
    if ignored:
        flags = ", ".join(flag_name(name) for name in ignored)
        print(f"efficienttrain: note: --objective {cfg.objective} ignores {flags}", file=sys.stderr)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a timm model with a curriculum",
        description="Train any timm model through a curriculum in one process (also under torchrun). "
        "Defaults follow the paper's recipe; --preset cpu suits a small CPU machine.",
    )
    _add_config_flags(p)
    p.add_argument("--plan", default=None, metavar="FILE", help="train the schedule of a plan file written by efficienttrain plan (its curriculum, as written; pass it again with --resume)")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from .runner.loop import Trainer

    cfg = _config_from_args(args, own=("plan",))
    curriculum = None
    if args.plan:
        from .runner.plan import check_plan_fits, load_plan

        curriculum, plan = load_plan(args.plan)
        for note in check_plan_fits(cfg, curriculum, plan, set(vars(args))):
            print(f"efficienttrain: {note}", file=sys.stderr)
    trainer = Trainer(cfg) if curriculum is None else Trainer(cfg, curriculum=curriculum)
    result = trainer.run()
    if not result.completed:
        # As a shell reports a command ended by a signal: 130 after ctrl-C, 143 after SIGTERM.
        return 128 + int(trainer.stop_signal or signal.SIGTERM)
    return 0


def _add_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="predict a run's wall time stage by stage, or pick the schedule that fits a time budget",
        description="Time real training steps fed by the real loader at each stage size on this machine (as the probe does), "
        "then predict the training time of the baseline, EfficientTrain and EfficientTrain++ stage by stage, name the "
        "limit at each size, and write a plan file that `train --plan FILE` runs. Takes the same settings as `train`; "
        "writes nothing else.",
    )
    _add_config_flags(p)
    p.add_argument("--budget", default=None, help="pick the schedule with the most compute that fits this much training time (90m, 6h, 1.5d)")
    p.add_argument("--out", default="plan.yaml", help="the plan file (default plan.yaml)")
    p.add_argument("--batches", type=int, default=3, help="timed batches per size (default 3)")
    p.set_defaults(func=_cmd_plan)


def _cmd_plan(args: argparse.Namespace) -> int:
    from .outputs import prepare_output_file
    from .runner.plan import make_plan, parse_duration

    budget = parse_duration(args.budget) if args.budget else None
    if args.batches < 1:
        raise UserError("--batches must be at least 1")
    cfg = _config_from_args(args, own=("budget", "out", "batches"))
    prepare_output_file(args.out, "--out", "plan.yaml")  # before minutes of measuring, not after
    plan = make_plan(cfg, epochs=None if budget else cfg.epochs, budget_s=budget, batches=args.batches)
    print(plan.table())
    plan.write(args.out)
    print(f"wrote {args.out}: train it with efficienttrain train --plan {args.out} (and the same settings)")
    return 0


def _add_probe(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe",
        help="predict the speedup before training: is the model or the loader the limit?",
        description="For each size of the curriculum, time the bare training step, the data pipeline with the configured "
        "workers, and the two together; print each stage's bottleneck, the worker count that would remove a loader "
        "bottleneck, and the predicted speedup. Takes the same settings as `train`; writes nothing.",
    )
    _add_config_flags(p)
    p.add_argument("--batches", type=int, default=3, help="timed batches per size, over all rounds (default 3: a first look; 30 for figures to quote)")
    p.add_argument("--warmup", type=int, default=1, help="untimed batches before each size's first measurement (default 1)")
    p.add_argument("--rounds", type=int, default=3, help="rounds over the sizes: a slow spell hits all alike, and their spread is reported (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_probe)


def _cmd_probe(args: argparse.Namespace) -> int:
    from .runner.probe import probe

    if args.batches < 1 or args.warmup < 0 or args.rounds < 1:
        raise UserError("--batches and --rounds must be at least 1 and --warmup at least 0")
    cfg = _config_from_args(args, own=("batches", "warmup", "rounds", "json"))
    report = probe(cfg, batches=args.batches, warmup=args.warmup, rounds=args.rounds, log=(lambda _m: None) if args.json else print)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0


# -- demo -------------------------------------------------------------------------------------
def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="EfficientTrain against its fair control on the built-in demo data (about 2 minutes on 2 cores)",
        description="Train the same model twice on the built-in demo dataset: the ramp baseline (full-size images, the same "
        "RandAugment ramp) and EfficientTrain; print the measured training-time speedup and top-1, and write an "
        "accuracy-against-time plot.",
    )
    p.add_argument("--model", default="resnet10t", help="timm model (default: resnet10t)")
    p.add_argument("--epochs", type=float, default=8, help="epochs per run (default: 8)")
    p.add_argument("--image-size", type=int, default=112, help="demo image size (default: 112)")
    p.add_argument("--per-class", type=int, default=24, help="training images per class (default: 24)")
    p.add_argument("--val-per-class", type=int, default=10, help="validation images per class (default: 10)")
    p.add_argument("--output", default=None, help="output directory (default: runs/demo-<time>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bars")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(
        model=args.model,
        epochs=args.epochs,
        image_size=args.image_size,
        per_class=args.per_class,
        val_per_class=args.val_per_class,
        output=args.output,
        seed=args.seed,
        progress=args.progress,
    )
    return 0


# -- plot / make-demo-data --------------------------------------------------------------------
def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="accuracy against wall time for run directories", description="Plot validation top-1 against training wall time (paper Fig. 7).")
    p.add_argument("runs", nargs="+", help="run directories (with metrics.jsonl)")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--labels", nargs="*", default=None, help="legend labels, one per run")
    p.add_argument("--title", default=None)
    p.set_defaults(func=_cmd_plot)


def _cmd_plot(args: argparse.Namespace) -> int:
    from .outputs import prepare_output_file
    from .plots import plot_runs

    if args.labels and len(args.labels) != len(args.runs):
        raise UserError(f"--labels has {len(args.labels)} entries for {len(args.runs)} runs; give one per run")
    prepare_output_file(args.out, "--out", "runs.png")
    try:
        path = plot_runs(args.runs, args.out, labels=args.labels, title=args.title)
    except FileNotFoundError as err:
        raise UserError(str(err)) from None
    print(f"wrote {path}")
    return 0


def _add_shards(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shards",
        help="write an image folder as WebDataset shards (tar files with an index)",
        description="Write SRC/train/<class>/<image> and the validation split as WebDataset shards under OUT/train/ and OUT/val/: "
        "tar files of <key>.jpg, <key>.cls and <key>.json, and an index.json with the class names and each shard's sample count. "
        "A stopped run resumes; unreadable images are named in the index and left out.",
    )
    p.add_argument("source", metavar="SRC", help="image folder with train/ and val/ (as --data takes it)")
    p.add_argument("out", metavar="OUT", help="output folder (OUT/train, OUT/val)")
    p.add_argument("--shard-size", type=int, default=1000, help="samples per shard (default 1000)")
    p.add_argument("--max-side", type=int, default=None, help="shrink images whose longer side exceeds this, stored as JPEG (default: keep the sizes)")
    p.add_argument("--short-side", type=int, default=None, help="shrink images whose shorter side exceeds this, stored as JPEG (as --preload-max-size does while preloading)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of re-encoded images (default 90)")
    p.add_argument("--val-split", default="val", help="name of the validation folder in SRC")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffle that spreads each split's images across its shards (default 0)")
    p.add_argument("--max-image-pixels", type=int, default=None, help="images above this many pixels count as unreadable (default 64 MP)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: on a terminal)")
    p.set_defaults(func=_cmd_shards)


def _cmd_shards(args: argparse.Namespace) -> int:
    from .data.shards import write_shards
    from .limits import MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_BOUND
    from .outputs import prepare_output_folder

    if args.max_image_pixels is not None and not 1 <= args.max_image_pixels <= MAX_IMAGE_PIXELS_BOUND:
        raise UserError(f"--max-image-pixels must be at least 1 and at most {MAX_IMAGE_PIXELS_BOUND:g}, got {args.max_image_pixels}")
    prepare_output_folder(args.out, "OUT")
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    write_shards(
        args.source, args.out, shard_size=args.shard_size, max_side=args.max_side, short_side=args.short_side, quality=args.quality, val_split=args.val_split,
        seed=args.seed, max_pixels=args.max_image_pixels or MAX_IMAGE_PIXELS, progress=progress,
    )  # fmt: skip
    return 0


def _add_make_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-demo-data", help="write the demo dataset as an ImageFolder", description="Write the built-in demo dataset to DIR/train/<class> and DIR/val/<class>.")
    p.add_argument("dir")
    p.add_argument("--per-class", type=int, default=150)
    p.add_argument("--val-per-class", type=int, default=50)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_make_demo)


def _cmd_make_demo(args: argparse.Namespace) -> int:
    from .data.demo import write_demo_dataset

    for flag, value, low, high in (("--per-class", args.per_class, 1, 100_000), ("--val-per-class", args.val_per_class, 1, 100_000), ("--image-size", args.image_size, 8, 1024)):
        if not low <= value <= high:
            raise UserError(f"{flag} must be at least {low} and at most {high}, got {value}")
    root = write_demo_dataset(args.dir, per_class=args.per_class, val_per_class=args.val_per_class, image_size=args.image_size, seed=args.seed)
    print(f"wrote the demo dataset to {root}")
    return 0


# -- entry point ------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for misspelt flags (Python 3.12's suggest_on_error covers only choices)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subcommands: dict[str, argparse.ArgumentParser] = {}

    def flags(self) -> list[str]:
        """Every flag of this parser and of its subcommands, read from their help (argparse's lists are private)."""
        found = set()
        for parser in (self, *self.subcommands.values()):
            found.update(re.findall(r"(?<![\w-])--[a-z][\w-]*", parser.format_help()))
        return sorted(found)

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        if message.startswith("unrecognized arguments:"):
            flags = self.flags()
            hints = [did_you_mean(word.split("=")[0], flags) for word in message.split(":", 1)[1].split() if word.startswith("--")]
            message += "".join(h for h in hints if h)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``efficienttrain`` command."""
    from . import __version__

    parser = _Parser(prog="efficienttrain", description="Train vision backbones faster with the EfficientTrain curriculum.")
    parser.add_argument("--version", action="version", version=f"efficienttrain {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_schedule(sub)
    _add_train(sub)
    _add_probe(sub)
    _add_plan(sub)
    _add_demo(sub)
    _add_plot(sub)
    _add_make_demo(sub)
    _add_shards(sub)
    for extra in ("search", "analyze"):
        try:
            module = __import__(f"efficienttrain.{'search' if extra == 'search' else 'analysis'}.cli", fromlist=["add_parser"])
        except ModuleNotFoundError:
            continue
        module.add_parser(sub)
    parser.subcommands = dict(sub.choices)
    return parser


def _user_message(err: BaseException) -> str:
    text = str(err)
    if "Original Traceback" in text:
        # An error re-raised from a data-loader worker: keep the original message only.
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text.splitlines()[0] if text else type(err).__name__


# What gloo and NCCL say when a peer's connections close or reset, or a collective times out
# (EFFICIENTTRAIN_DIST_TIMEOUT_S). Gloo's errors reach Python as a plain RuntimeError (from DDP's
# gradient all-reduce, for instance); DistBackendError is also raised for problems that are not a
# lost peer. Not a bare "timed out": a data loader's timeout, for one, is not about the peers.
_LOST_PEER_TEXT = re.compile(
    r"(closed|reset) by peer|broken pipe|connection refused|timed out waiting \d+ ?ms|collective operation timeout"
    r"|remote process exited|communicator was aborted|network error",
    re.IGNORECASE,
)


def _lost_peer_message(err: BaseException) -> Optional[str]:
    """The one-line message for an error that means another process of a distributed run is gone.

    Args:
        err: An error that ended a command.

    Returns:
        The message, or ``None`` when ``err`` is not such an error.
    """
    if "torch.distributed" not in sys.modules:  # nothing distributed can have run
        return None
    import torch.distributed as dist

    text = str(err)
    if isinstance(err, (dist.DistNetworkError, dist.DistStoreError)):
        lost = True  # the rendezvous store or a peer's socket is unreachable
    else:
        lost = dist.is_available() and dist.is_initialized() and bool(_LOST_PEER_TEXT.search(text))
    if not lost:
        return None
    # gloo prefixes its source location ("[.../pair.cc:545] ") and appends advice that does not
    # apply here; keep the first sentence of the first line.
    detail = re.sub(r"^\[[^\]]*\]\s*", "", text.strip().splitlines()[0] if text.strip() else type(err).__name__)
    detail = detail.split(". ", 1)[0][:200]
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    where = f"rank {rank} of {world}: " if rank is not None and world is not None else ""
    return (
        f"lost contact with another process of the distributed run ({where}{detail}); "
        "the last checkpoint is kept: continue with --resume"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError, NotADirectoryError) as err:
        if os.environ.get("EFFICIENTTRAIN_DEBUG"):
            raise
        print(f"efficienttrain: error: {_user_message(err)}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:
        # Library-level validation (curriculum specs, sizes) also reaches users through flags.
        if os.environ.get("EFFICIENTTRAIN_DEBUG"):
            raise
        print(f"efficienttrain: error: {_user_message(err)}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as err:
        # A process of a distributed run died (or its machine vanished): not the user's input,
        # and the traceback of the survivor says nothing useful, but the checkpoint is intact.
        message = _lost_peer_message(err)
        if message is None or os.environ.get("EFFICIENTTRAIN_DEBUG"):
            raise
        print(f"efficienttrain: error: {message}", file=sys.stderr, flush=True)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("efficienttrain: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of the output went away (`efficienttrain schedule | head`): stop quietly, as a
        # command killed by SIGPIPE would, instead of a traceback; stdout must not be flushed again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13


def _entry() -> None:  # console script
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    _entry()

