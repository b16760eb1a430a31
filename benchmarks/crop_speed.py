"""Benchmark the low-frequency crop against the FFT reference, PIL Lanczos and bilinear resizing.

Cases: batch 1 and batch 64, 224->160 and 224->192, float32, on the CPU and (when available) on a
CUDA GPU. Batched cases use all torch threads; single-image cases use one thread, as a data-loader
worker does. Each time is the median of several repeats, in milliseconds per image.

Writes ``benchmarks/results/crop_speed.json`` and ``crop_speed.md`` (quoted by the README) and
checks the targets: batched operator >= 10x faster than the FFT reference, single-image operator no
slower than PIL Lanczos, max |operator - FFT reference| <= 1e-5 on fp32 images in [0, 1].

Usage::

    python -m benchmarks.crop_speed [--repeats 7] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from efficienttrain.frequency import low_frequency_crop, low_frequency_crop_fft, low_frequency_crop_image


def _time(fn: Callable[[], object], repeats: int, inner: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def run_case(device: str, batch: int, size: int, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 224, 224, generator=gen).to(device)
    sync = (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)
    inner = 20 if batch == 1 else 2
    if device == "cuda":
        inner = 50
    single = batch == 1 and device == "cpu"
    threads = torch.get_num_threads()
    if single:
        torch.set_num_threads(1)
    try:
        res = {
            "operator (matmul)": _time(lambda: low_frequency_crop(x, size, method="matmul"), repeats, inner, sync),
            "operator (rfft)": _time(lambda: low_frequency_crop(x, size, method="rfft"), repeats, inner, sync),
            "operator (auto)": _time(lambda: low_frequency_crop(x, size), repeats, inner, sync),
            "FFT reference": _time(lambda: low_frequency_crop_fft(x, size), repeats, inner, sync),
            "bilinear (antialiased)": _time(
                lambda: F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False), repeats, inner, sync
            ),
        }
        if device == "cpu":
            arrays = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            pils = [Image.fromarray(a) for a in arrays]
            res["PIL Lanczos (uint8)"] = _time(lambda: [p.resize((size, size), Image.LANCZOS) for p in pils], repeats, inner, sync)
            res["operator per-image (PIL uint8)"] = _time(lambda: [low_frequency_crop_image(p, size) for p in pils], repeats, inner, sync)
    finally:
        torch.set_num_threads(threads)
    per_image = {k: v * 1e3 / batch for k, v in res.items()}
    dev = (low_frequency_crop(x, size, method="matmul") - low_frequency_crop_fft(x, size)).abs().max().item()
    dev_rfft = (low_frequency_crop(x, size, method="rfft") - low_frequency_crop_fft(x, size)).abs().max().item()
    return {
        "device": device,
        "batch": batch,
        "size": f"224->{size}",
        "threads": 1 if single else threads,
        "ms_per_image": per_image,
        "max_abs_dev_vs_fft": {"matmul": dev, "rfft": dev_rfft},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--devices", nargs="*", default=None, help="default: cpu, plus cuda when available")
    args = parser.parse_args()
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    cases = []
    for device in devices:
        for batch in (1, 64):
            for size in (160, 192):
                case = run_case(device, batch, size, args.repeats)
                cases.append(case)
                print(json.dumps(case), flush=True)

    checks = []
    for c in cases:
        t = c["ms_per_image"]
        if c["batch"] == 64:
            ratio = t["FFT reference"] / t["operator (matmul)"]
            checks.append({"case": f"{c['device']} b64 {c['size']}", "target": "matmul operator >= 10x faster than FFT reference", "value": round(ratio, 2), "met": ratio >= 10})
            best = min(t["operator (matmul)"], t["operator (auto)"])
            ratio_auto = t["FFT reference"] / best
            checks.append({"case": f"{c['device']} b64 {c['size']}", "target": "best operator path >= 10x faster than FFT reference", "value": round(ratio_auto, 2), "met": ratio_auto >= 10})
        if c["batch"] == 1 and c["device"] == "cpu":
            ratio = t["PIL Lanczos (uint8)"] / t["operator (auto)"]
            checks.append({"case": f"cpu b1 {c['size']} (float tensor)", "target": "single-image operator no slower than PIL Lanczos", "value": round(ratio, 2), "met": ratio >= 1})
            ratio_pil = t["PIL Lanczos (uint8)"] / t["operator per-image (PIL uint8)"]
            checks.append({"case": f"cpu b1 {c['size']} (PIL in, PIL out)", "target": "single-image operator no slower than PIL Lanczos", "value": round(ratio_pil, 2), "met": ratio_pil >= 1})
        worst = max(c["max_abs_dev_vs_fft"].values())
        checks.append({"case": f"{c['device']} b{c['batch']} {c['size']}", "target": "max |operator - FFT| <= 1e-5", "value": worst, "met": worst <= 1e-5})

    meta = {
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d"),
        "repeats": args.repeats,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if devices == ["cpu"] else "_" + "_".join(devices)
    (out / f"crop_speed{suffix}.json").write_text(json.dumps({"meta": meta, "cases": cases, "checks": checks}, indent=2))

    methods = list(cases[0]["ms_per_image"])
    lines = [
        f"Crop speed, ms per image (median of {args.repeats}), torch {meta['torch']}, {meta['torch_threads']} CPU threads"
        + (f", GPU {meta['gpu']}" if meta["gpu"] else "")
        + ". Single-image CPU cases use 1 thread.",
        "",
        "| device | batch | size | " + " | ".join(methods) + " | FFT / operator |",
        "|---|---|---|" + "---|" * len(methods) + "---|",
    ]
    for c in cases:
        t = c["ms_per_image"]
        cells = [f"{t[m]:.3f}" if m in t else "-" for m in methods]
        best = min(t["operator (matmul)"], t["operator (auto)"])
        lines.append(f"| {c['device']} | {c['batch']} | {c['size']} | " + " | ".join(cells) + f" | {t['FFT reference'] / best:.1f}x |")
    lines += ["", "| target | case | value | met |", "|---|---|---|---|"]
    for ch in checks:
        val = f"{ch['value']:.2e}" if isinstance(ch["value"], float) and ch["value"] < 1e-2 else f"{ch['value']}"
        lines.append(f"| {ch['target']} | {ch['case']} | {val} | {'yes' if ch['met'] else 'NO'} |")
    (out / f"crop_speed{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    np.random.seed(0)
    main()
