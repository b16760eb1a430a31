"""benchmarks/experiments.py: every run of every group is a config the runner accepts, and the
transformer groups follow the recipes they name (MAE's scaled lr, one fine-tune recipe)."""

from __future__ import annotations

import pytest

from efficienttrain.runner.config import make_config

from .conftest import load_benchmark

experiments = load_benchmark("experiments.py")


def config_of(group: str, name: str, values: dict):
    base = experiments.CIFAR if group in ("cifar", "transfer") else experiments.IMAGENETTE
    return make_config({**base, **values, "data": "demo", "output": "unused"}, preset="cpu")


def test_every_run_is_a_valid_config():
    table = experiments.groups(8, "const-m3", "elsewhere")
    assert "vit-small" in table
    seen: dict[str, dict] = {}
    for runs in table.values():
        for name, values in runs:
            # A name in two groups (const-m3-8ep-s0 is a control and a frontier point) is one run.
            assert seen.setdefault(name, values) == values, f"{name} names two different runs"
    for group, runs in table.items():
        for name, values in runs:
            config_of(group, name, values)


def test_the_vit_pair_is_the_pilot_recipe_at_the_preset_lr():
    """The pair trains the pilot's recipe (the vit-small preset) at the lr the preset ships; the pilot varies only the lr."""
    table = experiments.groups(8, None)
    pilot = {name: config_of("vit-pilot", name, values) for name, values in table["vit-pilot"]}
    lr = make_config({"data": "demo"}, preset="vit-small").lr
    assert lr in experiments.VIT_PILOT_LRS
    (picked,) = [cfg for cfg in pilot.values() if cfg.lr == lr]
    _, pair_values = table["vit-small"][0]
    pair = config_of("vit-small", "pair", pair_values)
    differ = {"epochs", "val_split", "output", "name"}
    assert {k: v for k, v in vars(pair).items() if k not in differ} == {k: v for k, v in vars(picked).items() if k not in differ}


def test_mae_pretraining_scales_mae_base_lr_to_the_batch():
    (_, values), _ = experiments.groups(8, None)["mae"]
    cfg = config_of("mae", "mae-base-8ep", values)
    assert cfg.resolved_lr(1) == pytest.approx(1.5e-4 * 64 / 256)
    assert cfg.resolved_warmup(8) >= 1.0


def test_fine_tunes_share_one_recipe_and_start_from_their_sources():
    runs = dict(experiments.groups(8, None, "src")["mae-finetune"])
    assert set(runs) == {"mae-finetune-base-4ep-s0", "mae-finetune-et-4ep-s0", "mae-finetune-scratch-4ep-s0"}
    recipes = [{k: v for k, v in values.items() if k != "init_from"} for values in runs.values()]
    assert all(r == recipes[0] for r in recipes)
    assert runs["mae-finetune-et-4ep-s0"]["init_from"] == "src/mae-et-8ep/model.safetensors"
    assert "init_from" not in runs["mae-finetune-scratch-4ep-s0"]
    cfg = config_of("mae-finetune", "x", recipes[0])
    assert cfg.layer_decay == 0.75 and cfg.resolved_lr(1) == pytest.approx(2.5e-4)


def test_each_transfer_fine_tune_starts_from_its_own_seed():
    for name, values in experiments.groups(8, None, "src")["transfer"]:
        seed = values["seed"]
        assert name.endswith(f"-s{seed}")
        if "scratch" not in name:
            assert values["init_from"].endswith(f"-s{seed}/last.pt")
            assert values["new_head"]  # CIFAR-10's labels are not Imagenette's, whatever the source file records


def test_every_vit_run_trains_in_bf16_and_the_rest_as_before():
    """The small ViT's runs share one precision (VIT_PRECISION); the ConvNet runs keep fp32."""
    table = experiments.groups(8, "const-m3", "src")
    for group in ("vit-pilot", "vit-small", "mae", "mae-finetune"):
        for name, values in table[group]:
            assert config_of(group, name, values).amp == "bf16", name
    for group in ("frontier", "convnext", "transfer"):
        for name, values in table[group]:
            assert config_of(group, name, values).amp == "auto", name


def test_each_constant_control_has_three_seeds_with_the_controls_seed_0():
    table = experiments.groups(8, "const-m3")
    controls = dict(table["controls"])
    for m in ("m6", "m9"):
        runs = dict(table[m])
        assert sorted(runs) == [f"const-{m}-8ep-s{s}" for s in (0, 1, 2)]
        assert runs[f"const-{m}-8ep-s0"] == controls[f"const-{m}-8ep-s0"]


def test_only_with_a_name_of_no_run_is_refused(monkeypatch, tmp_path, capsys):
    argv = ["experiments.py", "--data", str(tmp_path), "--out", str(tmp_path / "runs"), "--group", "controls", "--only", "const-m6-8ep-s1"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        experiments.main()
    assert exit_info.value.code == 2
    assert "const-m6-8ep-s1" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_tuned_groups_ramp_to_the_tuned_magnitude_and_share_the_controls_seeds():
    """Issue 38: EfficientTrain's ramp ends at the tuned magnitude in every tuned group, and the m = 9 runs keep their names."""
    from efficienttrain.runner.build import build_curriculum

    table = experiments.groups(8, "const-m3", "elsewhere", magnitude=6)
    assert [n for n, _ in table["et-magnitude"]] == [f"et-m{m}-8ep-s{s}" for m in (3, 6) for s in (0, 1, 2)]
    for group in ("et-tuned", "peers-tuned", "etpp-tuned"):
        assert len(table[group]) in (6, 9)
        for name, values in table[group]:
            cfg = config_of(group, name, values)
            assert build_curriculum(cfg).max_magnitude == 6, name
    assert experiments.et_name(9, 8) == "et-8ep"
    assert "peer-composer-10.17ep-s0" in dict(experiments.groups(8, "const-m3", magnitude=3)["peers-tuned"])


def test_the_tuned_magnitude_is_picked_by_the_controls_rule(tmp_path):
    """The highest mean of three completed seeds over m in {3, 6, 9}; an unfinished choice is refused, not guessed."""
    import json

    def record(name, top1, completed=True):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"final_top1": top1, "completed": completed}))

    for s, (m3, m6, m9) in enumerate([(76.0, 75.0, 72.0), (77.0, 75.5, 71.0), (75.5, 76.0, 71.5)]):
        record(f"et-m3-8ep-s{s}", m3)
        record(f"et-m6-8ep-s{s}", m6)
    with pytest.raises(SystemExit, match="missing: 9"):
        experiments.best_magnitude(tmp_path, 8)
    for s, m9 in enumerate((72.0, 71.0, 71.5)):
        record(f"et-8ep-s{s}", m9, completed=s != 2)
    with pytest.raises(SystemExit, match="missing: 9"):  # a seed that did not complete does not count
        experiments.best_magnitude(tmp_path, 8)
    (tmp_path / "et-8ep-s2" / "summary.json").write_text(json.dumps({"final_top1": 71.5, "completed": True}))
    assert experiments.best_magnitude(tmp_path, 8) == 3
