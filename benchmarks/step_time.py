"""Wall time per unit of training compute for each schedule, from interleaved rounds on one machine.

A run's compute (``summary.json``'s ``compute``) does not depend on the machine; its wall time
does, by about 12% between identical runs here. This benchmark measures, per stage size, the time
of a real training step fed by the real loader (the probe's ``together`` figure,
:func:`efficienttrain.runner.probe.probe`: the run's own config, crop and RandAugment included) for
each schedule, going round the schedules in alternating order (A, B, B, A, ...) so that a slow
spell of the machine falls on all alike. From the medians it gives each schedule's seconds per
FLOP, ``sum_s e_s t_s / sum_s e_s f_s`` (``e_s`` the epochs at size ``s``, ``t_s`` seconds per
image, ``f_s`` FLOPs per image), and the ratio ``rho`` of the control's to each schedule's. A wall-time
speedup is then the compute speedup times ``rho``; it also predicts each schedule's wall time for
one pass of its curriculum, to set beside runs that ran alone.

Usage (on a quiet machine; about 15 minutes with the defaults)::

    python -m benchmarks.step_time --data ../shared/data/imagenette-dev --schedules const-m3-8ep et-8ep
    python -m benchmarks.step_time --data ../shared/data/imagenette-dev --epochs 16 --schedules vit-small-ramp-16ep vit-small-et-16ep --name step_time_vit

Each result holds its own control, so a later measurement of one more schedule (with the control
again, ``--name step_time_NAME``) adds to the earlier ones without mixing machines' moods.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import experiments  # the run settings live there once

OUT = Path(__file__).resolve().parent / "results"


def schedule_configs(names: list[str], data: str, epochs: int = 8) -> dict[str, Any]:
    """The TrainConfig of each named run of benchmarks/experiments.py (any seed: they time alike).

    ``epochs`` is the length the group tables are made for (``--epochs`` of experiments.py), so
    that names such as ``vit-small-ramp-16ep`` are found.
    """
    from efficienttrain.runner.config import make_config

    table = experiments.groups(epochs, "const-m3")
    table["peers"] = experiments.peers(epochs, "const-m3", experiments.IMAGENETTE["final_size"], experiments.IMAGENETTE["model"])
    for m in experiments.TUNED_CANDIDATES:  # the tuned groups' schedules (et-m3-4ep, etpp-m3-b4, ...) at each candidate magnitude
        for key, runs in experiments.tuned_groups(epochs, m, experiments.IMAGENETTE["final_size"], experiments.IMAGENETTE["model"]).items():
            table[f"{key}-m{m}"] = runs
    known = {name.rsplit("-s", 1)[0]: values for runs in table.values() for name, values in runs}
    missing = [n for n in names if n not in known]
    if missing:
        raise SystemExit(f"unknown schedule(s) {missing}; known: {', '.join(sorted(known))}")
    return {n: make_config({**experiments.IMAGENETTE, "data": data, **known[n], "seed": 0, "preflight": False}, preset="cpu") for n in names}


def measure(configs: dict[str, Any], rounds: int, batches: int, warmup: int) -> dict[str, dict[int, list[float]]]:
    """Seconds per image at each size of each schedule, one probe per schedule per round."""
    from efficienttrain.runner.probe import probe

    times: dict[str, dict[int, list[float]]] = {n: {} for n in configs}
    order = list(configs)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            report = probe(configs[name], batches=batches, warmup=warmup, rounds=1, log=lambda _line: None)
            for p in report.sizes:
                times[name].setdefault(p.size, []).append(p.together_s)
            print(f"[{time.strftime('%H:%M:%S')}] round {r + 1}/{rounds} {name}: "
                  + ", ".join(f"B={p.size} {p.together_s * 1e3:.2f} ms/img" for p in report.sizes), flush=True)  # fmt: skip
    return times


def summarise(configs: dict[str, Any], times: dict[str, dict[int, list[float]]], control: str, train_images: int) -> dict[str, Any]:
    """Per schedule: median time and FLOPs per image at each size, seconds per FLOP, rho."""
    from efficienttrain.cost import training_flops
    from efficienttrain.runner.build import build_curriculum
    from efficienttrain.runner.objectives import make_objective

    out: dict[str, Any] = {}
    for name, cfg in configs.items():
        cur = build_curriculum(cfg)
        # The run's own model (its --model-kwargs included: a 6-block, 8-px-patch ViT is not timm's default)
        flops = training_flops(make_objective(cfg).build_model(10, cur.final_size).train(), cur.sizes)
        epochs = {s: sum(st.epochs for st in cur.stages if st.size == s) for s in cur.sizes}
        t = {s: statistics.median(v) for s, v in times[name].items()}
        seconds = sum(epochs[s] * t[s] for s in epochs)
        out[name] = {
            "sizes": {str(s): {"epochs": epochs[s], "ms_per_image": t[s] * 1e3, "ms_per_image_all": [x * 1e3 for x in times[name][s]], "flops_per_image": flops[s]} for s in epochs},
            "seconds_per_pflop": seconds / sum(epochs[s] * flops[s] for s in epochs) * 1e15,
            "predicted_train_minutes": seconds * train_images / 60,
        }  # fmt: skip
    for name in out:
        out[name]["rho"] = out[control]["seconds_per_pflop"] / out[name]["seconds_per_pflop"]
    return out


def final_size_check(result: dict[str, Any], control: str) -> dict[str, float]:
    """Each schedule's median time per image at the control's final size over the control's own.

    Every schedule ends at that size with the same model, so the step there is the same work: a
    ratio away from 1 is this measurement's noise (or an order effect of the probe), the yardstick for
    reading rho. Schedules without that size, or with other FLOPs there (another model), are left out.
    """
    ref_sizes = result[control]["sizes"]
    final = max(ref_sizes, key=int)
    ref = ref_sizes[final]
    out: dict[str, float] = {}
    for name, r in result.items():
        mine = r["sizes"].get(final)
        if mine is not None and mine["flops_per_image"] == ref["flops_per_image"]:
            out[name] = mine["ms_per_image"] / ref["ms_per_image"]
    return out


def markdown(result: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        f"# Wall time per unit of compute ({meta['rounds']} interleaved rounds, {meta['batches']} timed batches per size and round; "
        f"load {meta['load_start']} -> {meta['load_end']})",
        "",
        "| schedule | size | epochs at size | ms per image (median) | GFLOPs per image (fwd+bwd) |",
        "|---|---|---|---|---|",
    ]
    for name, r in result.items():
        for s, v in r["sizes"].items():
            lines.append(f"| {name} | {s} | {v['epochs']:.2f} | {v['ms_per_image']:.2f} | {v['flops_per_image'] / 1e9:.3f} |")
    lines += ["", "| schedule | seconds per PFLOP | rho (control's s/PFLOP over this one's) | predicted training minutes |", "|---|---|---|---|"]
    for name, r in result.items():
        lines.append(f"| {name} | {r['seconds_per_pflop']:.0f} | {r['rho']:.3f} | {r['predicted_train_minutes']:.1f} |")
    check = final_size_check(result, meta["control"])
    final = max(result[meta["control"]]["sizes"], key=int)
    others = {n: v for n, v in check.items() if n != meta["control"]}
    if others:
        lines += ["", f"Noise check: the step at B={final} is the same work in every schedule; its median time over the control's: "
                  + ", ".join(f"{n} {v:.3f}" for n, v in others.items())
                  + ". A ratio away from 1 is how far this measurement alone can move rho."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the dataset the schedules train on (needed unless --render)")
    parser.add_argument("--schedules", nargs="+", default=["const-m3-8ep", "et-8ep"], help="run names of benchmarks/experiments.py without the seed; the first is the control")
    parser.add_argument("--epochs", type=int, default=8, help="the length of the named runs (experiments.py's --epochs), e.g. 16 for vit-small-ramp-16ep")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=8474, help="training images, for the predicted wall time (Imagenette-dev: 8474)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--name", default="step_time", help="file stem of the result (NAME.json, NAME.md); benchmarks/report.py reads every step_time*.json")
    parser.add_argument("--render", action="store_true", help="only rewrite NAME.md from an existing NAME.json (no measurement)")
    parser.add_argument("--recount", action="store_true", help="recount the FLOPs of an existing NAME.json with today's counter, keeping its timings (give --data and its --epochs)")
    args = parser.parse_args()
    out = Path(args.out)
    if args.recount:
        recount_json(args, out / f"{args.name}.json")
    elif not args.render:
        measure_to_json(args, out / f"{args.name}.json")
    saved = json.loads((out / f"{args.name}.json").read_text())
    text = markdown(saved["schedules"], saved["meta"])
    (out / f"{args.name}.md").write_text(text)
    print(text)
    return 0


def measure_to_json(args: argparse.Namespace, path: Path) -> None:
    """Take the interleaved rounds that ``args`` describe and write the result with its provenance to ``path``."""
    if not args.data:
        raise SystemExit("--data is required to measure (or give --render to rewrite NAME.md from NAME.json)")
    from efficienttrain.provenance import git_state, machine_info, software_versions

    configs = schedule_configs(args.schedules, args.data, args.epochs)
    load_start = round(os.getloadavg()[0], 2)
    times = measure(configs, args.rounds, args.batches, args.warmup)
    commit, dirty = git_state()
    meta = {"rounds": args.rounds, "batches": args.batches, "warmup": args.warmup, "load_start": load_start, "load_end": round(os.getloadavg()[0], 2),
            "git_commit": commit, "git_dirty": dirty, "versions": software_versions(), "machine": machine_info(), "control": args.schedules[0]}  # fmt: skip
    result = summarise(configs, times, args.schedules[0], args.train_images)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "schedules": result}, indent=2))


def recount_json(args: argparse.Namespace, path: Path) -> None:
    """Recount the FLOPs per image of a saved measurement (the timed rounds are kept as they were) and rewrite it.

    For results counted before attention was: their seconds per FLOP and rho change, their
    predicted minutes do not. ``meta["flops_recounted"]`` records who recounted, and when.
    """
    if not args.data:
        raise SystemExit("--data is required to recount (the schedules' configs are rebuilt with it)")
    from efficienttrain.provenance import git_state, software_versions

    saved = json.loads(path.read_text())
    old = saved["schedules"]
    configs = schedule_configs(list(old), args.data, args.epochs)
    times = {n: {int(s): [x / 1e3 for x in v["ms_per_image_all"]] for s, v in r["sizes"].items()} for n, r in old.items()}
    new = summarise(configs, times, saved["meta"]["control"], args.train_images)
    for name, r in new.items():
        if {s: v["epochs"] for s, v in r["sizes"].items()} != {s: v["epochs"] for s, v in old[name]["sizes"].items()}:
            raise SystemExit(f"{name}: its stages differ from the saved measurement's; give the --epochs it was measured with")
    commit, dirty = git_state()
    saved["meta"]["flops_recounted"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git_commit": commit, "git_dirty": dirty, "versions": software_versions()}
    path.write_text(json.dumps({"meta": saved["meta"], "schedules": new}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
