"""Tests of ``efficienttrain analyze``: linear CKA, filtered evaluation, Proposition 1, checkpoints, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from efficienttrain import DemoDataset
from efficienttrain.analysis import (
    apply_filter,
    build_eval_set,
    cka_matrix,
    evaluate_series,
    filtered_accuracy,
    linear_cka,
    load_model,
    make_settings,
    parse_radii,
    remove_window,
    resolve_checkpoints,
    spectral_leakage,
)
from efficienttrain.analysis.checkpoints import checkpoint_epoch, cost_until, infer_num_classes
from efficienttrain.cli import main
from efficienttrain.errors import UserError
from efficienttrain.frequency import low_frequency_crop
from efficienttrain.models import create_model
from efficienttrain.rundir import export_safetensors, save_checkpoint
from efficienttrain.runner.config import make_config

from .conftest import assert_one_line_error, tiny_config

SIZE = 32


# -- fixtures ---------------------------------------------------------------------------------
def _config() -> dict:
    return make_config(
        {
            "data": "demo",
            "demo_per_class": 8,
            "demo_val_per_class": 3,
            "demo_image_size": SIZE,
            "model": "resnet10t",
            "epochs": 3,
            "workers": 0,
        },
        preset="cpu",
    ).to_dict()


def _curriculum() -> dict:
    from efficienttrain.curricula import efficienttrain

    return efficienttrain(3, SIZE).to_dict()


def _write_run(root: Path, epochs=(1, 2, 3), seed: int = 0) -> Path:
    """A run directory as the runner leaves it with --snapshot-every 1 (freshly initialised weights)."""
    cfg, cur = _config(), _curriculum()
    model = None
    for e in epochs:
        torch.manual_seed(seed * 100 + e)
        model = create_model("resnet10t", 10, img_size=SIZE)
        save_checkpoint(
            {"config": cfg, "curriculum": cur, "model": model.state_dict(), "epoch": e, "history": [], "snapshot": True},
            root / f"epoch_{e:03d}.pt",
        )
    assert model is not None
    save_checkpoint(
        {"config": cfg, "curriculum": cur, "model": model.state_dict(), "sampler": {"epoch": epochs[-1]}, "history": []}, root / "last.pt"
    )
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return _write_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def evalset():
    return build_eval_set("demo", size=SIZE, demo_val_per_class=3, demo_image_size=SIZE, limit=20)


# -- linear CKA -------------------------------------------------------------------------------
def _features(n: int = 60, p: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # Correlated columns, like real features (a random mixing of a few latent factors).
    return torch.randn(n, 6, generator=g) @ torch.randn(6, p, generator=g) + 0.3 * torch.randn(n, p, generator=g)


def test_cka_of_identical_features_is_one():
    x = _features()
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_invariant_to_orthogonal_transform_scaling_and_shift():
    x = _features()
    q, _ = torch.linalg.qr(torch.randn(x.shape[1], x.shape[1], generator=torch.Generator().manual_seed(1)))
    y = _features(seed=2)
    base = linear_cka(x, y)
    # float32 features: x @ q rounds each entry (~1e-7 relative), which moves CKA by ~1e-9..1e-8
    # depending on the CPU's matmul kernels; 1e-6 still fails for any non-invariance.
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-6)
    assert linear_cka(7.5 * x, 0.01 * y) == pytest.approx(base, abs=1e-6)
    assert linear_cka(x + 3.0, y - 5.0) == pytest.approx(base, abs=1e-6)  # centring
    assert linear_cka(x, x @ q * 3.0) == pytest.approx(1.0, abs=1e-9)


def test_cka_symmetric_bounded_and_low_for_unrelated_features():
    x, y = _features(seed=3), _features(p=40, seed=4)
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x), abs=1e-12)
    for seed in range(5):
        v = linear_cka(_features(seed=seed), _features(p=13, seed=seed + 10))
        assert 0.0 <= v <= 1.0
    # Independent features of many inputs share little: CKA is small.
    g = torch.Generator().manual_seed(5)
    assert linear_cka(torch.randn(2000, 8, generator=g), torch.randn(2000, 8, generator=g)) < 0.05


def test_cka_gram_and_feature_forms_agree():
    # Few inputs with many features takes the n x n Gram path, many inputs the p x q path.
    x, y = _features(n=10, p=200, seed=6), _features(n=10, p=150, seed=7)
    xd, yd = x.double() - x.double().mean(0), y.double() - y.double().mean(0)
    direct = (
        torch.linalg.matrix_norm(yd.t() @ xd) ** 2 / (torch.linalg.matrix_norm(xd.t() @ xd) * torch.linalg.matrix_norm(yd.t() @ yd))
    ).item()
    assert linear_cka(x, y) == pytest.approx(direct, rel=1e-10)


def test_cka_errors_and_degenerate_input():
    with pytest.raises(ValueError, match="same inputs"):
        linear_cka(torch.randn(5, 3), torch.randn(6, 3))
    with pytest.warns(UserWarning, match="constant"):
        assert math.isnan(linear_cka(torch.ones(5, 3), torch.randn(5, 3)))


def test_cka_matrix_shape_and_diagonal():
    feats = [_features(seed=s) for s in range(3)]
    m = cka_matrix(feats, feats[:2])
    assert m.shape == (3, 2)
    assert torch.allclose(m[:2].diagonal(), torch.ones(2, dtype=torch.float64))


# -- filters ----------------------------------------------------------------------------------
def test_parse_radii():
    assert parse_radii("4, 8,16") == [4.0, 8.0, 16.0]
    assert parse_radii(["2", "2.5", "2"]) == [2.0, 2.5]
    for bad in ("-3", "x", "", "nan"):
        with pytest.raises(UserError, match="--radii"):
            parse_radii(bad)


def test_filter_spaces_agree_for_low_pass_and_differ_by_the_mean_for_high_pass():
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    x = (torch.rand(2, 3, SIZE, SIZE) - mean) / std
    low_n = apply_filter(x, "low", 5, space="normalized")
    low_p = apply_filter(x, "low", 5, space="pixel", mean=mean, std=std)
    assert torch.allclose(low_n, low_p, atol=1e-5)
    high_n = apply_filter(x, "high", 5, space="normalized")
    high_p = apply_filter(x, "high", 5, space="pixel", mean=mean, std=std)
    assert torch.allclose(high_p - high_n, (-mean / std).expand_as(high_n), atol=1e-5)
    assert high_n.mean(dim=(-2, -1)).abs().max() < 1e-5  # zero-mean in normalised space
    # Beyond the spectrum's corners (size / sqrt(2)) low-pass is the identity, high-pass zero.
    assert torch.allclose(apply_filter(x, "low", SIZE, space="normalized"), x, atol=1e-5)
    assert apply_filter(x, "high", SIZE, space="normalized").abs().max() < 1e-5


@pytest.mark.slow
def test_filtered_accuracy_table_and_sanity(evalset):
    torch.manual_seed(0)
    model = create_model("resnet10t", 10, img_size=SIZE).eval()
    settings = make_settings([2.0, 8.0, float(SIZE)])
    rows = filtered_accuracy(model, evalset, settings, batch_size=8)
    assert [(r["filter"], r["radius"]) for r in rows] == settings
    assert len(rows) == 1 + 2 * 3 and all(r["images"] == len(evalset) == 20 for r in rows)
    by = {(r["filter"], r["radius"]): r for r in rows}
    # A radius past the corners keeps every frequency: the same predictions as the original.
    assert by[("low", float(SIZE))]["correct"] == by[("none", None)]["correct"]
    assert all(0.0 <= r["top1"] <= 100.0 for r in rows)


def test_filtered_accuracy_of_a_model_that_only_sees_the_mean(evalset):
    """A classifier of the mean colour: low-pass filters never change its answer, high-pass ones always do."""

    class MeanColour(torch.nn.Module):
        num_classes = 10

        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(3, 10)
            torch.nn.init.normal_(self.fc.weight, std=5.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.mean(dim=(-2, -1)))

    torch.manual_seed(0)
    model = MeanColour()
    rows = filtered_accuracy(model, evalset, make_settings([0.0, 3.0, 10.0]), batch_size=8)
    by = {(r["filter"], r["radius"]): r["correct"] for r in rows}
    assert by[("low", 0.0)] == by[("low", 3.0)] == by[("low", 10.0)] == by[("none", None)]
    # Without the mean every input looks the same to it: it answers the bias's class for all.
    targets = torch.cat([y for _, y in evalset.batches(64)])
    expected = int((targets == int(model.fc.bias.argmax())).sum())
    assert by[("high", 0.0)] == by[("high", 10.0)] == expected


@pytest.mark.slow
def test_evaluate_series_over_a_run_directory(run_dir, evalset):
    result = evaluate_series([run_dir], evalset, make_settings([4.0, 64.0]), batch_size=10, progress=False)
    assert [c["epoch"] for c in result.checkpoints] == [1, 2, 3]
    assert len(result.rows) == 3 * 5
    assert result.checkpoints[0]["cost"] == pytest.approx(cost_until(_curriculum(), 1))
    for i in range(3):
        assert result.accuracy(i, "low", 64.0) == result.accuracy(i, "none")
    assert "epoch 2" in result.table() and "low r=4" in result.table(transpose=True)


def test_class_count_mismatch_is_a_user_error(tmp_path, evalset):
    model = create_model("resnet10t", 7, img_size=SIZE)
    with pytest.raises(UserError, match="7 classes"):
        filtered_accuracy(model, evalset, make_settings([4.0]))


# -- Proposition 1 ----------------------------------------------------------------------------
def _demo_images(n: int = 6) -> torch.Tensor:
    ds = DemoDataset("val", per_class=1, image_size=SIZE)
    return torch.from_numpy(ds.images[:n]).permute(0, 3, 1, 2).float() / 255.0


def test_remove_window_leaves_nothing_for_the_crop():
    x = _demo_images(2).double()
    for b in (15, 16, 24):
        rest = remove_window(x, b)
        assert low_frequency_crop(rest, b).abs().max() < 1e-12
        # What is removed is exactly what the crop sees: cropping the removed part gives the crop.
        assert torch.allclose(low_frequency_crop(x - rest, b), low_frequency_crop(x, b), atol=1e-12)


def test_leakage_is_zero_for_the_crop_and_not_for_down_sampling():
    result = spectral_leakage(_demo_images(), [16, 24])
    for b in (16, 24):
        assert result.value("lowfreq", b) < 1e-20
        assert result.value("lowfreq", b, "transmission") < 1e-20
        assert result.value("nearest", b, "transmission") > 0.5  # aliasing folds it all back
        # Down-sampling lets through a share of the outside energy that is small on smooth
        # images but 17 or more orders of magnitude above the crop's rounding-level leak.
        for op in ("bilinear", "bicubic", "area", "lanczos"):
            assert result.value(op, b) > 1e-4, (op, b)
    assert "lowfreq" in result.table() and "B=24" in result.table()


def test_leakage_in_float32_is_at_rounding_level():
    result = spectral_leakage(_demo_images(2), [16], ["lowfreq", "bilinear"], dtype=torch.float32)
    assert result.value("lowfreq", 16) < 1e-9
    assert result.value("bilinear", 16) > 1e-3


# -- checkpoints ------------------------------------------------------------------------------
def test_resolve_checkpoints_orders_snapshots_and_skips_a_duplicate_last(run_dir, tmp_path):
    assert [p.name for p in resolve_checkpoints([run_dir])] == ["epoch_001.pt", "epoch_002.pt", "epoch_003.pt"]
    files = [run_dir / "epoch_003.pt", run_dir / "epoch_001.pt", run_dir / "epoch_003.pt"]
    assert resolve_checkpoints(files) == files[:2]
    only_last = tmp_path / "only-last"
    only_last.mkdir()
    (only_last / "last.pt").write_bytes((run_dir / "last.pt").read_bytes())
    assert resolve_checkpoints([only_last]) == [only_last / "last.pt"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="--snapshot-every"):
        resolve_checkpoints([tmp_path / "empty"])
    with pytest.raises(UserError, match="not found"):
        resolve_checkpoints([tmp_path / "missing.pt"])


def test_load_model_from_runner_checkpoint_safetensors_and_state_dict(run_dir, tmp_path):
    lm = load_model(run_dir / "epoch_002.pt")
    assert (lm.name, lm.num_classes, lm.image_size, lm.epoch, lm.label) == ("resnet10t", 10, SIZE, 2, "epoch 2")
    state = lm.model.state_dict()
    export_safetensors(state, tmp_path / "w.safetensors", {"model": "resnet10t", "num_classes": "10", "final_size": str(SIZE)})
    from_st = load_model(tmp_path / "w.safetensors")
    assert from_st.num_classes == 10 and torch.equal(from_st.model.fc.weight, lm.model.fc.weight)
    export_safetensors(state, tmp_path / "bare.safetensors")
    with pytest.raises(UserError, match="--model"):
        load_model(tmp_path / "bare.safetensors")
    assert load_model(tmp_path / "bare.safetensors", model="resnet10t").num_classes == 10  # read off fc.weight
    torch.save(state, tmp_path / "plain.pth")
    assert load_model(tmp_path / "plain.pth", model="resnet10t").epoch is None
    with pytest.raises(UserError, match="do not fit"):
        load_model(tmp_path / "plain.pth", model="resnet18")
    with pytest.raises(UserError, match="EMA"):
        load_model(run_dir / "epoch_001.pt", ema=True)


def test_epoch_and_class_inference():
    assert checkpoint_epoch({"epoch": 4}) == 4
    assert checkpoint_epoch({"sampler": {"epoch": 7}}) == 7
    assert checkpoint_epoch({"history": [{"epoch": 1}, {"epoch": 2}]}) == 2
    assert checkpoint_epoch({}, "runs/x/epoch_012.pt") == 12
    assert checkpoint_epoch({}, "weights.pt") is None
    state = create_model("resnet10t", 13).state_dict()
    assert infer_num_classes("resnet10t", state) == 13


@pytest.mark.slow
def test_snapshots_of_a_real_run_are_analysable(tmp_path, capsys):
    """The runner's own snapshot (one epoch of training) goes through `analyze filtered`; last.pt repeats it."""
    from efficienttrain.runner import Trainer

    cfg = tiny_config(tmp_path, epochs=1, demo_per_class=4, snapshot_every=1)
    Trainer(cfg).run()
    code = main(["analyze", "filtered", cfg.output, "--radii", "4,64", "--limit", "10", "--out", str(tmp_path / "a"), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "a" / "filtered.json").read_text())
    assert [(Path(c["path"]).name, c["epoch"]) for c in data["checkpoints"]] == [("epoch_001.pt", 1)]
    assert data["meta"]["images"] == 10 and data["meta"]["size"] == SIZE


