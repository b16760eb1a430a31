"""Run the evidence experiments of docs/results.md through the public runner.

Every run goes through :class:`efficienttrain.runner.Trainer` with the CPU preset; only the
settings named below differ between runs. Runs are sequential (their wall times are compared),
each logs as it goes to ``<out>/<run>/``, and a run whose ``summary.json`` says it completed is
skipped, so the script can be stopped and started again (an interrupted run resumes).

Usage::

    python -m benchmarks.experiments --data ../shared/data/imagenette-dev --group controls
    python -m benchmarks.experiments --data ../shared/data/imagenette-dev --group frontier --baseline auto
    python -m benchmarks.experiments --data ../shared/data/imagenette-dev --group vit
    python -m benchmarks.experiments --data path/to/cifar10-jpg --group cifar

Groups (``E`` is ``--epochs``, 8 by default):

* ``controls``: the baselines EfficientTrain is credited against, at ``E`` epochs. ``ramp``: no
  crop, with EfficientTrain's RandAugment ramp (the control for the crop); ``const-mK``: no crop,
  constant RandAugment magnitude K in {3, 6, 9} (9 is the paper's baseline).
* ``frontier``: top-1 against training time. The best baseline (``--baseline``; ``auto`` picks the
  control with the highest mean top-1) at ``E/2``, ``E`` and ``1.5 E`` epochs and EfficientTrain at
  ``0.75 E``, ``E`` and ``1.5 E``; 3 seeds each.
* ``etpp``: EfficientTrain++'s budgeted schedule at budgets of ``E / 2`` and ``E / 3`` epochs
  (about 1/2 and 1/3 of the control's ``E``-epoch compute), 3 seeds each.
* ``peers`` (paper Table 9, and Composer), 3 seeds each at the compute of EfficientTrain's
  ``E``-epoch run: progressive learning (EfficientTrain's sizes and magnitude ramp, images
  down-sampled instead of cropped in frequency) and Composer's progressive resizing with its
  defaults, its ``resize`` mode (nearest interpolation) and the best control's constant magnitude
  (``--baseline``), its length solved so that its FLOPs equal EfficientTrain's.
* ``et-magnitude``: EfficientTrain with its RandAugment ramp ending at m = 3 and at m = 6 (the ramp
  ends at the magnitude of ``--randaugment``), at ``E`` epochs, 3 seeds each; with the paper's m = 9
  (the ``frontier`` group's ``et-E`` runs) this tunes EfficientTrain's final magnitude over {3, 6, 9}
  by the rule that chose the control's (the highest mean top-1 of three seeds).
* ``et-tuned``: EfficientTrain at the tuned final magnitude (``--magnitude``; ``auto`` picks it
  from the finished ``et-magnitude`` runs) at ``E/2``, ``0.75 E`` and ``1.5 E`` epochs, 3 seeds: its
  own frontier beside the ``E``-epoch runs of ``et-magnitude``.
* ``peers-tuned`` / ``etpp-tuned``: progressive learning, Composer's progressive resizing and
  EfficientTrain++ (both budgets) with the tuned final magnitude, 3 seeds each, so that crop against
  resize is compared with everything else equal. A Composer run at the control's own magnitude keeps
  the ``peers`` group's name (it is the same run).
* ``m6`` / ``m9``: the constant magnitude 6, or 9 (the paper's baseline), at ``E`` epochs, 3
  seeds (seed 0 is the ``controls`` group's run), so that the best control is chosen on the mean
  of three seeds.
* ``vit-pilot``: the ramp control of a small-data ViT (deit_tiny's width, 6 blocks, 8-px patches,
  an average-pooled head: 196 tokens at 112 px) at learning rates 1.25e-4, 2.5e-4 and 5e-4 with
  a 1-epoch warm-up and gradient clipping at 1.0, ``E / 2`` epochs each. ``--data`` is a set made by
  ``benchmarks/make_subset.py --holdout``: the pilot trains on the rest of the training images and
  is scored on the held-out ones (``pilot-val/``), never on the validation set.
* ``vit-small``: that ViT with the pilot's learning rate (the runner's ``vit-small`` preset), the
  ramp baseline against EfficientTrain, 2 seeds.
* ``vit`` / ``convnext``: the ramp baseline against EfficientTrain for ``deit_tiny_patch16_224``
  (16-px patches, sizes rounded to multiples of 16; the CNN recipe) or ``convnext_atto``, 2 seeds.
* ``ablations``: down-sampling instead of the crop, a linear size ramp at equal cost, the crop with
  constant RandAugment, and EfficientTrain++ at a budget of ``E / 1.5`` epochs.
* ``cifar``: the ramp baseline and EfficientTrain on CIFAR-10 (``--data`` is the JPEG folder, with
  ``test/`` as the validation split), resnet10t at 64 px (upsampled from 32).
* ``loader``: EfficientTrain with augmentation at ``B`` (``--shrink-at before-augment``) and
  with replay 2, for their top-1 against the standard order.
* ``decode``: EfficientTrain with and without ``--reduced-decode`` on full-size JPEGs decoded at
  every step (``--data`` is the set ``benchmarks/make_loader_data.py`` writes).
* ``shards``: EfficientTrain at ``E`` epochs, seed 0, streamed from WebDataset shards with one
  loader worker (``--data`` is ``efficienttrain shards imagenette-dev OUT --short-side 128``: the
  images shrunk as the main setting's preload shrinks them, then stored as JPEG), against the
  ``frontier`` group's ``et-E`` runs from the preloaded folder.
* ``growth``: EfficientTrain at ``E`` epochs with ``--batch-growth 4`` (larger batches below the
  final size, lr scaled linearly), seeds 0 and 1, against the ``frontier`` group's ``et-E`` runs.
* ``growth-vit``: the ``vit-small`` preset's EfficientTrain at ``E`` epochs (16 in the evidence),
  without and with ``--batch-growth 4``, 2 seeds, in fp32.
* ``mae``: MAE pretraining of the small-data ViT at 112 px, without and with the curriculum, with
  MAE's recipe scaled to batch 64 (base lr 1.5e-4 at batch 256, 1 epoch of warm-up; labels unused,
  but for the k-NN monitor).
* ``mae-finetune``: one fine-tune recipe (MAE's, scaled: base lr 1e-3 at batch 256, layer decay
  0.75, half an epoch of warm-up) for ``E / 2`` epochs from each MAE encoder (in ``--sources``) and
  from scratch.
* ``transfer``: fine-tunes of the best control's and EfficientTrain's 12-epoch checkpoints (seeds 1
  and 2, in ``--sources``) and from scratch on a CIFAR-10 subset (``--data``, e.g. 500 images a
  class from ``benchmarks/make_subset.py``) at 64 px, 5 epochs, lr 5e-4 with half an epoch of
  warm-up; each fine-tune starts from its own seed's checkpoint and gets a new head (``--new-head``).

Then run ``benchmarks/report.py`` to write the tables and figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

from efficienttrain.runner.config import PRESETS

# The main setting: resnet10t at 112 px on the CPU preset (batch 64, AdamW, lr 2e-3), images
# decoded once and shrunk to a 128-px shorter side while loading (the eval transform resizes to
# 128 and centre-crops 112).
IMAGENETTE: dict[str, Any] = {
    "model": "resnet10t",
    "final_size": 112,
    "preload": True,
    "preload_max_size": 128,
    "lr": 2e-3,
    "progress": False,
    "safetensors": False,
}
# CIFAR-10 upsampled to 64 px: at 32 px a 2-core CPU saves little time per pixel (fixed per-layer
# costs dominate below about 64 px; see docs/results.md).
CIFAR: dict[str, Any] = {
    **IMAGENETTE,
    "final_size": 64,
    "preload_max_size": None,
    "val_split": "test",
}
# The baselines of the 'controls' group: no crop, and the RandAugment magnitude as named.
CONTROLS: dict[str, dict[str, Any]] = {
    "ramp": {"curriculum": "none", "magnitude": "linear"},
    "const-m3": {"curriculum": "none", "randaugment": "rand-m3-mstd0.5-inc1"},
    "const-m6": {"curriculum": "none", "randaugment": "rand-m6-mstd0.5-inc1"},
    "const-m9": {"curriculum": "none"},
}
EFFICIENTTRAIN: dict[str, Any] = {"curriculum": "efficienttrain"}
# A ViT for small data (the deit_tiny pair with 16-px patches did not train): the runner's
# ``vit-small`` preset (deit_tiny's width, 6 blocks, 8-px patches, an average-pooled head, so 196
# tokens at 112 px and 100 and 144 in EfficientTrain's stages at 80 and 96 px; AdamW, one epoch of
# warm-up, gradient clipping, bf16 autocast). The pilot varies its lr; the pair uses the pilot's pick,
# which the preset carries. Every ViT run (pilot, pair, MAE, fine-tunes) shares its model and its
# precision (bf16: 1.2x-2.1x less time per step in ABBA probes, benchmarks/results/vit_amp_probe.md).
VIT_SMALL: dict[str, Any] = {**{k: v for k, v in PRESETS["vit-small"].items() if k != "lr"}, "amp": "bf16"}
VIT_SMALL_MODEL: dict[str, Any] = {k: VIT_SMALL[k] for k in ("model", "model_kwargs", "multiple_of")}
# The ViT evidence was recorded in bf16 (on a CPU with AMX); the preset now says auto, so the runs
# pin it, and a resumed run keeps its precision.
VIT_PRECISION: dict[str, Any] = {"amp": "bf16"}
VIT_PILOT_LRS = (1.25e-4, 2.5e-4, 5e-4)
# MAE pretraining of the same ViT at 112 px with MAE's recipe scaled to batch 64: base lr 1.5e-4 at
# batch 256 (so 3.75e-5), AdamW betas (0.9, 0.95), one epoch of warm-up, no drop-path. The k-NN
# monitor's bank is 2,000 evenly spaced training images.
MAE: dict[str, Any] = {
    **VIT_SMALL_MODEL,
    **VIT_PRECISION,
    "objective": "mae",
    "lr": None,
    "base_lr": 1.5e-4,
    "base_batch_size": 256,
    "warmup_epochs": 1.0,
    "opt_betas": (0.9, 0.95),
    "drop_path": 0.0,
    "knn_bank": 2000,
    "safetensors": True,
}
# One fine-tune for every MAE encoder and for the from-scratch reference (paper Table 10), after
# MAE's fine-tune recipe scaled to batch 64: base lr 1e-3 at batch 256 (so 2.5e-4), layer decay
# 0.75, drop-path 0.1, a short warm-up (half an epoch), no curriculum.
FINETUNE: dict[str, Any] = {
    **VIT_SMALL_MODEL,
    **VIT_PRECISION,
    "curriculum": "none",
    "lr": None,
    "base_lr": 1e-3,
    "base_batch_size": 256,
    "layer_decay": 0.75,
    "drop_path": 0.1,
    "warmup_epochs": 0.5,
}
# Transfer (paper Table 11, small): resnet10t fine-tuned at 64 px on a CIFAR-10 subset, from the
# 12-epoch checkpoints of the best control and of EfficientTrain (seeds 1 and 2, each fine-tune from
# its own seed) and from scratch, with one fine-tune recipe: a quarter of the from-scratch lr and
# half an epoch of warm-up. The new label set gets a new head: --new-head, because the 12-epoch
# checkpoints predate recorded class names, and without it --init-from keeps a head that fits.
TRANSFER: dict[str, Any] = {
    "curriculum": "none", "final_size": 64, "preload_max_size": None, "val_split": "test", "epochs": 5, "lr": 5e-4, "warmup_epochs": 0.5, "new_head": True,
}
TRANSFER_SOURCES = ("const-m3-12ep", "et-12ep")
TRANSFER_SEEDS = (1, 2)

Run = tuple[str, dict[str, Any]]


def _epochs(value: float) -> str:
    return f"{value:g}ep"


def frontier(baseline: str, epochs: int) -> list[Run]:
    """The time-to-accuracy frontier: the baseline and EfficientTrain at three lengths each."""
    runs: list[Run] = []
    for kind, settings, lengths in (
        (baseline, CONTROLS[baseline], (epochs / 2, epochs, epochs * 1.5)),
        ("et", EFFICIENTTRAIN, (epochs * 0.75, epochs, epochs * 1.5)),
    ):
        for length in lengths:
            runs += [(f"{kind}-{_epochs(length)}-s{s}", {**settings, "epochs": length, "seed": s}) for s in (0, 1, 2)]
    return runs


def flops_epochs(cur: Any, flops: dict[int, float]) -> float:
    """A curriculum's training FLOPs per training image (stage epochs x FLOPs per image at its size)."""
    return sum(stage.epochs * flops[stage.size] for stage in cur.stages)


