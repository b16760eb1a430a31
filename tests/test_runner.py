"""End-to-end tests of the recipe runner on tiny data: outputs, exact resume, signals, transfer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from efficienttrain.rundir import load_checkpoint
from efficienttrain.runner import Trainer, weights_checksum
from efficienttrain.runner.config import load_config, make_config

from .conftest import free_port, metric_rows, sigterm_at_loss_call, tiny_config

pytestmark = pytest.mark.slow


def test_train_writes_logs_checkpoint_and_weights(tmp_path):
    result = Trainer(tiny_config(tmp_path)).run()
    out = result.output_dir
    assert result.completed and len(result.history) == 3
    assert [h["size"] for h in result.history] == [23, 27, 32]  # size of the last batch: 32*160/224 -> 23, 32*192/224 -> 27
    for name in ("metrics.csv", "metrics.jsonl", "summary.json", "last.pt", "model.safetensors", "config.yaml", "curriculum.yaml"):
        assert (out / name).is_file(), name
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["sampler"]["epoch"] == 3 and ckpt["num_updates"] == 3 * 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["theoretical_speedup"] == pytest.approx(1024 / (0.6 * 23**2 + 0.2 * 27**2 + 0.2 * 32**2))
    from safetensors.torch import load_file

    weights = load_file(str(out / "model.safetensors"))
    assert set(weights) == set(ckpt["model"])
    row = result.history[0]
    for key in ("top1", "top5", "val_loss", "train_loss", "epoch_time", "train_time", "magnitude", "stage"):
        assert key in row
    # The LR schedule is one cosine over all steps: it ends near min_lr, without restarts.
    lrs = [h["lr"] for h in result.history]
    assert lrs[0] > lrs[1] > lrs[2]
    assert lrs[2] < 0.05 * 2e-3  # the cpu preset's lr is 2e-3; the schedule ends at min_lr (1e-6)


@pytest.mark.slow
def test_plot_tensorboard_snapshots_and_progress_bar(tmp_path, capsys):
    from efficienttrain.cli import main

    cfg = tiny_config(tmp_path, epochs=2, tensorboard=True, snapshot_every=1, plot=str(tmp_path / "own.png"), progress=True)
    result = Trainer(cfg).run()
    err = capsys.readouterr().err
    assert "stage 1 B=23" in err and "img/s" in err and "ETA" in err  # the progress bar's fields
    assert (tmp_path / "own.png").stat().st_size > 1000
    assert any((result.output_dir / "tb").iterdir())
    assert sorted(p.name for p in result.output_dir.glob("epoch_*.pt")) == ["epoch_001.pt", "epoch_002.pt"]
    snap = load_checkpoint(result.output_dir / "epoch_001.pt")
    assert snap["epoch"] == 1 and "optimizer" not in snap
    assert main(["plot", str(result.output_dir), str(result.output_dir), "--labels", "a", "b", "--out", str(tmp_path / "cmp.png")]) == 0
    assert (tmp_path / "cmp.png").is_file()
    assert main(["plot", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png")]) == 2


@pytest.mark.slow
def test_resume_at_epoch_boundary_matches_uninterrupted(tmp_path):
    straight = Trainer(tiny_config(tmp_path / "a", workers=1)).run()
    assert straight.completed
    first = Trainer(tiny_config(tmp_path / "b", workers=1)).run(max_epochs=1)
    assert not first.completed and len(first.history) == 1
    resumed_trainer = Trainer(tiny_config(tmp_path / "b", workers=1, resume=True))
    resumed = resumed_trainer.run()
    assert resumed.completed and len(resumed.history) == 3
    a = torch.load(straight.output_dir / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed.output_dir / "last.pt", weights_only=True)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [h["top1"] for h in straight.history] == [h["top1"] for h in resumed.history]


@pytest.mark.slow
def test_resume_mid_epoch_matches_uninterrupted(tmp_path):
    """A stop in the middle of an epoch (as on SIGTERM) resumes to bit-identical weights."""
    straight = Trainer(tiny_config(tmp_path / "a", workers=1)).run()
    # No pre-flight: its throw-away steps would also call the criterion (it changes no weights).
    first = Trainer(tiny_config(tmp_path / "b", workers=1, preflight=False))
    sigterm_at_loss_call(first, 7)  # epoch 2, step 1 (5 steps per epoch)
    stopped = first.run()
    assert not stopped.completed
    state = load_checkpoint(stopped.output_dir / "last.pt")
    assert (state["sampler"]["epoch"], state["sampler"]["start_step"]) == (1, 2)
    resumed = Trainer(tiny_config(tmp_path / "b", workers=1, resume=True)).run()
    a = torch.load(straight.output_dir / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed.output_dir / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = (resumed.output_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2, 3]
    # Row for row, every column that is not a clock reads as the uninterrupted run's: the resumed
    # epoch's train_loss averages all its batches, not only those after the stop.
    for name in ("metrics.jsonl", "metrics.csv"):
        assert metric_rows(straight.output_dir / name) == metric_rows(resumed.output_dir / name), name


@pytest.mark.slow
def test_a_stop_during_evaluation_is_honoured_at_the_next_batch_and_resumes_exactly(tmp_path):
    """A SIGTERM while the validation split is evaluated saves the epoch's training and stops; the resume evaluates it again."""
    settings = {"workers": 0, "preflight": False, "demo_val_per_class": 8, "epochs": 2}
    straight = Trainer(tiny_config(tmp_path / "a", **settings)).run()
    first = Trainer(tiny_config(tmp_path / "b", **settings))
    first.setup()
    eval_batches = {"n": 0}
    forward = first.parts.model.forward

    def counting(*args, **kwargs):
        if not first.parts.model.training:
            eval_batches["n"] += 1
            if eval_batches["n"] == 1:
                first._stop_signal = signal.SIGTERM  # as the handler does, during the first evaluation
        return forward(*args, **kwargs)

    first.parts.model.forward = counting
    stopped = first.run()
    assert not stopped.completed and eval_batches["n"] == 1  # given up at the next batch, not at the split's end
    state = load_checkpoint(stopped.output_dir / "last.pt")
    assert (state["sampler"]["epoch"], state["sampler"]["start_step"]) == (0, first.parts.sampler.batches_in_epoch(0))
    rows = stopped.output_dir / "metrics.jsonl"
    assert not rows.exists() or not rows.read_text().strip()  # no row with partial figures
    resumed = Trainer(tiny_config(tmp_path / "b", resume=True, **settings)).run()
    a = torch.load(straight.output_dir / "last.pt", weights_only=True)["model"]
    b = torch.load(resumed.output_dir / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    for name in ("metrics.jsonl", "metrics.csv"):
        assert metric_rows(straight.output_dir / name) == metric_rows(resumed.output_dir / name), name


def test_resume_with_other_batch_size_is_refused(tmp_path):
    Trainer(tiny_config(tmp_path)).run(max_epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(tiny_config(tmp_path, resume=True, batch_size=8)).run()


def test_curriculum_file_keeps_its_length_and_size(tmp_path):
    from efficienttrain.curricula import efficienttrain

    path = tmp_path / "mine.yaml"
    efficienttrain(2, 24).save(path)
    trainer = Trainer(tiny_config(tmp_path, curriculum=str(path), epochs=None)).setup()
    assert trainer.parts.curriculum.epochs == 2 and trainer.parts.curriculum.final_size == 24
    trainer = Trainer(tiny_config(tmp_path / "x", curriculum=str(path), epochs=4, final_size=32)).setup()
    assert trainer.parts.curriculum.epochs == 4 and trainer.parts.curriculum.final_size == 32


def test_existing_checkpoint_is_never_overwritten(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    Trainer(cfg).run()
    ckpt = Path(cfg.output) / "last.pt"
    before = ckpt.read_bytes()
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        Trainer(tiny_config(tmp_path, epochs=1)).run()
    assert ckpt.read_bytes() == before


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint"):
        Trainer(tiny_config(tmp_path, resume=True)).run()


def test_resume_with_changed_curriculum_is_refused(tmp_path):
    Trainer(tiny_config(tmp_path)).run(max_epochs=1)
    with pytest.raises(ValueError, match="different curriculum"):
        Trainer(tiny_config(tmp_path, resume=True, epochs=5)).run()


def test_ema_accum_clip_and_etpp(tmp_path):
    cfg = tiny_config(
        tmp_path,
        curriculum="efficienttrain++",
        epochs=1,
        ema=True,
        ema_decay=0.9,
        accum_steps=2,
        clip_grad=1.0,
        mixup=0.8,
        cutmix=1.0,
    )
    result = Trainer(cfg).run()
    assert result.completed
    assert "ema_top1" in result.history[-1]
    assert (result.output_dir / "model_ema.safetensors").is_file()
    sizes = {h["size"] for h in result.history}
    assert sizes <= {14, 23, 32}


def test_layer_decay_scales_each_block_down_from_the_head(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, curriculum="none", epochs=1, layer_decay=0.5))
    assert trainer.run().completed
    optim = trainer.parts.optim
    lrs = sorted({round(g["lr"] / optim.current_lr, 6) for g in optim.optimizer.param_groups})
    # resnet10t: the stem, four stages and the head are six groups, each half the lr of the next.
    assert lrs == [0.5**k for k in range(5, -1, -1)]
    head = [g for g in optim.optimizer.param_groups if g["lr_scale"] == 1.0]
    assert head and all(g["lr"] == optim.current_lr for g in head)


def test_layer_decay_is_checked(tmp_path):
    from efficienttrain.errors import UserError

    with pytest.raises(UserError, match="--layer-decay must be a number above 0 and at most 1"):
        tiny_config(tmp_path, layer_decay=1.5)
    with pytest.raises(UserError, match="--layer-decay is for fine-tuning"):
        tiny_config(tmp_path, objective="mae", model="deit_tiny_patch16_224", layer_decay=0.75)


@pytest.mark.slow
def test_bf16_autocast(tmp_path):
    # bf16 on a CPU is tested at the final size only: with torch 2.14's oneDNN we saw sporadic
    # non-finite gradients for 14-px inputs under CPU bf16 autocast (see docs/training.md).
    trainer = Trainer(tiny_config(tmp_path, curriculum="none", epochs=1, amp="bf16"))
    result = trainer.run()
    assert result.completed and trainer.parts.runtime.amp_dtype == torch.bfloat16


@pytest.mark.parametrize("op", ["bilinear", "lanczos"])
def test_crop_op_ablation_runs(tmp_path, op):
    assert Trainer(tiny_config(tmp_path, epochs=1, crop_op=op)).run().completed


def test_crop_in_workers_runs(tmp_path):
    result = Trainer(tiny_config(tmp_path, epochs=2, crop_in_workers=True, workers=1)).run()
    assert [h["size"] for h in result.history] == [23, 32]


def test_vit_and_swin_take_every_size(tmp_path):
    for model, mult in (("deit_tiny_patch16_224", 16), ("swin_tiny_patch4_window7_224", 32)):
        cfg = tiny_config(tmp_path / model, model=model, demo_image_size=64, epochs=1, multiple_of=mult, batch_size=8, demo_per_class=2)
        trainer = Trainer(cfg).setup()
        params = [id(p) for p in trainer.parts.model.parameters()]
        for size in trainer.parts.curriculum.sizes:
            out = trainer.parts.model(torch.zeros(2, 3, size, size))
            assert out.shape == (2, 10)
        assert [id(p) for p in trainer.parts.model.parameters()] == params  # nothing replaced behind the optimizer


def test_init_from_checkpoint_for_transfer(tmp_path):
    src = Trainer(tiny_config(tmp_path / "src", epochs=1)).run()
    cfg = tiny_config(tmp_path / "dst", epochs=1, init_from=str(src.output_dir / "model.safetensors"), curriculum="none")
    trainer = Trainer(cfg).setup()
    loaded = torch.load(src.output_dir / "last.pt", weights_only=True)["model"]
    stem = next(k for k in loaded if k.endswith("weight"))
    assert torch.equal(trainer.parts.model.state_dict()[stem], loaded[stem])


def test_yaml_config_and_unknown_keys(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("model: resnet10t\nbatch-size: 32\nepochs: 4\n")
    cfg = load_config(path, {"seed": 3})
    assert cfg.batch_size == 32 and cfg.epochs == 4 and cfg.seed == 3
    path.write_text("model: resnet10t\nbatchsize: 32\n")
    with pytest.raises(ValueError, match="unknown config key"):
        load_config(path)
    # YAML reads 1e-6 as a string; values are converted to the field's type.
    path.write_text("min_lr: 1e-6\nlr: 1e-3\nepochs: 1e2\nscale: [0.5, 1]\nema: 'true'\n")
    cfg = load_config(path)
    assert cfg.min_lr == 1e-6 and cfg.lr == 1e-3 and cfg.epochs == 100.0 and cfg.scale == (0.5, 1.0) and cfg.ema is True
    path.write_text("batch_size: 12.5\n")
    with pytest.raises(ValueError, match="'batch_size' expects int"):
        load_config(path)
    with pytest.raises(ValueError, match="unknown preset"):
        make_config({}, preset="gpu-cluster")


@pytest.mark.slow
def test_the_vit_small_preset_trains_its_vit_and_yields_to_explicit_values(tmp_path):
    """``--preset vit-small`` builds the small-data ViT (6 blocks, 8-px patches, avg pool) with its recipe; flags still win."""
    cfg = make_config({"data": "demo", "lr": 1e-4}, preset="vit-small")
    assert cfg.lr == 1e-4 and cfg.amp == "auto" and cfg.clip_grad == 1.0 and cfg.warmup_epochs == 1.0 and cfg.batch_size == 64
    out = tmp_path / "vit"
    argv = [sys.executable, "-m", "efficienttrain", "train", "--preset", "vit-small", "--data", "demo", "--demo-per-class", "4",
            "--demo-val-per-class", "2", "--demo-image-size", "32", "--epochs", "1", "--final-size", "32", "--batch-size", "8",
            "--workers", "0", "--output", str(out), "--no-progress"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = load_checkpoint(out / "last.pt")["model"]
    assert state["patch_embed.proj.weight"].shape[-2:] == (8, 8)
    assert not any(k.startswith("blocks.6.") for k in state) and any(k.startswith("blocks.5.") for k in state)
    assert "fc_norm.weight" in state  # the average-pooled head normalises the pooled tokens


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_saves_a_checkpoint_that_resumes(tmp_path, sig, code):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "efficienttrain", "train", "--preset", "cpu", "--data", "demo", "--demo-per-class", "8",
            "--demo-image-size", "32", "--model", "resnet10t", "--epochs", "3", "--batch-size", "8", "--workers", "1",
            "--output", str(out), "--no-progress", "--trace"]
    # Its own process group, signalled as a whole (as a scheduler or Ctrl-C does): the loader
    # worker must survive so that the main process can save at the next step.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    trace = out / "trace_rank0.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not trace.exists() or len(trace.read_text().splitlines()) < 5):
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, output  # as a shell reports a command ended by the signal
    assert f"{sig.name} received: checkpoint saved" in output
    state = load_checkpoint(out / "last.pt")
    assert state["sampler"]["start_step"] > 0 or state["sampler"]["epoch"] > 0
    if sig == signal.SIGINT:
        return  # resuming is the same after either signal
    proc = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((out / "summary.json").read_text())["completed"]


@pytest.mark.slow
def test_ddp_two_cpu_processes_agree(tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", free_port(),
            "-m", "efficienttrain", "train", "--preset", "cpu", "--data", "demo", "--demo-per-class", "8", "--demo-val-per-class", "3",
            "--demo-image-size", "32", "--model", "resnet10t", "--epochs", "3", "--batch-size", "8", "--workers", "1",
            "--output", str(out), "--no-progress", "--trace", "--threads", "1"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    traces = []
    for rank in (0, 1):
        lines = [json.loads(line) for line in (out / f"trace_rank{rank}.jsonl").read_text().splitlines()]
        steps = [(r["epoch"], r["step"], r["size"], r["magnitude"]) for r in lines if "step" in r]
        final = [r["final_weights_sha256"] for r in lines if "final_weights_sha256" in r]
        traces.append((steps, final))
    assert traces[0][0] == traces[1][0] and len(traces[0][0]) == 3 * 5
    assert {s[2] for s in traces[0][0]} == {23, 27, 32}
    assert len(traces[0][1]) == 1 and traces[0][1] == traces[1][1]
    assert (out / "last.pt").is_file() and not (out / "metrics_rank1.jsonl").exists()


def test_weights_checksum_changes_with_weights():
    m = torch.nn.Linear(2, 2)
    a = weights_checksum(m)
    with torch.no_grad():
        m.weight.add_(1)
    assert weights_checksum(m) != a


@pytest.mark.slow
def test_summary_records_provenance_of_every_session(tmp_path):
    first = Trainer(tiny_config(tmp_path)).run(max_epochs=1)
    assert not first.completed
    resumed = Trainer(tiny_config(tmp_path, resume=True)).run()
    summary = json.loads((resumed.output_dir / "summary.json").read_text())
    sessions = summary["sessions"]
    # One record per process lifetime: the interrupted one (epoch 0-1) and the resumed one (1-3).
    assert [(s["start_epoch"], s["end_epoch"]) for s in sessions] == [(0, 1), (1, 3)]
    for s in sessions:
        assert s["versions"]["torch"] == torch.__version__.split("+")[0] or s["versions"]["torch"] == torch.__version__
        assert {"python", "timm", "torchvision"} <= set(s["versions"])
        assert s["machine"]["cpu_count"] == os.cpu_count() and s["machine"]["torch_threads"] >= 1
        assert len(s["load_start"]) == 3 and len(s["load_end"]) == 3
        assert s["wall_s"] > 0 and s["own_busy_cores"] >= 0
        assert "git_commit" in s and "git_dirty" in s
    # The resolved config names the values the run used, not the defaults' rules.
    config = summary["config"]
    assert config["lr"] == pytest.approx(2e-3) and config["final_size"] == 32 and config["epochs"] == 3
    assert config["workers"] == 0 and config["curriculum_spec"]["name"] == "efficienttrain"


def test_git_state_outside_a_checkout(tmp_path):
    from efficienttrain.provenance import git_state

    assert git_state(tmp_path) == (None, None)


def test_channels_last_run(tmp_path):
    # Regression: a function-level "import torch.utils.tensorboard" made "torch" unbound where
    # the model was moved to channels-last, so every --channels-last run failed at start-up.
    result = Trainer(tiny_config(tmp_path, epochs=1, channels_last=True)).run()
    assert result.completed


def test_init_from_onto_other_class_names_starts_a_new_head(tmp_path):
    from efficienttrain.models import classifier_param_names

    from .conftest import make_image_folder

    src = Trainer(tiny_config(tmp_path / "src", epochs=1)).run()  # the demo data's 10 classes
    other = make_image_folder(tmp_path / "other", classes=10, per_class=2, size=32)  # 10 classes, other names
    loaded = torch.load(src.output_dir / "last.pt", weights_only=True)
    assert loaded["classes"] and loaded["classes"] != [f"class{c}" for c in range(10)]
    for name in ("last.pt", "model.safetensors"):
        for keep in (False, True):
            cfg = tiny_config(tmp_path / f"dst-{name}-{keep}", epochs=1, data=str(other), init_from=str(src.output_dir / name), keep_head=keep, curriculum="none")
            model = Trainer(cfg).setup().parts.model
            head = classifier_param_names(model)
            assert head
            same = [torch.equal(model.state_dict()[k], loaded["model"][k]) for k in head]
            assert all(same) if keep else not any(same)
            stem = next(k for k in loaded["model"] if k.endswith("weight") and k not in head)
            assert torch.equal(model.state_dict()[stem], loaded["model"][stem])  # the body is loaded either way
    # A file that names no classes (a plain state dict) keeps a fitting head, unless --new-head.
    plain = tmp_path / "plain.pt"
    torch.save(loaded["model"], plain)
    for new in (False, True):
        cfg = tiny_config(tmp_path / f"dst-plain-{new}", epochs=1, data=str(other), init_from=str(plain), new_head=new, curriculum="none")
        model = Trainer(cfg).setup().parts.model
        same = [torch.equal(model.state_dict()[k], loaded["model"][k]) for k in classifier_param_names(model)]
        assert not any(same) if new else all(same)
    with pytest.raises(ValueError, match="contradict"):
        tiny_config(tmp_path / "both", init_from=str(plain), keep_head=True, new_head=True)
