"""CLI smoke tests for ``efficienttrain schedule`` and the error contract."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from efficienttrain.cli import main


def test_schedule_table(capsys):
    assert main(["schedule"]) == 0
    out = capsys.readouterr().out
    assert "0-180" in out and "180-240" in out and "240-300" in out
    assert "1.53x" in out


def test_schedule_json(capsys):
    assert main(["schedule", "--epochs", "100", "--final-size", "384", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["size"] for s in data["curriculum"]["stages"]] == [160, 272, 384]
    assert data["curriculum"]["stages"][0]["end"] == 60
    assert data["cost"]["kind"] == "pixel"


def test_schedule_etpp_tokens(capsys):
    assert main(["schedule", "--kind", "efficienttrain++", "--model", "deit_tiny_patch16_224", "--cost", "tokens"]) == 0
    out = capsys.readouterr().out
    assert "efficienttrain++ (deit)" in out and "budget 300" in out


def test_schedule_plot_and_save(tmp_path, capsys):
    png, yml = tmp_path / "s.png", tmp_path / "s.yaml"
    assert main(["schedule", "--kind", "linear", "--epochs", "30", "--plot", str(png), "--save", str(yml)]) == 0
    assert png.stat().st_size > 1000
    assert main(["schedule", "--kind", str(yml)]) == 0
    assert "linear: 30 epochs" in capsys.readouterr().out


def test_schedule_measured(capsys):
    assert main(["schedule", "--epochs", "10", "--final-size", "32", "--model", "resnet10t", "--cost", "measured", "--batch-size", "2", "--device", "cpu"]) == 0
    assert "measured model for resnet10t" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,match",
    [
        (["schedule", "--kind", "warp"], "unknown curriculum"),
        (["schedule", "--kind", "nothere.yaml"], "not found"),
        (["schedule", "--epochs", "-3"], "epochs must be a positive"),
        (["schedule", "--cost", "tokens"], "needs a model"),
    ],
)
def test_schedule_errors_are_one_line(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_curriculum_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {end: 10, size: 300}\nfinal_size: 224\n")
    assert main(["schedule", "--kind", str(bad)]) == 2
    assert "above the final size" in capsys.readouterr().err


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "efficienttrain", "schedule", "--epochs", "10"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "0-6" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "efficienttrain", "schedule", "--kind", "bogus"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_demo_table_puts_the_measured_speedup_first_and_labels_the_accuracy_gap():
    from efficienttrain.demo import comparison_table

    rows = [
        {"label": "baseline", "top1": 60.0, "train_time_s": 100.0, "theoretical_speedup": 1.0},
        {"label": "efficienttrain", "top1": 80.0, "train_time_s": 80.0, "theoretical_speedup": 1.52},
    ]
    table = comparison_table(rows)
    head, _, base, et = table.splitlines()[:4]
    assert head.index("speedup") < head.index("top-1 (demo data)")
    assert "1.25x" in et and et.index("1.25x") < et.index("80.00%")
    assert "against the ramp baseline" in table and "not evidence" in table


@pytest.mark.slow
def test_the_demo_runs_its_fair_control_and_plots_both_arms(tmp_path, capsys):
    import json

    import yaml

    from efficienttrain.cli import main

    argv = ["demo", "--image-size", "32", "--per-class", "4", "--val-per-class", "1", "--epochs", "2", "--output", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    rows = json.loads((tmp_path / "comparison.json").read_text())
    assert [r["label"] for r in rows] == ["ramp baseline", "EfficientTrain"]
    control = yaml.safe_load((tmp_path / "ramp-baseline" / "config.yaml").read_text())
    assert control["curriculum"] == "constant" and control["magnitude"] == "linear"  # only the crop differs
    assert (tmp_path / "accuracy_vs_time.png").stat().st_size > 1000
    assert "speedup" in capsys.readouterr().out