@functools.lru_cache(maxsize=None)  # it counts FLOPs with a forward and backward pass per size; the groups ask for it several times
def composer_epochs(epochs: int, final_size: int, model: str) -> float:
    """The length at which Composer's progressive resizing costs as many FLOPs as EfficientTrain at ``epochs``."""
    from efficienttrain.cost import training_flops
    from efficienttrain.curricula.factories import create_curriculum
    from efficienttrain.models import create_model

    et = create_curriculum("efficienttrain", epochs, final_size)
    per_epoch = create_curriculum("progressive-resizing", 1.0, final_size)
    flops = training_flops(create_model(model, 10).train(), sorted(set(et.sizes) | set(per_epoch.sizes)))
    return round(flops_epochs(et, flops) / flops_epochs(per_epoch, flops), 2)


def peers(epochs: int, baseline: str, final_size: int, model: str) -> list[Run]:
    """Progressive learning and Composer's progressive resizing at EfficientTrain's compute, 3 seeds."""
    constant = {k: v for k, v in CONTROLS[baseline].items() if k != "curriculum"}
    composer = {**constant, "curriculum": "progressive-resizing", "crop_op": "nearest", "magnitude": "constant"}
    length = composer_epochs(epochs, final_size, model)
    return [(f"peer-proglearn-{_epochs(epochs)}-s{s}", {**EFFICIENTTRAIN, "crop_op": "bilinear", "epochs": epochs, "seed": s}) for s in (0, 1, 2)] + [
        (f"peer-composer-{_epochs(length)}-s{s}", {**composer, "epochs": length, "seed": s}) for s in (0, 1, 2)
    ]


