"""The GPU check behind benchmarks/gpu_check.sh: crop operator, steps, compile, pre-flight and probe on one CUDA device.

Measures, on the first CUDA device:

1. the low-frequency crop (the cached operator and the rfft formulation) against the FFT reference,
   batch 64, 224 -> 160/192, 448 -> 320 and 512 -> 384, in fp32 and bf16: time per image, the
   largest error, and the time to build each operator;
2. the bare training step (forward, backward, fused AdamW) of resnet50 and deit_small_patch16_224
   at 160, 192 and 224 px, bf16 autocast, channels-last, batch 128: time per image, and the speedup
   the EfficientTrain schedule (Table 5) would get from those step times;
3. resnet50 at 224 px in fp32 and bf16, contiguous and channels-last;
4. ``torch.compile`` on and off (:func:`efficienttrain.compile_for_curriculum`, one graph per size):
   resnet50's step at 160/192/224, the compile time of each size, and the predicted speedup with
   compile on both sides;
5. the runner's pre-flight: peak CUDA memory of one training step at each stage size (resnet50,
   batch 128, bf16, channels-last), from a one-step run's ``summary.json``;
6. ``efficienttrain probe`` for resnet50 on the built-in demo data rendered at 224 px, with the
   machine's CPU cores as loader workers: the predicted speedup and each stage's bottleneck.

Writes ``benchmarks/results/gpu.md`` and ``gpu.json``. Without CUDA it prints one line and exits 0.
``--smoke`` runs every section on the CPU at toy sizes (compile with the ``aot_eager`` backend) to
check the script itself; it writes nothing unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """What the check runs: the GPU defaults, or toy sizes on a CPU (``--smoke``)."""

    device: str = "cuda"
    models: tuple[str, ...] = ("resnet50", "deit_small_patch16_224")
    final: int = 224
    crops: tuple[tuple[int, int], ...] = ((224, 160), (224, 192), (448, 320), (512, 384))
    batch: int = 128
    crop_batch: int = 64
    repeat: int = 15
    backend: str = "inductor"
    probe: bool = True
    warmup: int = 3
    # The precision of the step and compile sections (the precision section times both).
    step_amp: Optional[torch.dtype] = torch.bfloat16


# The smoke checks that every section runs, not what it measures: one timed call after one warm-up,
# and fp32 outside the precision section (bf16 autocast is ten times slower on a CPU without native
# bf16, and the precision section still runs it).
SMOKE = Settings(device="cpu", models=("resnet10t",), final=32, crops=((32, 24), (48, 32)), batch=8, crop_batch=4,
                 repeat=1, backend="aot_eager", probe=False, warmup=1, step_amp=None)  # fmt: skip


def stage_sizes(s: Settings) -> list[int]:
    """The sizes of the paper's schedule (Table 5, Table 8 below 224) at the final size."""
    from efficienttrain.curricula import efficienttrain

    return efficienttrain(300, s.final).sizes


