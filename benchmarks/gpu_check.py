"""The GPU check behind benchmarks/gpu_check.sh: crop operator, bare steps and the probe on one CUDA device.

Measures, on the first CUDA device:

1. the low-frequency crop (the cached operator and the rfft formulation) against the FFT reference,
   batch 64, 224 -> 160 and 224 -> 192, in fp32 and bf16: time per image and the largest error;
2. the bare training step (forward, backward, fused AdamW) of resnet50 and deit_small_patch16_224
   at 160, 192 and 224 px, bf16 autocast, channels-last, batch 128: time per image, and the speedup
   the EfficientTrain schedule (Table 5) would get from those step times;
3. ``efficienttrain probe`` for resnet50 on the built-in demo data rendered at 224 px, with the
   machine's CPU cores as loader workers: the predicted speedup and each stage's bottleneck.

Writes ``benchmarks/results/gpu.md`` and ``gpu.json``. Without CUDA it prints one line and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SIZES = (160, 192, 224)


def cuda_time(fn, repeat: int = 20, warmup: int = 5) -> float:
    """Median seconds of ``fn()`` on the current CUDA stream."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def crop_rows() -> list[dict]:
    from efficienttrain.frequency import low_frequency_crop, low_frequency_crop_fft

    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(64, 3, 224, 224, device="cuda").to(dtype)
        for size in (160, 192):
            ref = low_frequency_crop_fft(x.float(), size)
            row = {"dtype": str(dtype).split(".")[-1], "size": size}
            for method in ("matmul", "rfft"):
                out = low_frequency_crop(x, size, method=method)
                row[f"{method}_ms_per_image"] = 1e3 * cuda_time(lambda m=method: low_frequency_crop(x, size, method=m)) / 64
                row[f"{method}_max_error"] = float((out.float() - ref).abs().max())
            row["fft_ms_per_image"] = 1e3 * cuda_time(lambda: low_frequency_crop_fft(x.float(), size)) / 64
            rows.append(row)
    return rows


def step_rows() -> list[dict]:
    from efficienttrain.cost import curriculum_cost
    from efficienttrain.curricula import efficienttrain
    from efficienttrain.models import create_model

    rows = []
    for name in ("resnet50", "deit_small_patch16_224"):
        model = create_model(name, 1000, img_size=224).cuda().to(memory_format=torch.channels_last).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        loss_fn = torch.nn.CrossEntropyLoss()
        per_image = {}
        for size in SIZES:
            x = torch.randn(128, 3, size, size, device="cuda").contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, 1000, (128,), device="cuda")

            def step() -> None:
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()

            per_image[size] = cuda_time(step, repeat=15, warmup=5) / 128
        predicted = curriculum_cost(efficienttrain(300, 224), lambda b: per_image[b]).speedup
        rows.append({"model": name, **{f"ms_per_image_{s}": 1e3 * t for s, t in per_image.items()}, "predicted_speedup": predicted})
        del model, opt
        torch.cuda.empty_cache()
    return rows


def probe_report() -> dict:
    from efficienttrain.runner.config import make_config
    from efficienttrain.runner.probe import probe

    workers = max(1, min(16, (os.cpu_count() or 2) - 1))
    cfg = make_config(
        {"data": "demo", "demo_image_size": 224, "demo_per_class": 64, "model": "resnet50", "epochs": 300, "batch_size": 128,
         "device": "cuda", "amp": "bf16", "channels_last": True, "workers": workers}  # fmt: skip
    )
    return probe(cfg, batches=10, warmup=3, log=lambda _m: None).to_dict()


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing measured (run it on a machine with a GPU)")
        return 0
    t0 = time.time()
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "crop": crop_rows(), "steps": step_rows()}
    result["probe"] = probe_report()
    result["seconds"] = time.time() - t0
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(result, indent=2))
    lines = [f"GPU check on {result['device']} (torch {result['torch']}), {result['seconds']:.0f} s.", "", "Crop, batch 64 from 224 px (ms per image; max |error| against the FFT reference):", "",
             "| dtype | B | matmul | rfft | FFT reference | matmul error | rfft error |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in result["crop"]:
        lines.append(f"| {r['dtype']} | {r['size']} | {r['matmul_ms_per_image']:.4f} | {r['rfft_ms_per_image']:.4f} | {r['fft_ms_per_image']:.4f} | "
                     f"{r['matmul_max_error']:.1e} | {r['rfft_max_error']:.1e} |")
    lines += ["", "Bare training step, bf16, channels-last, batch 128 (ms per image), and the Table 5 schedule's speedup from them:", "",
              "| model | 160 | 192 | 224 | predicted speedup |", "|---|---|---|---|---|"]  # fmt: skip
    for r in result["steps"]:
        lines.append(f"| {r['model']} | {r['ms_per_image_160']:.3f} | {r['ms_per_image_192']:.3f} | {r['ms_per_image_224']:.3f} | {r['predicted_speedup']:.2f}x |")
    p = result["probe"]
    lines += ["", f"Probe (resnet50, demo data at 224 px, {p['workers']} loader workers): predicted speedup "
              f"{p['predicted_speedup']['pipelined']:.2f}x pipelined, {p['predicted_speedup']['together']:.2f}x measured together; "
              + ", ".join(f"B={r['size']}: {r['bottleneck']}" for r in p["sizes"])]  # fmt: skip
    (out / "gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