MAGNITUDES = (3, 6, 9)
TUNED_CANDIDATES = (3, 6)  # m = 9 is the paper's recipe: the frontier group's et-<E>ep runs


def randaugment_at(magnitude: int) -> dict[str, Any]:
    """The RandAugment config whose magnitude the curriculum ramps to (the controls' family of configs)."""
    return {"randaugment": f"rand-m{magnitude}-mstd0.5-inc1"}


def et_name(magnitude: int, length: float) -> str:
    """EfficientTrain's run name: the paper's m = 9 keeps the older, plain name."""
    return f"et-{_epochs(length)}" if magnitude == 9 else f"et-m{magnitude}-{_epochs(length)}"


def tuned_groups(epochs: int, magnitude: Optional[int], final_size: int, model: str) -> dict[str, list[Run]]:
    """The magnitude choice for EfficientTrain, then its frontier, peers and EfficientTrain++ at that magnitude."""
    seeds = (0, 1, 2)
    out: dict[str, list[Run]] = {
        "et-magnitude": [
            (f"{et_name(m, epochs)}-s{s}", {**EFFICIENTTRAIN, **randaugment_at(m), "epochs": epochs, "seed": s}) for m in TUNED_CANDIDATES for s in seeds
        ]
    }
    if magnitude is None:
        return out
    ra = randaugment_at(magnitude)
    out["et-tuned"] = [
        (f"{et_name(magnitude, n)}-s{s}", {**EFFICIENTTRAIN, **ra, "epochs": n, "seed": s}) for n in (epochs / 2, epochs * 0.75, epochs * 1.5) for s in seeds
    ]
    length = composer_epochs(epochs, final_size, model)
    composer = "peer-composer" if magnitude == 3 else f"peer-composer-m{magnitude}"
    out["peers-tuned"] = [
        (f"peer-proglearn-m{magnitude}-{_epochs(epochs)}-s{s}", {**EFFICIENTTRAIN, **ra, "crop_op": "bilinear", "epochs": epochs, "seed": s}) for s in seeds
    ] + [
        (f"{composer}-{_epochs(length)}-s{s}", {**ra, "curriculum": "progressive-resizing", "crop_op": "nearest", "magnitude": "constant", "epochs": length, "seed": s})
        for s in seeds
    ]
    out["etpp-tuned"] = [
        (f"etpp-m{magnitude}-b{budget:.3g}-s{s}", {**ra, "curriculum": "efficienttrain++", "epochs": round(budget, 4), "seed": s})
        for budget in (epochs / 2, epochs / 3)
        for s in seeds
    ]
    return out


