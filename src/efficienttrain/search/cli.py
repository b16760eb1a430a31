"""``efficienttrain search``: Algorithm 1 (or its budgeted variant) from the command line."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``search`` command to the ``efficienttrain`` parser."""
    p = sub.add_parser(
        "search",
        help="find a schedule for your model and data (Algorithm 1)",
        description="Greedy search for the per-stage input sizes (paper Algorithm 1): each trial trains a proxy model with "
        "the recipe runner; finished trials are cached in a JSON log, so an interrupted search resumes.",
    )
    p.add_argument("--stages", type=int, default=5, help="number of equal stages N (default 5)")
    p.add_argument("--epochs", type=float, default=None, help="epochs T of every trial (required unless --budget)")
    p.add_argument("--final-size", type=int, required=True, help="final input size")
    p.add_argument("--candidates", type=int, nargs="+", default=None, help="candidate sizes (default: 3/7, 4/7, 5/7, 6/7 of the final size)")
    p.add_argument("--multiple-of", type=int, default=1, help="round the default candidates to a multiple of this")
    p.add_argument("--baseline-acc", type=float, default=None, help="a0 in percent; measured with a fixed-size run when omitted")
    p.add_argument("--tolerance", type=float, default=0.0, help="allowed drop below a0, in accuracy points")
    p.add_argument("--budget", type=float, default=None, help="budgeted variant: total cost in final-size epochs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds averaged per trial")
    p.add_argument("--output", default="runs/search", help="directory for trial runs, the log and the result")
    p.add_argument("--log", default=None, help="trial cache (default OUTPUT/search_log.json)")
    p.add_argument("--save", default=None, help="where to write the schedule found (default OUTPUT/searched_curriculum.yaml)")
    p.add_argument("--config", default=None, help="YAML of training settings for the proxy runs (TrainConfig keys)")
    p.add_argument("--preset", default="cpu", help="runner preset for the proxy runs (default cpu)")
    p.add_argument("--model", default=None, help="proxy model (timm name)")
    p.add_argument("--data", default=None, help="dataset: demo, cifar10, or an ImageFolder directory")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="any other training setting, repeatable")
    p.set_defaults(func=_cmd_search)


def _train_values(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        values.update({str(k).replace("-", "_"): v for k, v in (yaml.safe_load(path.read_text()) or {}).items()})
    for item in args.overrides:
        if "=" not in item:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        values[key.strip().replace("-", "_")] = yaml.safe_load(raw)
    if args.model:
        values["model"] = args.model
    if args.data:
        values["data"] = args.data
    for key in ("curriculum", "epochs", "output", "resume"):
        if key in values:
            raise UserError(f"--set/--config may not set {key!r}: the search chooses it")
    return values


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse a number the search cannot mean, before any trial (the training settings are checked by the runner)."""
    checks = [("--epochs", args.epochs, 0.0, 100_000.0, False), ("--budget", args.budget, 0.0, 100_000.0, False),
              ("--tolerance", args.tolerance, 0.0, 100.0, True), ("--baseline-acc", args.baseline_acc, 0.0, 100.0, True),
              ("--multiple-of", args.multiple_of, 1, 1024, True)]  # fmt: skip
    for flag, value, low, high, low_ok in checks:
        if value is not None and not (math.isfinite(value) and (value >= low if low_ok else value > low) and value <= high):
            raise UserError(f"{flag} must be a number {'at least' if low_ok else 'above'} {low:g} and at most {high:g}, got {value}")
    if any(seed < 0 for seed in args.seeds):
        raise UserError(f"--seeds must be 0 or more, got {args.seeds}")


def _cmd_search(args: argparse.Namespace) -> int:
    from ..curricula import round_size
    from ..outputs import prepare_output_file
    from ..runner.config import make_config
    from .algorithm import SearchLog, budgeted_search, greedy_search
    from .evaluator import RunnerEvaluator

    if args.budget is None and args.epochs is None:
        raise UserError("give --epochs T for every trial (or --budget for the budgeted variant)")
    _check_numbers(args)
    out = Path(args.output)
    # Before the first trial: a search runs for hours and writes these only as it goes and at its end.
    log_path = prepare_output_file(args.log or out / "search_log.json", "--log" if args.log else "--output", "search_log.json")
    save = prepare_output_file(args.save or out / "searched_curriculum.yaml", "--save" if args.save else "--output", "searched_curriculum.yaml")
    values = _train_values(args)
    make_config({**values, "final_size": args.final_size}, preset=args.preset)  # validate before any trial runs
    g = args.final_size
    cands = args.candidates or sorted({round_size(g * k / 7, args.multiple_of, g) for k in (3, 4, 5, 6)})
    fingerprint = {
        "stages": args.stages,
        "epochs": args.epochs,
        "budget": args.budget,
        "final_size": g,
        "seeds": args.seeds,
        "preset": args.preset,
        "train": {k: values[k] for k in sorted(values)},
    }
    try:
        log = SearchLog.open(log_path, fingerprint)
    except ValueError as err:
        raise UserError(str(err)) from None
    evaluator = RunnerEvaluator(values, out, epochs=args.epochs or 0, final_size=g, budget=args.budget, seeds=args.seeds, preset=args.preset)
    print(f"searching {args.stages} stages, final size {g}, candidates {cands}" + (f", budget {args.budget:g} epochs" if args.budget else f", {args.epochs:g} epochs per trial"))
    if args.budget is not None:
        result = budgeted_search(evaluator, n_stages=args.stages, candidates=cands, final_size=g, budget=args.budget, log=log)
    else:
        result = greedy_search(
            evaluator,
            n_stages=args.stages,
            candidates=cands,
            final_size=g,
            epochs=args.epochs,
            baseline_accuracy=args.baseline_acc,
            tolerance=args.tolerance,
            log=log,
        )
    print("\n" + result.table())
    print(f"\n{len(result.trials)} trials ({result.cached} from the cache); schedule found: {result.sizes}\n")
    print(result.curriculum.table())
    result.curriculum.save(save)
    print(f"\nwrote {save}; train with: efficienttrain train --curriculum {save}")
    return 0
