"""benchmarks/step_time.py: it finds runs of any length and counts the FLOPs of the run's own model."""

from __future__ import annotations

import pytest

from .conftest import load_benchmark

step_time = load_benchmark("step_time.py")


def test_vit_pair_of_another_length_is_found_and_counted_with_its_model_kwargs():
    from efficienttrain.runner.build import build_curriculum

    configs = step_time.schedule_configs(["vit-small-ramp-16ep", "vit-small-et-16ep"], "demo", epochs=16)
    assert configs["vit-small-ramp-16ep"].epochs == 16

    # One invented time per image at every size: rho then compares compute alone.
    times = {name: {s: [1e-3] for s in build_curriculum(cfg).sizes} for name, cfg in configs.items()}
    out = step_time.summarise(configs, times, "vit-small-ramp-16ep", train_images=100)
    small = out["vit-small-ramp-16ep"]["sizes"]["112"]["flops_per_image"]
    # deit_tiny's 12 blocks of 16-px patches cost under 1.5 GFLOPs fwd+bwd at 112 px (49 tokens); the preset's
    # 6 blocks of 8-px patches (196 tokens) cost several times more: the count must see the kwargs.
    assert 2e9 < small < 8e9
    assert out["vit-small-ramp-16ep"]["rho"] == pytest.approx(1.0)
    # Equal time per image but fewer FLOPs per image in the small stages: more seconds per FLOP.
    assert out["vit-small-et-16ep"]["rho"] < 1.0


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(SystemExit, match="unknown schedule"):
        step_time.schedule_configs(["vit-small-ramp-9ep"], "demo", epochs=16)


def test_the_tuned_schedules_are_found_at_their_magnitude():
    configs = step_time.schedule_configs(["et-m3-8ep", "etpp-m3-b4", "peer-proglearn-m6-8ep"], "demo")
    assert configs["et-m3-8ep"].randaugment.startswith("rand-m3-") and configs["et-m3-8ep"].curriculum == "efficienttrain"
    assert configs["etpp-m3-b4"].curriculum == "efficienttrain++" and configs["etpp-m3-b4"].epochs == 4
    assert configs["peer-proglearn-m6-8ep"].randaugment.startswith("rand-m6-") and configs["peer-proglearn-m6-8ep"].crop_op == "bilinear"


def test_final_size_check_compares_the_same_work_only():
    def sched(sizes: dict[int, tuple[float, float]]) -> dict:
        return {"sizes": {str(s): {"ms_per_image": ms, "flops_per_image": fl} for s, (ms, fl) in sizes.items()}}

    result = {
        "control": sched({112: (20.0, 3e9)}),
        "et": sched({80: (10.0, 1.5e9), 112: (18.0, 3e9)}),
        "other-model": sched({112: (30.0, 5e9)}),
        "no-final": sched({96: (15.0, 2e9)}),
    }
    check = step_time.final_size_check(result, "control")
    assert check == {"control": 1.0, "et": pytest.approx(0.9)}
    text = step_time.markdown({**{k: {**v, "seconds_per_pflop": 1.0, "rho": 1.0, "predicted_train_minutes": 1.0, "sizes": {s: {**x, "epochs": 1.0} for s, x in v["sizes"].items()}} for k, v in result.items()}},
                              {"rounds": 1, "batches": 1, "load_start": 0, "load_end": 0, "control": "control"})  # fmt: skip
    assert "et 0.900" in text and "other-model" not in text.split("Noise check")[1]


def test_render_rewrites_the_markdown_from_the_json(tmp_path, monkeypatch):
    import json
    import sys

    result = {"control": {"sizes": {"112": {"epochs": 8.0, "ms_per_image": 20.0, "flops_per_image": 3e9}}, "seconds_per_pflop": 1.0, "rho": 1.0, "predicted_train_minutes": 2.0}}
    meta = {"rounds": 2, "batches": 3, "load_start": 0.1, "load_end": 0.2, "control": "control"}
    (tmp_path / "st.json").write_text(json.dumps({"meta": meta, "schedules": result}))
    monkeypatch.setattr(sys, "argv", ["step_time.py", "--render", "--out", str(tmp_path), "--name", "st"])
    assert step_time.main() == 0
    assert "| control | 112 | 8.00 | 20.00 | 3.000 |" in (tmp_path / "st.md").read_text()


@pytest.mark.slow
def test_recount_keeps_the_timings_and_replaces_the_flops(tmp_path, monkeypatch):
    import json
    import sys

    from efficienttrain.runner.build import build_curriculum

    names = ["vit-small-ramp-16ep", "vit-small-et-16ep"]
    configs = step_time.schedule_configs(names, "demo", epochs=16)
    times = {n: {s: [2e-3, 4e-3] for s in build_curriculum(cfg).sizes} for n, cfg in configs.items()}
    result = step_time.summarise(configs, times, names[0], train_images=8474)
    for r in result.values():  # an older count: half the FLOPs
        for v in r["sizes"].values():
            v["flops_per_image"] /= 2
    meta = {"rounds": 2, "batches": 3, "load_start": 0.1, "load_end": 0.2, "control": names[0]}
    (tmp_path / "st.json").write_text(json.dumps({"meta": meta, "schedules": result}))
    monkeypatch.setattr(sys, "argv", ["step_time.py", "--recount", "--data", "demo", "--epochs", "16", "--out", str(tmp_path), "--name", "st"])
    assert step_time.main() == 0
    saved = json.loads((tmp_path / "st.json").read_text())
    fresh = step_time.summarise(configs, times, names[0], train_images=8474)
    for n in names:
        assert saved["schedules"][n]["sizes"]["112"]["flops_per_image"] == fresh[n]["sizes"]["112"]["flops_per_image"]
        assert saved["schedules"][n]["sizes"]["112"]["ms_per_image_all"] == [2.0, 4.0]
        assert saved["schedules"][n]["predicted_train_minutes"] == pytest.approx(result[n]["predicted_train_minutes"])
    assert "flops_recounted" in saved["meta"]

    monkeypatch.setattr(sys, "argv", ["step_time.py", "--recount", "--data", "demo", "--epochs", "8", "--out", str(tmp_path), "--name", "st"])
    with pytest.raises(SystemExit, match="unknown schedule|--epochs"):
        step_time.main()
