"""Bad input to ``efficienttrain train``: one line on stderr, exit status 2, nothing overwritten."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest

from efficienttrain.cli import main

from .conftest import assert_one_line_error, make_image_folder

BASE = ["train", "--preset", "cpu", "--model", "resnet10t", "--epochs", "1", "--batch-size", "4", "--workers", "0", "--no-progress", "--final-size", "16"]


def run_cli(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_missing_dataset_dir(tmp_path, capsys):
    code, _, err = run_cli(BASE + ["--data", str(tmp_path / "nope"), "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "dataset directory not found", "--data")


def test_missing_val_split(tmp_path, capsys):
    make_image_folder(tmp_path / "d", splits=("train",))
    code, _, err = run_cli(BASE + ["--data", str(tmp_path / "d"), "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "no val/ directory", "layout")


def test_empty_split(tmp_path, capsys):
    (tmp_path / "d" / "train").mkdir(parents=True)
    (tmp_path / "d" / "val").mkdir()
    code, _, err = run_cli(BASE + ["--data", str(tmp_path / "d"), "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "is empty")


def test_images_without_class_folders(tmp_path, capsys):
    root = make_image_folder(tmp_path / "d")
    for p in list((root / "train" / "class0").iterdir()):
        p.rename(root / "train" / p.name)
    for d in ("class1", "class2"):
        for p in (root / "train" / d).iterdir():
            p.unlink()
        (root / "train" / d).rmdir()
    (root / "train" / "class0").rmdir()
    code, _, err = run_cli(BASE + ["--data", str(root), "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "holds images directly", "one sub-directory per class")


def test_class_folders_without_images(tmp_path, capsys):
    root = tmp_path / "d"
    for split in ("train", "val"):
        (root / split / "a").mkdir(parents=True)
        (root / split / "a" / "notes.txt").write_text("x")
    code, _, err = run_cli(BASE + ["--data", str(root), "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "no images found")


def _corrupt(root: Path) -> Path:
    bad = root / "train" / "class1" / "1.png"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # truncated
    (root / "train" / "class2" / "junk.jpg").write_bytes(b"not an image at all")
    return bad


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--workers", "1"], ["--preload"]])
def test_corrupt_image_stops_with_path_and_hint(tmp_path, capsys, extra):
    root = make_image_folder(tmp_path / "d")
    _corrupt(root)
    code, _, err = run_cli(BASE + ["--data", str(root), "--output", str(tmp_path / "o")] + extra, capsys)
    assert_one_line_error(code, err, "cannot decode image", "--skip-bad-images")
    assert str(root) in err


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--workers", "1"], ["--preload"]])
def test_skip_bad_images_counts_them(tmp_path, capsys, extra):
    root = make_image_folder(tmp_path / "d")
    _corrupt(root)
    argv = BASE + ["--data", str(root), "--output", str(tmp_path / "o"), "--skip-bad-images", "--epochs", "3"] + extra
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    import json

    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["bad_images"] == 2  # two bad files, each drawn in each of 3 epochs, count once each
    assert "skipped 2 unreadable images" in out


def test_unknown_model(tmp_path, capsys):
    code, _, err = run_cli(BASE + ["--data", "demo", "--model", "resnet19", "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "unknown model 'resnet19'", "resnet18")


@pytest.mark.slow
def test_incompatible_sizes_suggest_multiple_of(tmp_path, capsys):
    argv = BASE + ["--data", "demo", "--demo-per-class", "2", "--model", "deit_tiny_patch16_224", "--final-size", "64", "--output", str(tmp_path / "o")]
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, "cannot take input size", "--multiple-of 16")
    assert not (tmp_path / "o").exists()


def test_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: resnet10t\nlearning_rate: 0.1\n")
    code, _, err = run_cli(["train", "--config", str(cfg)], capsys)
    assert_one_line_error(code, err, "unknown config key", "learning_rate", "lr")


def test_bad_flag_values(tmp_path, capsys):
    code, _, err = run_cli(BASE + ["--crop-op", "fourier"], capsys)
    assert_one_line_error(code, err, "--crop-op")
    code, _, err = run_cli(BASE + ["--curriculum", "missing.yaml"], capsys)
    assert_one_line_error(code, err, "not found")


def test_cifar_offline(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(BASE + ["--data", "cifar10", "--data-root", str(tmp_path / "c"), "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "cifar10 not found", "--download")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    code, _, err = run_cli(BASE + ["--data", "cifar10", "--data-root", str(tmp_path / "c"), "--download", "--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "cannot download cifar10", "offline")


@pytest.mark.slow
def test_failed_start_keeps_existing_checkpoint(tmp_path, capsys):
    out = tmp_path / "o"
    argv = BASE + ["--data", "demo", "--demo-per-class", "2", "--output", str(out)]
    assert run_cli(argv, capsys)[0] == 0
    before = (out / "last.pt").read_bytes()
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, "already holds a checkpoint", "--resume")
    code, _, err = run_cli(argv[:-2] + ["--output", str(out), "--model", "nonexistent_net", "--resume"], capsys)
    assert code == 2
    assert (out / "last.pt").read_bytes() == before


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["--lrr", "0.1"], ["unrecognized arguments: --lrr", "did you mean '--lr'"]),
        (["--batchsize=8"], ["did you mean '--batch-size'"]),
        (["--crop-op", "lowfrq"], ["--crop-op must be one of", "did you mean 'lowfreq'"]),
        (["--shrink-at", "worker"], ["did you mean 'workers'"]),
        (["--curriculum", "efficientrain"], ["unknown curriculum", "did you mean 'efficienttrain'"]),
        (["--opt", "sdg"], ["--opt must be one of", "did you mean 'sgd'"]),
        (["--preset", "cpuu"], ["unknown preset", "did you mean 'cpu'"]),
    ],
)
def test_misspelt_flags_and_values_get_a_did_you_mean(tmp_path, capsys, argv, needles):
    try:  # argparse exits for an unknown flag; the config's checks return 2
        code = main(["train", "--data", "demo", "--output", str(tmp_path / "o"), *argv])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert all(n in err for n in needles), err
    assert not (tmp_path / "o").exists()


def test_a_misspelt_config_key_names_the_close_keys(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("batchsize: 8\nepoch: 2\n")
    code, _, err = run_cli(["train", "--config", str(cfg)], capsys)
    assert_one_line_error(code, err, "'batchsize' (did you mean 'batch_size'", "'epoch' (did you mean 'epochs'")
    assert "valid keys are" not in err  # every key had a close match: no list of ninety
