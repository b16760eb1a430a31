"""Tests of MAE pretraining: the model at curriculum sizes, masking, the loss, and runs through the runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from efficienttrain.cli import main
from efficienttrain.mae import MAE, mae_loss, patchify, random_masking
from efficienttrain.models import create_model
from efficienttrain.rundir import load_checkpoint
from efficienttrain.runner import Trainer

from .conftest import free_port, tiny_config

# A ViT-Tiny-sized encoder with patch 8 (the evidence setting), narrowed to keep the tests quick.
VIT = "deit_tiny_patch16_224"


def tiny_mae(img_size: int = 32, **kwargs) -> MAE:
    vit = create_model(VIT, 0, img_size=img_size, patch_size=8, depth=2, embed_dim=48, num_heads=2)
    return MAE(vit, decoder_dim=32, decoder_depth=1, decoder_heads=2, **kwargs)


def mae_config(tmp_path, **overrides):
    values = dict(
        objective="mae", model=VIT, patch_size=8, multiple_of=8, demo_image_size=32, final_size=32, epochs=2,
        decoder_dim=32, decoder_depth=1, decoder_heads=2, knn_k=5, drop_path=0.0,
    )  # fmt: skip
    values.update(overrides)
    return tiny_config(tmp_path, **values)


def test_forward_backward_at_two_curriculum_sizes():
    torch.manual_seed(0)
    model = tiny_mae(32)
    pos_shape = model.encoder.vit.pos_embed.shape
    for size in (24, 32):
        loss = model(torch.randn(2, 3, size, size))
        assert loss.ndim == 0 and torch.isfinite(loss)
        model.zero_grad()
        loss.backward()
        assert model.encoder.vit.pos_embed.grad is not None and model.encoder.vit.pos_embed.grad.abs().sum() > 0
        assert model.decoder.mask_token.grad.abs().sum() > 0
    assert model.encoder.vit.pos_embed.shape == pos_shape  # resampled per call, never replaced
    features = model.encoder.features(torch.randn(3, 3, 24, 24))
    assert features.shape == (3, 48)


@pytest.mark.parametrize(("n", "ratio"), [(16, 0.75), (9, 0.75), (49, 0.6), (4, 0.9)])
def test_masking_keeps_the_requested_ratio(n, ratio):
    gen = torch.Generator().manual_seed(1)
    ids_keep, ids_restore, mask = random_masking(5, n, ratio, device=torch.device("cpu"), generator=gen)
    keep = min(max(round(n * (1 - ratio)), 1), n - 1)
    assert ids_keep.shape == (5, keep)
    assert mask.sum(dim=1).tolist() == [n - keep] * 5
    for row_keep, row_mask in zip(ids_keep, mask):
        assert row_mask[row_keep].sum() == 0 and len(set(row_keep.tolist())) == keep  # kept patches are unmasked, distinct
    shuffled = torch.arange(n).expand(5, n).gather(1, ids_restore.argsort(dim=1))
    assert torch.equal(shuffled.gather(1, ids_restore), torch.arange(n).expand(5, n))  # ids_restore inverts the shuffle


def test_loss_counts_masked_patches_only():
    target = torch.randn(2, 6, 12)
    pred = torch.randn(2, 6, 12)
    mask = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 1, 1, 1, 0, 0]], dtype=torch.float32)
    base = mae_loss(pred, target, mask)
    changed = pred.clone()
    changed[mask == 0] += 5.0  # visible patches: no effect
    assert mae_loss(changed, target, mask) == pytest.approx(base.item())
    changed[mask == 1] += 5.0  # masked patches: the loss moves
    assert mae_loss(changed, target, mask) > base + 1
    # with norm_pix the target patch is standardised: a perfect prediction of it gives 0
    norm = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    assert mae_loss(norm, target, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_patchify_order_matches_the_patch_grid():
    img = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    rows = patchify(img, 2)
    assert rows.shape == (1, 6, 8)
    # patch (row 1, column 2) holds pixels [2:4, 4:6] of both channels, channel last
    expected = img[0, :, 2:4, 4:6].permute(1, 2, 0).reshape(-1)
    assert torch.equal(rows[0, 1 * 3 + 2], expected)


@pytest.mark.slow
def test_mae_run_checkpoints_resumes_exactly_and_exports_an_encoder(tmp_path):
    straight = Trainer(mae_config(tmp_path / "a", workers=1)).run()
    assert straight.completed and [h["size"] for h in straight.history] == [24, 32]
    row = straight.history[-1]
    assert 0 <= row["top1"] <= 100 and row["val_loss"] > 0  # k-NN monitor and reconstruction loss
    first = Trainer(mae_config(tmp_path / "b", workers=1))
    first.setup()
    calls = {"n": 0}
    forward = first.parts.model.forward

    def counting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # the first evaluation (size check, 5 steps, then eval): the stop lands in evaluation
            first._stop_signal = 15
        return forward(*args, **kwargs)

    first.parts.model.forward = counting
    stopped = first.run()
    assert not stopped.completed
    resumed = Trainer(mae_config(tmp_path / "b", workers=1, resume=True)).run()
    a = load_checkpoint(straight.output_dir / "last.pt")
    b = load_checkpoint(resumed.output_dir / "last.pt")
    assert a["objective"] == "mae" and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    # The exported encoder is a plain timm ViT that supervised fine-tuning starts from.
    encoder = straight.output_dir / "model.safetensors"
    cfg = tiny_config(tmp_path / "ft", model=VIT, patch_size=8, multiple_of=8, demo_image_size=32, epochs=1, init_from=str(encoder))
    trainer = Trainer(cfg).setup()
    from safetensors.torch import load_file

    weights = load_file(str(encoder))
    block = next(k for k in weights if k.startswith("blocks.0.attn.qkv.weight"))
    assert torch.equal(trainer.parts.model.state_dict()[block], weights[block])
    assert "head.weight" not in weights


@pytest.mark.slow
def test_mae_under_bf16_autocast_scores_its_knn_monitor(tmp_path):
    """The evidence runs pretrain under bf16 (VIT_PRECISION): the k-NN monitor must score there too."""
    result = Trainer(mae_config(tmp_path, workers=0, amp="bf16", epochs=1)).run()
    assert result.completed and 0 <= result.history[-1]["top1"] <= 100


def test_bad_mae_input_is_one_line_and_exit_2(tmp_path, capsys):
    base = ["train", "--objective", "mae", "--data", "demo", "--demo-per-class", "4", "--demo-image-size", "32", "--epochs", "1",
            "--batch-size", "8", "--workers", "0", "--no-progress"]  # fmt: skip
    assert main(base + ["--model", "resnet10t", "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "MAE needs a timm ViT" in err
    assert main(base + ["--model", VIT, "--patch-size", "8", "--final-size", "28", "--output", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "multiples of the patch size 8" in err and "--multiple-of 8" in err
    assert main(base + ["--model", VIT, "--mask-ratio", "1.5", "--output", str(tmp_path / "m")]) == 2
    assert "--mask-ratio" in capsys.readouterr().err


@pytest.mark.slow
def test_mae_under_ddp_two_cpu_processes_agree(tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", free_port(),
            "-m", "efficienttrain", "train", "--preset", "cpu", "--objective", "mae", "--model", VIT, "--patch-size", "8",
            "--multiple-of", "8", "--decoder-dim", "32", "--decoder-depth", "1", "--data", "demo", "--demo-per-class", "8",
            "--demo-val-per-class", "3", "--demo-image-size", "32", "--epochs", "2", "--batch-size", "8", "--workers", "0",
            "--output", str(out), "--no-progress", "--trace", "--threads", "1", "--knn-k", "5"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    finals = []
    for rank in (0, 1):
        lines = [json.loads(line) for line in (out / f"trace_rank{rank}.jsonl").read_text().splitlines()]
        finals.append([r["final_weights_sha256"] for r in lines if "final_weights_sha256" in r])
    assert len(finals[0]) == 1 and finals[0] == finals[1]
    assert json.loads((out / "summary.json").read_text())["objective"] == "mae"


def test_cli_notes_classification_flags_that_mae_ignores(tmp_path, capsys):
    from efficienttrain.cli import main

    code = main(["train", "--objective", "mae", "--mixup", "0.8", "--smoothing", "0.1", "--hflip", "0.5",
                 "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert "--objective mae ignores --mixup, --smoothing" in err
    assert "--hflip" not in err.split("ignores")[1].splitlines()[0]  # MAE's transform does flip
    assert code == 2  # the missing data path still stops the run
    main(["train", "--mixup", "0.8", "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "out")])
    assert "ignores" not in capsys.readouterr().err  # classification reads every one of them