def best_magnitude(out: Path, epochs: int) -> int:
    """EfficientTrain's final magnitude with the highest mean top-1 over 3 completed ``E``-epoch seeds (the controls' rule)."""
    return highest_mean(out, {m: et_name(m, epochs) for m in MAGNITUDES}, 3, "EfficientTrain's final magnitude", "--magnitude auto needs 3 finished seeds of EfficientTrain at m = 3, 6 and 9 (groups et-magnitude and frontier)")


def architecture_pair(prefix: str, epochs: int, settings: dict[str, Any]) -> list[Run]:
    """The ramp baseline and EfficientTrain for another model (``settings``: its model and recipe), 2 seeds."""
    extra = {**settings, "epochs": epochs}
    return [
        (f"{prefix}-{kind}-{_epochs(epochs)}-s{s}", {**control, **extra, "seed": s})
        for s in (0, 1)
        for kind, control in (("ramp", CONTROLS["ramp"]), ("et", EFFICIENTTRAIN))
    ]


def transformer_groups(epochs: int, sources: str) -> dict[str, list[Run]]:
    """The ViT pilot and pair, MAE pretraining and its fine-tunes, and transfer (issue: the transformer half)."""
    e = {"epochs": epochs}
    mae_src = {"base": f"{sources}/mae-base-{_epochs(epochs)}/model.safetensors", "et": f"{sources}/mae-et-{_epochs(epochs)}/model.safetensors", "scratch": None}
    out: dict[str, list[Run]] = {
        "vit-pilot": [
            (f"vit-pilot-lr{lr:g}-{_epochs(epochs / 2)}", {**CONTROLS["ramp"], **VIT_SMALL, "lr": lr, "epochs": epochs / 2, "val_split": "pilot-val", "seed": 0})
            for lr in VIT_PILOT_LRS
        ],
        "mae": [(f"mae-{kind}-{_epochs(epochs)}", {**MAE, "curriculum": cur, **e}) for kind, cur in (("base", "none"), ("et", "efficienttrain"))],
        "mae-finetune": [
            (f"mae-finetune-{src}-{_epochs(epochs / 2)}-s0", {**FINETUNE, "epochs": epochs / 2, "seed": 0, **({"init_from": path} if path else {})})
            for src, path in mae_src.items()
        ],
        "transfer": [
            (f"transfer-{src}-s{s}", {**TRANSFER, "seed": s, "init_from": f"{sources}/{src}-s{s}/last.pt"}) for s in TRANSFER_SEEDS for src in TRANSFER_SOURCES
        ]
        + [(f"transfer-scratch-s{s}", {**TRANSFER, "seed": s}) for s in TRANSFER_SEEDS],
    }
    out["vit-small"] = architecture_pair("vit-small", epochs, {**PRESETS["vit-small"], **VIT_PRECISION})
    # Larger early batches (issue 35) on the vit-small pair's EfficientTrain, without and with growth,
    # in fp32: the pair above ran in bf16 on a CPU with AMX, which a CPU without it runs ten times slower.
    vit_fp32 = {**PRESETS["vit-small"], "amp": "none", **EFFICIENTTRAIN, "epochs": epochs}
    out["growth-vit"] = [
        (f"vit-small-et{'-growth4' if g > 1 else ''}-fp32-{_epochs(epochs)}-s{s}", {**vit_fp32, "batch_growth": g, "seed": s}) for s in (0, 1) for g in (1, 4)
    ]
    return out


