"""--compile (one graph per stage size, none eager) and the pre-flight (throw-away steps that leave no trace)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from efficienttrain import compiling, dryrun
from efficienttrain.dryrun import MemoryMeter, preserved_training_state
from efficienttrain.errors import UserError
from efficienttrain.runner import Trainer, weights_checksum
from efficienttrain.runner.config import make_config
from efficienttrain.runner.preflight import DrySteps

from .conftest import free_port, tiny_config

SIZES = [23, 27, 32]  # the tiny runs' efficienttrain stages at final size 32


@pytest.fixture(scope="module")
def eager_reference(tmp_path_factory):
    """Weights of a 2-epoch run with EMA and Mixup, no pre-flight, no compile."""
    tmp = tmp_path_factory.mktemp("eager")
    trainer = Trainer(tiny_config(tmp, epochs=2, ema=True, mixup=0.8, preflight=False))
    result = trainer.run()
    return weights_checksum(trainer.parts.model), weights_checksum(trainer.parts.optim.ema.module), result.summary, tmp / "run"


def _small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def test_preserved_training_state_restores_everything():
    torch.manual_seed(0)
    model = _small_net()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    for _ in range(2):  # optimizer moments, BN statistics and gradients all non-trivial
        model(torch.randn(4, 3, 8, 8)).sum().backward()
        opt.step()
    model(torch.randn(4, 3, 8, 8)).sum().backward()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    moments = [opt.state[p]["exp_avg"].clone() for p in model.parameters()]
    rng = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    with preserved_training_state(model, opt):
        model(torch.randn(4, 3, 12, 12)).sum().backward()
        opt.step()
        np.random.rand(), random.random()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    assert all(torch.equal(m, opt.state[p]["exp_avg"]) for m, p in zip(moments, model.parameters()))
    assert torch.equal(rng[0], torch.get_rng_state()) and np.array_equal(rng[1], np.random.get_state()[1]) and rng[2] == random.getstate()


CPU_KINDS = {"cpu_peak_rss_growth", "cpu_sampled_rss_growth"}


@pytest.fixture
def rss_is_reported():
    """Skip where the OS does not count a touched 64 MiB block in ``VmRSS`` (nothing to measure)."""
    before = dryrun._status_kib("VmRSS")
    block = torch.ones(64 << 20, dtype=torch.uint8)
    after = dryrun._status_kib("VmRSS")
    del block
    if before is None or after is None or after - before < (48 << 10):
        pytest.skip(f"VmRSS does not follow allocations here ({before} -> {after} KiB)")


def test_memory_meter_sees_a_large_allocation(rss_is_reported):
    meter = MemoryMeter(torch.device("cpu"))
    meter.start()
    block = torch.ones(64 << 20, dtype=torch.uint8)  # 64 MiB, touched
    peak = meter.peak_mib()
    del block
    assert meter.kind in CPU_KINDS and 48 <= peak < 1024


def test_memory_meter_samples_where_the_peak_reset_does_not_take(rss_is_reported, monkeypatch):
    monkeypatch.setattr(dryrun, "_reset_peak_rss", lambda: False)
    meter = MemoryMeter(torch.device("cpu"))
    meter.start()
    block = torch.ones(64 << 20, dtype=torch.uint8)
    time.sleep(0.1)
    del block  # freed before the reading: only the sampling thread can have seen it
    peak = meter.peak_mib()
    assert meter.kind == "cpu_sampled_rss_growth" and 48 <= peak < 1024


def test_a_peak_reset_that_a_sandbox_ignores_is_detected(monkeypatch):
    readings = {"VmHWM": 900_000, "VmRSS": 300_000}  # the old peak survived the write
    monkeypatch.setattr(dryrun, "_status_kib", readings.get)
    monkeypatch.setattr(dryrun.Path, "write_text", lambda self, text: len(text))
    assert dryrun._reset_peak_rss() is False
    readings["VmHWM"] = 300_004
    assert dryrun._reset_peak_rss() is True


@pytest.mark.slow
def test_preflight_leaves_no_trace_and_reports_each_size(tmp_path, eager_reference):
    lines: list[str] = []
    trainer = Trainer(tiny_config(tmp_path, epochs=2, ema=True, mixup=0.8), log=lines.append)
    result = trainer.run()
    assert (weights_checksum(trainer.parts.model), weights_checksum(trainer.parts.optim.ema.module)) == eager_reference[:2]
    pre = result.summary["preflight"]
    assert pre["memory_kind"] in CPU_KINDS
    assert sorted(int(s) for s in pre["peak_memory_mib"]) == SIZES and all(v >= 0 for v in pre["peak_memory_mib"].values())
    flight = [line for line in lines if line.startswith("pre-flight:")]
    assert [int(line.split(" at ")[1].split(" px")[0]) for line in flight] == sorted(SIZES, reverse=True)  # largest first
    assert "compile" not in result.summary
    assert eager_reference[2]["preflight"]["steps"] == []
    # Training compute: FLOPs per image at each size x images trained there (80 images, batch 16: 5 steps an epoch).
    compute = result.summary["compute"]
    flops = {int(k): v for k, v in compute["flops_per_image"].items()}
    assert sorted(flops) == SIZES and flops[23] < flops[27] < flops[32]
    assert sum(st["images"] for st in compute["stages"]) == 2 * 5 * 16
    assert all(st["flops"] == st["images"] * flops[st["size"]] for st in compute["stages"])
    assert compute["train_flops"] == sum(st["flops"] for st in compute["stages"]) < 2 * compute["final_size_epoch_flops"]
    assert compute == eager_reference[2]["compute"]  # machine-independent: the same without the pre-flight


def test_out_of_memory_in_the_preflight_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    def oom(self, size):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(DrySteps, "_step", oom)
    cfg = tiny_config(tmp_path, batch_size=16)
    with pytest.raises(UserError) as err:
        Trainer(cfg).run()
    message = str(err.value)
    assert "\n" not in message and "32 px" in message and "batch 16" in message and "--batch-size" in message and "--accum-steps" in message
    assert not (cfg.output_dir() / "last.pt").exists() and not (cfg.output_dir() / "metrics.jsonl").exists()


@pytest.mark.slow
def test_compile_one_graph_per_size_same_weights_and_exact_resume(tmp_path, eager_reference):
    # aot_eager traces and runs the same graphs as inductor without generating code: quick, and
    # bit-identical to eager, so the weights also prove the throw-away compile steps left no trace.
    options = {"epochs": 2, "ema": True, "mixup": 0.8, "compile": True, "compile_backend": "aot_eager"}
    lines: list[str] = []
    first = Trainer(tiny_config(tmp_path, **options), log=lines.append).run(max_epochs=1)
    assert not first.completed
    resumed = Trainer(tiny_config(tmp_path, resume=True, **options), log=lines.append)
    result = resumed.run()
    assert result.completed
    assert (weights_checksum(resumed.parts.model), weights_checksum(resumed.parts.optim.ema.module)) == eager_reference[:2]
    rec = result.summary["compile"]
    assert rec["backend"] == "aot_eager" and rec["graphs_during_training"] == 0 and rec["eager_sizes"] == []
    assert rec["graphs"] == len(result.summary["preflight"]["peak_memory_mib"]) and rec["compile_time_s"] > 0
    assert result.summary["compute"] == eager_reference[2]["compute"]  # the resumed run counts both processes' images
    compiled = [line for line in lines if line.startswith(("pre-flight: compiled", "compile: compiled"))]
    assert len(compiled) == 3 + 2  # 3 sizes in the first process; the resumed one needs its 2 remaining sizes
    assert not any("NOT compiled" in line or "warning" in line for line in lines)


@pytest.mark.slow
def test_compile_fallback_to_eager_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(compiling, "_SPARE_GRAPHS", 1 - len(SIZES))  # a limit of one graph
    lines: list[str] = []
    cfg = tiny_config(tmp_path, epochs=1, compile=True, compile_backend="aot_eager", compile_warmup=True)
    result = Trainer(cfg, log=lines.append).run()
    rec = result.summary["compile"]
    assert rec["recompile_limit"] == 1 and rec["graphs"] == 1
    assert rec["eager_sizes"] == SIZES[:2]  # warm-up compiles the largest size first
    assert sum("NOT compiled" in line for line in lines) == 2


def test_compile_options_are_validated():
    with pytest.raises(UserError, match="--compile-warmup .* add --compile"):
        make_config({"compile_warmup": True})
    with pytest.raises(UserError, match="--compile-mode must be one of"):
        make_config({"compile": True, "compile_mode": "fastest"})
    with pytest.raises(UserError, match="needs --compile-backend inductor"):
        make_config({"compile": True, "compile_mode": "max-autotune", "compile_backend": "aot_eager"})
    with pytest.raises(ValueError, match="unknown torch.compile backend"):
        compiling.compile_for_curriculum(_small_net(), [8], backend="no-such-backend")


@pytest.mark.slow
def test_final_size_above_the_bound_is_refused_at_once(tmp_path):
    argv = [sys.executable, "-m", "efficienttrain", "train", "--data", "demo", "--final-size", "8192", "--output", str(tmp_path / "r")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "8192" in proc.stderr and "4096" in proc.stderr


@pytest.mark.slow
def test_cli_compile_with_inductor_one_compile_per_size(tmp_path):
    """The real backend: a two-size curriculum, each size compiled once, nothing eager."""
    cur = tmp_path / "two.yaml"
    cur.write_text("stages:\n  - {end: 1, size: 24}\n  - {end: 2, size: 32}\nfinal_size: 32\n")
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "efficienttrain", "train", "--preset", "cpu", "--data", "demo", "--demo-per-class", "8",
            "--demo-val-per-class", "3", "--demo-image-size", "32", "--model", "resnet10t", "--curriculum", str(cur),
            "--batch-size", "16", "--workers", "0", "--output", str(out), "--no-progress", "--compile"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "pre-flight: compiled at 32 px" in proc.stdout and "compile: compiled at 24 px" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    rec = summary["compile"]
    assert rec["backend"] == "inductor" and rec["graphs"] >= 2 and rec["graphs_during_training"] == 0 and rec["eager_sizes"] == []
    assert [s["graphs"] >= 1 for s in summary["preflight"]["steps"]] == [True, True]
    assert rec["compile_time_s"] > 0 and summary["train_time_s"] > 0


@pytest.mark.slow
def test_ddp_compile_two_processes_agree(tmp_path):
    import os

    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", free_port(),
            "-m", "efficienttrain", "train", "--preset", "cpu", "--data", "demo", "--demo-per-class", "8", "--demo-val-per-class", "3",
            "--demo-image-size", "32", "--model", "resnet10t", "--epochs", "2", "--batch-size", "8", "--workers", "1",
            "--output", str(out), "--no-progress", "--trace", "--threads", "1", "--compile", "--compile-backend", "aot_eager"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    finals = [[json.loads(line) for line in (out / f"trace_rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    sums = [[rec["final_weights_sha256"] for rec in trace if "final_weights_sha256" in rec] for trace in finals]
    assert len(sums[0]) == 1 and sums[0] == sums[1]
    rec = json.loads((out / "summary.json").read_text())["compile"]
    assert rec["graphs_during_training"] == 0 and rec["eager_sizes"] == [] and rec["graphs"] >= 3


def test_drop_in_recipe_warm_up_every_size_then_train_without_compiling():
    """docs/drop-in.md's recipe: compile, warm every size up in throw-away steps, then train."""
    torch.manual_seed(0)
    model = _small_net()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sizes = [8, 12, 16]
    compiled = compiling.compile_for_curriculum(model, sizes, backend="aot_eager")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for size in sizes:
        with preserved_training_state(model, optimizer):
            nn.functional.cross_entropy(compiled.module(torch.randn(4, 3, size, size)), torch.zeros(4, dtype=torch.long)).backward()
            optimizer.step()
    assert compiled.graphs == len(sizes) and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not optimizer.state
    for size in sizes:
        optimizer.zero_grad()
        nn.functional.cross_entropy(compiled.module(torch.randn(4, 3, size, size)), torch.ones(4, dtype=torch.long)).backward()
        optimizer.step()
    assert compiled.graphs == len(sizes)  # every size was already compiled


def test_recount_from_the_config_alone_equals_the_runs_own_record(eager_reference):
    from efficienttrain.runner.compute import recount
    from efficienttrain.runner.config import load_config

    run_dir = eager_reference[3]
    before = sorted(p.name for p in run_dir.iterdir())
    assert recount(load_config(run_dir / "config.yaml")) == eager_reference[2]["compute"]
    assert sorted(p.name for p in run_dir.iterdir()) == before  # the record is not touched