# -- command line -----------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_filtered(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["analyze", "filtered", str(run_dir / "epoch_001.pt"), str(run_dir / "epoch_003.pt"),
                 "--radii", "4,64", "--limit", "10", "--batch-size", "10", "--out", str(out), "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "low r=64" in captured.out and "epoch 3" in captured.out
    for name in ("filtered.csv", "filtered.json", "filtered.png"):
        assert (out / name).stat().st_size > 0
    lines = (out / "filtered.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 2 * 5


def test_cli_filtered_match_highpass(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["analyze", "filtered", str(run_dir / "epoch_003.pt"), "--radii", "4", "--filters", "low",
                 "--match-highpass", "6", "--limit", "10", "--out", str(out), "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Table 1" in captured.out
    match = json.loads((out / "filtered.json").read_text())["meta"]["match_highpass"]
    assert match["low_radius"] == 6.0 and 0 <= match["high_radius"] <= math.ceil(SIZE / math.sqrt(2))


@pytest.mark.slow
def test_cli_cka(run_dir, tmp_path, capsys):
    other = _write_run(tmp_path / "other", epochs=(1, 2), seed=1)
    out = tmp_path / "out"
    code = main(
        ["analyze", "cka", "--a", str(run_dir), "--b", str(other), "--limit", "12", "--axis", "cost", "--out", str(out), "--no-progress"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads((out / "cka.json").read_text())
    assert np.array(data["matrix"]).shape == (3, 2)
    assert all(0.0 <= v <= 1.0 for row in data["matrix"] for v in row)
    assert (out / "cka.png").stat().st_size > 0 and (out / "cka.csv").stat().st_size > 0
    # One checkpoint against itself: a single number, exactly 1.
    code = main(["analyze", "cka", "--a", str(run_dir / "epoch_002.pt"), "--limit", "12", "--out", str(out), "--no-progress"])
    assert code == 0 and "= 1.0000" in capsys.readouterr().out


def test_cli_spectra(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["analyze", "spectra", "--size", str(SIZE), "--limit", "4", "--show", "2", "--sizes", "16,24", "--radii", "2,4", "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "lowfreq" in captured.out and "B=24" in captured.out
    for name in ("spectra.png", "leakage.png", "leakage.csv", "leakage.json"):
        assert (out / name).stat().st_size > 0
    rows = json.loads((out / "leakage.json").read_text())["rows"]
    assert max(r["leak"] for r in rows if r["op"] == "lowfreq") < 1e-20


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["analyze", "filtered", "{tmp}/nope.pt"], ("not found", "nope.pt")),
        (["analyze", "filtered", "{run}", "--radii", "4,-2"], ("bad radius", "--radii")),
        (["analyze", "cka", "--a", "{tmp}"], ("no checkpoints", "--snapshot-every")),
        (["analyze", "spectra", "--size", "32", "--sizes", "40", "--limit", "2"], ("crop size 40", "--sizes")),
    ],
)
def test_cli_errors_are_one_line(argv, needles, run_dir, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(run_dir)) for a in argv]
    code = main(argv + ["--out", str(tmp_path / "o")])
    assert_one_line_error(code, capsys.readouterr().err, *needles)
    assert not (tmp_path / "o").exists()