def groups(epochs: int, baseline: Optional[str], sources: str = "runs/evidence", magnitude: Optional[int] = None) -> dict[str, list[Run]]:
    """The experiments by group: (run name, config overrides)."""
    e = {"epochs": epochs}
    out: dict[str, list[Run]] = {
        "controls": [(f"ramp-{_epochs(epochs)}-s{s}", {**CONTROLS["ramp"], **e, "seed": s}) for s in (0, 1)]
        + [(f"{k}-{_epochs(epochs)}-s0", {**CONTROLS[k], **e, "seed": 0}) for k in ("const-m3", "const-m6", "const-m9")],
        "vit": architecture_pair("vit", epochs, {"model": "deit_tiny_patch16_224", "multiple_of": 16}),
        "convnext": architecture_pair("convnext", epochs, {"model": "convnext_atto", "multiple_of": 1}),
        "ablations": [
            ("ablation-downsample-bilinear", {**EFFICIENTTRAIN, **e, "crop_op": "bilinear"}),
            ("ablation-linear-ramp", {"curriculum": "linear", **e}),
            ("ablation-crop-only", {**EFFICIENTTRAIN, **e, "magnitude": "constant"}),
            (f"ablation-efficienttrain++-budget{epochs / 1.5:.3g}", {"curriculum": "efficienttrain++", "epochs": epochs / 1.5}),
        ],
        "cifar": [(f"cifar-{kind}-{_epochs(epochs)}-s0", {**settings, **e, "seed": 0}) for kind, settings in (("ramp", CONTROLS["ramp"]), ("et", EFFICIENTTRAIN))],
        "loader": [
            (f"loader-augment-at-size-{_epochs(epochs)}-s0", {**EFFICIENTTRAIN, **e, "shrink_at": "before-augment"}),
            (f"loader-replay2-{_epochs(epochs)}-s0", {**EFFICIENTTRAIN, **e, "replay": 2}),
        ],
        "shards": [(f"shards-et-{_epochs(epochs)}-s0", {**EFFICIENTTRAIN, **e, "seed": 0, "preload": False, "preload_max_size": None})],
        # Larger early batches (issue 35): EfficientTrain's main runs (et-E-s*) with --batch-growth 4.
        "growth": [(f"et-growth4-{_epochs(epochs)}-s{s}", {**EFFICIENTTRAIN, **e, "batch_growth": 4, "seed": s}) for s in (0, 1)],
        "decode": [
            (f"decode-{kind}-et-{_epochs(epochs)}-s0", {**EFFICIENTTRAIN, **e, "preload": False, "reduced_decode": kind == "reduced"})
            for kind in ("full", "reduced")
        ],
    }
    out["etpp"] = [
        (f"etpp-b{budget:.3g}-s{s}", {"curriculum": "efficienttrain++", "epochs": round(budget, 4), "seed": s})
        for budget in (epochs / 2, epochs / 3)
        for s in (0, 1, 2)
    ]
    for m in ("m6", "m9"):
        out[m] = [(f"const-{m}-{_epochs(epochs)}-s{s}", {**CONTROLS[f"const-{m}"], **e, "seed": s}) for s in (0, 1, 2)]
    out.update(transformer_groups(epochs, sources))
    out.update(tuned_groups(epochs, magnitude, IMAGENETTE["final_size"], IMAGENETTE["model"]))
    if baseline is not None:
        out["frontier"] = frontier(baseline, epochs)
    return out