def timed(fn: Callable[[], Any], device: str, repeat: int, warmup: int = 3) -> float:
    """Median seconds of ``fn()`` (CUDA events on a GPU, wall time on a CPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def crop_rows(s: Settings) -> list[dict]:
    from efficienttrain.frequency import clear_operator_caches, crop_operator, low_frequency_crop, low_frequency_crop_fft

    rows = []
    for in_size, size in s.crops:
        clear_operator_caches()
        t0 = time.perf_counter()
        crop_operator(in_size, size, device=s.device)
        build = time.perf_counter() - t0
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(s.crop_batch, 3, in_size, in_size, device=s.device).to(dtype)
            ref = low_frequency_crop_fft(x.float(), size)
            row = {"dtype": str(dtype).split(".")[-1], "in": in_size, "size": size, "operator_build_s": build}
            for method in ("matmul", "rfft"):
                out = low_frequency_crop(x, size, method=method)
                row[f"{method}_ms_per_image"] = 1e3 * timed(lambda m=method: low_frequency_crop(x, size, method=m), s.device, s.repeat, s.warmup) / s.crop_batch
                row[f"{method}_max_error"] = float((out.float() - ref).abs().max())
            row["fft_ms_per_image"] = 1e3 * timed(lambda: low_frequency_crop_fft(x.float(), size), s.device, s.repeat, s.warmup) / s.crop_batch
            rows.append(row)
    return rows


def _step_fn(model: torch.nn.Module, call: Callable, size: int, s: Settings, amp: Optional[torch.dtype], channels_last: bool) -> Callable[[], None]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=s.device == "cuda")
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(s.batch, 3, size, size, device=s.device)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    y = torch.randint(0, 1000, (s.batch,), device=s.device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(s.device, dtype=amp or torch.float32, enabled=amp is not None):
            loss = loss_fn(call(x), y)
        loss.backward()
        opt.step()

    return step


def _model(name: str, s: Settings, channels_last: bool = True) -> torch.nn.Module:
    from efficienttrain.models import create_model

    model = create_model(name, 1000, img_size=s.final).to(s.device).train()
    return model.to(memory_format=torch.channels_last) if channels_last else model


def step_rows(s: Settings) -> list[dict]:
    from efficienttrain.cost import curriculum_cost
    from efficienttrain.curricula import efficienttrain

    rows = []
    for name in s.models:
        model = _model(name, s)
        per_image = {size: timed(_step_fn(model, model, size, s, s.step_amp, True), s.device, s.repeat, s.warmup) / s.batch for size in stage_sizes(s)}
        predicted = curriculum_cost(efficienttrain(300, s.final), lambda b: per_image[b]).speedup
        rows.append({"model": name, "ms_per_image": {str(k): 1e3 * v for k, v in per_image.items()}, "predicted_speedup": predicted})
        del model
        _empty_cache(s)
    return rows


def precision_rows(s: Settings) -> list[dict]:
    rows = []
    for channels_last in (False, True):
        model = _model(s.models[0], s, channels_last)
        for amp in (None, torch.bfloat16):
            t = timed(_step_fn(model, model, s.final, s, amp, channels_last), s.device, s.repeat, s.warmup) / s.batch
            rows.append({"amp": "bf16" if amp else "fp32", "channels_last": channels_last, "ms_per_image": 1e3 * t})
        del model
        _empty_cache(s)
    return rows


def compile_rows(s: Settings) -> dict:
    from efficienttrain import compile_for_curriculum
    from efficienttrain.cost import curriculum_cost
    from efficienttrain.curricula import efficienttrain

    eager = _model(s.models[0], s)
    twin = _model(s.models[0], s)
    compiled = compile_for_curriculum(twin, stage_sizes(s), backend=s.backend)
    out: dict[str, Any] = {"model": s.models[0], "backend": s.backend, "sizes": {}}
    for size in sorted(stage_sizes(s), reverse=True):
        step = _step_fn(twin, compiled.module, size, s, s.step_amp, True)
        t0 = time.perf_counter()
        step()
        _sync(s)
        compile_s = time.perf_counter() - t0
        row = {"compile_s": compile_s, "compiled_ms_per_image": 1e3 * timed(step, s.device, s.repeat, s.warmup) / s.batch}
        row["eager_ms_per_image"] = 1e3 * timed(_step_fn(eager, eager, size, s, s.step_amp, True), s.device, s.repeat, s.warmup) / s.batch
        out["sizes"][str(size)] = row
    cur = efficienttrain(300, s.final)
    for kind in ("eager", "compiled"):
        out[f"predicted_speedup_{kind}"] = curriculum_cost(cur, lambda b, k=kind: out["sizes"][str(b)][f"{k}_ms_per_image"]).speedup
    out["graphs"] = compiled.graphs
    del eager, twin, compiled
    _empty_cache(s)
    return out


def preflight_report(s: Settings) -> dict:
    from efficienttrain.runner import Trainer
    from efficienttrain.runner.config import make_config

    with tempfile.TemporaryDirectory() as tmp:
        # One training step per epoch: demo data with exactly one batch, one epoch, the ET sizes.
        cfg = make_config(
            {"data": "demo", "demo_image_size": s.final, "demo_per_class": -(-s.batch // 10), "demo_val_per_class": 1, "model": s.models[0],
             "epochs": 1, "batch_size": s.batch, "device": s.device, "amp": "bf16" if s.device == "cuda" else "none",
             "channels_last": True, "workers": 0, "output": tmp, "progress": False, "curriculum": "efficienttrain"}  # fmt: skip
        )
        result = Trainer(cfg, log=lambda _m: None).run()
        return result.summary["preflight"]


def probe_report(s: Settings) -> dict:
    from efficienttrain.runner.config import make_config
    from efficienttrain.runner.probe import probe

    workers = max(1, min(16, (os.cpu_count() or 2) - 1))
    cfg = make_config(
        {"data": "demo", "demo_image_size": 224, "demo_per_class": 64, "model": "resnet50", "epochs": 300, "batch_size": 128,
         "device": "cuda", "amp": "bf16", "channels_last": True, "workers": workers}  # fmt: skip
    )
    return probe(cfg, batches=10, warmup=3, log=lambda _m: None).to_dict()


def _sync(s: Settings) -> None:
    if s.device == "cuda":
        torch.cuda.synchronize()


def _empty_cache(s: Settings) -> None:
    if s.device == "cuda":
        torch.cuda.empty_cache()


def markdown(r: dict) -> str:
    lines = [f"GPU check on {r['device']} (torch {r['torch']}), {r['seconds']:.0f} s.", "",
             "Crop (ms per image; max |error| against the FFT reference; operator build time in ms):", "",
             "| dtype | in -> B | matmul | rfft | FFT reference | matmul error | rfft error | build |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in r["crop"]:
        lines.append(f"| {c['dtype']} | {c['in']} -> {c['size']} | {c['matmul_ms_per_image']:.4f} | {c['rfft_ms_per_image']:.4f} | "
                     f"{c['fft_ms_per_image']:.4f} | {c['matmul_max_error']:.1e} | {c['rfft_max_error']:.1e} | {1e3 * c['operator_build_s']:.1f} |")  # fmt: skip
    sizes = list(r["steps"][0]["ms_per_image"])
    lines += ["", "Bare training step, bf16, channels-last (ms per image), and the Table 5 schedule's speedup from them:", "",
              "| model | " + " | ".join(sizes) + " | predicted speedup |", "|---|" + "---|" * (len(sizes) + 1)]  # fmt: skip
    for row in r["steps"]:
        lines.append(f"| {row['model']} | " + " | ".join(f"{row['ms_per_image'][k]:.3f}" for k in sizes) + f" | {row['predicted_speedup']:.2f}x |")
    lines += ["", f"{r['steps'][0]['model']} at the final size: precision and memory format (ms per image):", "", "| amp | channels-last | ms/img |", "|---|---|---|"]
    lines += [f"| {p['amp']} | {p['channels_last']} | {p['ms_per_image']:.3f} |" for p in r["precision"]]
    c = r["compile"]
    lines += ["", f"torch.compile ({c['backend']}, one static graph per size, {c['graphs']} graphs), {c['model']}, bf16, channels-last:", "",
              "| size | eager ms/img | compiled ms/img | speedup | compile s |", "|---|---|---|---|---|"]  # fmt: skip
    for size, row in c["sizes"].items():
        lines.append(f"| {size} | {row['eager_ms_per_image']:.3f} | {row['compiled_ms_per_image']:.3f} | "
                     f"{row['eager_ms_per_image'] / row['compiled_ms_per_image']:.2f}x | {row['compile_s']:.1f} |")  # fmt: skip
    lines.append(f"\nPredicted EfficientTrain speedup: {c['predicted_speedup_eager']:.2f}x eager, {c['predicted_speedup_compiled']:.2f}x compiled.")
    pre = r["preflight"]
    lines += ["", f"Pre-flight peak memory ({pre['memory_kind']}, MiB) per stage size: "
              + ", ".join(f"{k}: {v:.0f}" for k, v in pre["peak_memory_mib"].items())]  # fmt: skip
    if r.get("probe"):
        p = r["probe"]
        lines += ["", f"Probe (resnet50, demo data at 224 px, {p['workers']} loader workers): predicted speedup "
                  f"{p['predicted_speedup']['pipelined']:.2f}x pipelined, {p['predicted_speedup']['together']:.2f}x measured together; "
                  + ", ".join(f"B={row['size']}: {row['bottleneck']}" for row in p["sizes"])]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="run every section on the CPU at toy sizes (checks the script)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results; --smoke writes only with --out)")
    args = parser.parse_args(argv)
    s = SMOKE if args.smoke else Settings()
    if not args.smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing measured (run it on a machine with a GPU)")
        return 0
    t0 = time.time()
    device = torch.cuda.get_device_name() if s.device == "cuda" else "cpu (smoke)"
    r: dict[str, Any] = {"device": device, "torch": torch.__version__, "crop": crop_rows(s), "steps": step_rows(s)}
    r.update(precision=precision_rows(s), compile=compile_rows(s), preflight=preflight_report(s))
    r["probe"] = probe_report(s) if s.probe else None
    r["seconds"] = time.time() - t0
    text = markdown(r)
    out = Path(args.out) if args.out else (None if args.smoke else ROOT / "benchmarks" / "results")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu.json").write_text(json.dumps(r, indent=2))
        (out / "gpu.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