def completed_top1s(out: Path, schedule: str) -> list[float]:
    """Final top-1 of every completed seed of ``schedule`` (runs named ``<schedule>-s<seed>``) under ``out``."""
    summaries = (json.loads(p.read_text()) for p in sorted(out.glob(f"{schedule}-s*/summary.json")))
    return [float(s["final_top1"]) for s in summaries if s.get("completed")]


def highest_mean(out: Path, schedules: dict[Any, str], min_seeds: int, label: str, missing_hint: str) -> Any:
    """The key of the schedule with the highest mean top-1 over its completed seeds (each needs ``min_seeds``)."""
    means = {key: statistics.fmean(accs) for key, name in schedules.items() if len(accs := completed_top1s(out, name)) >= min_seeds}
    missing = [str(key) for key in schedules if key not in means]
    if missing:
        raise SystemExit(f"{missing_hint}; missing: {', '.join(missing)}")
    best = max(means, key=lambda k: means[k])
    print(f"{label} (mean top-1): " + ", ".join(f"{k} {v:.2f}%" for k, v in means.items()) + f" -> {best}", flush=True)
    return best


def best_control(out: Path, epochs: int) -> str:
    """The control with the highest mean final top-1 among the completed 'controls' runs."""
    return highest_mean(out, {kind: f"{kind}-{_epochs(epochs)}" for kind in CONTROLS}, 1, "controls, frontier baseline", "--baseline auto needs the finished 'controls' group")


def run_one(name: str, values: dict[str, Any], run_dir: Path) -> bool:
    """Run (or resume, or skip) one experiment. Returns False if it was interrupted."""
    from efficienttrain.runner.config import make_config
    from efficienttrain.runner.loop import Trainer

    summary = run_dir / "summary.json"
    if summary.is_file() and json.loads(summary.read_text()).get("completed"):
        print(f"[{time.strftime('%H:%M:%S')}] skip {name}: already complete", flush=True)
        return True
    values = {**values, "output": str(run_dir), "name": name, "resume": (run_dir / "last.pt").is_file()}
    print(f"[{time.strftime('%H:%M:%S')}] start {name}", flush=True)
    result = Trainer(make_config(values, preset="cpu")).run()
    if not result.completed:
        print(f"[{time.strftime('%H:%M:%S')}] {name} was interrupted; run the same command again to resume it", flush=True)
        return False
    print(f"[{time.strftime('%H:%M:%S')}] done {name}: top-1 {result.final_top1:.2f}% in {result.train_time:.0f}s", flush=True)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ImageFolder dataset (imagenette-dev, or CIFAR-10 extracted as JPEGs)")
    parser.add_argument("--group", required=True, nargs="+")
    parser.add_argument("--out", default="runs/evidence", help="where the runs are written")
    parser.add_argument("--epochs", type=int, default=8, help="E: the main length (default 8)")
    parser.add_argument("--baseline", default="auto", choices=["auto", *CONTROLS], help="the frontier's baseline (auto: the best control)")
    parser.add_argument("--magnitude", default=None, help="EfficientTrain's tuned final magnitude for et-tuned, peers-tuned, etpp-tuned: 3, 6, 9 or auto")
    parser.add_argument("--sources", default="runs/evidence", help="where the runs that fine-tunes start from are (mae-finetune, transfer)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these run names")
    parser.add_argument("--list", action="store_true", help="print the run names of the groups and exit")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run")
    parser.add_argument("--workers", type=int, default=None, help="data-loader workers per run")
    args = parser.parse_args()

    out = Path(args.out)
    baseline: Optional[str] = args.baseline
    if "frontier" in args.group and baseline == "auto":
        baseline = None if args.list else best_control(out, args.epochs)
    magnitude = args.magnitude
    if magnitude == "auto":
        magnitude = 3 if args.list else best_magnitude(out, args.epochs)
    elif magnitude is not None and magnitude not in ("3", "6", "9"):
        parser.error(f"--magnitude {magnitude}: choose 3, 6, 9 or auto")
    tuned = {"et-tuned", "peers-tuned", "etpp-tuned"} & set(args.group)
    if tuned and magnitude is None:
        parser.error(f"group(s) {sorted(tuned)} need --magnitude (3, 6, 9, or auto after the et-magnitude group)")
    table = groups(args.epochs, baseline if baseline in CONTROLS else "ramp", args.sources, int(magnitude) if magnitude else None)
    if "peers" in args.group:
        if baseline not in CONTROLS:
            parser.error("the 'peers' group needs the best control: give --baseline, or finish the 'controls' group")
        table["peers"] = peers(args.epochs, baseline, IMAGENETTE["final_size"], IMAGENETTE["model"])
    unknown = [g for g in args.group if g not in table]
    if unknown:
        parser.error(f"unknown group(s) {unknown}; choose from {list(table)}")
    names = {name for group in args.group for name, _ in table[group]}
    unmatched = sorted(set(args.only or ()) - names)
    if unmatched:
        parser.error(f"--only names no run of group(s) {args.group}: {unmatched}; see the names with --list")
    out.mkdir(parents=True, exist_ok=True)
    for group in args.group:
        base = dict(CIFAR if group in ("cifar", "transfer") else IMAGENETTE, data=args.data)
        for name, overrides in table[group]:
            if args.only and name not in args.only:
                continue
            if args.list:
                print(f"{group}\t{name}\t{overrides}")
                continue
            values = {**base, **overrides}
            if args.threads:
                values["threads"] = args.threads
            if args.workers is not None:
                values["workers"] = args.workers
            if not run_one(name, values, out / name):
                return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
