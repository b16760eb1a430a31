"""benchmarks/report.py's verdicts: EfficientTrain++ against its target, and schedules at equal compute."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import load_benchmark


@pytest.fixture(scope="module")
def report():
    return load_benchmark("report.py")


def point(report, label, length, accs, pflop):
    n = len(accs)
    return report.Point(label, length, list(accs), [1.0] * n, [pflop * 1e15] * n, [True] * n)


def test_target_word_reads_the_interval_not_the_estimate(report):
    assert report.target_word(2.05, 2.4, 2.0) == "met"
    assert report.target_word(1.5, 1.95, 2.0) == "missed"
    assert report.target_word(1.8, 2.2, 2.0).startswith("undecided")


def test_equal_compute_verdicts_use_two_standard_errors(report):
    control = [point(report, "c-4ep", 4, [60.0], 1.0), point(report, "c-8ep", 8, [80.0], 2.0)]
    reference = point(report, "et-8ep", 8, [75.0], 1.5)
    near = point(report, "peer-a", 8, [76.0], 1.5)  # 1 point from both: a tie (2 SE of the difference is about 3.8)
    low = point(report, "peer-b", 8, [62.0], 1.5)  # far below both
    outside = point(report, "peer-c", 8, [85.0], 3.0)  # beyond the control's largest compute
    lines, rows = report.equal_compute_rows(control, reference, [("a", near), ("b", low), ("c", outside), ("et", reference)])
    by = {r["schedule"]: r for r in rows}
    assert 60.0 < by["a"]["control_fit_top1"] < 80.0
    assert by["a"]["versus_reference"] == "tie"
    assert by["b"]["versus_reference"] == "lower" and by["b"]["versus_control"] == "lower"
    assert by["c"]["control_fit_top1"] is None and by["c"]["versus_control"] == "outside the control's range"
    assert by["et"]["versus_reference"] == "-"
    assert len(lines) == 2 + 4


def test_measured_wall_speedup_uses_only_runs_that_ran_alone(report):
    def pt(label, accs, minutes, clean):
        return report.Point(label, 8, list(accs), list(minutes), [1e15] * len(accs), list(clean))

    # control: 10 min to 70, 20 min to 80 alone; the shared seeds (slow, and worse) must not count
    control = [pt("c4", [70.0, 60.0], [10.0, 99.0], [True, False]), pt("c8", [80.0, 50.0], [20.0, 99.0], [True, False])]
    et = pt("et", [75.0, 75.0], [10.0, 12.0], [True, True])
    assert report.measured_wall_speedup(control, et) == pytest.approx(15.0 / 11.0)
    shared = pt("x", [75.0], [10.0], [False])
    assert report.measured_wall_speedup(control, shared) is None
    assert report.measured_wall_speedup([control[0], pt("c8", [80.0], [20.0], [False])], et) is None
    assert report.measured_wall_speedup(control, pt("hi", [90.0], [5.0], [True])) is None  # above the control: no time to reach


def test_rho_from_several_step_time_results(report, tmp_path):
    """Each step-time result carries its own control; they combine, the first given wins a repeat."""
    first, second = tmp_path / "step_time.json", tmp_path / "step_time_peers.json"
    first.write_text(json.dumps({"schedules": {"const-m3-8ep": {"rho": 1.0}, "et-8ep": {"rho": 0.98}}}))
    second.write_text(json.dumps({"schedules": {"const-m3-8ep": {"rho": 1.0}, "et-8ep": {"rho": 0.5}, "peer-composer-10.17ep": {"rho": 1.12}}}))
    rho = report.load_rho([first, second, tmp_path / "missing.json"])
    assert rho == {"const-m3-8ep": 1.0, "et-8ep": 0.98, "peer-composer-10.17ep": 1.12}
    point = report.Point("peer-composer-10.17ep", 10.17, [77.0], [1.0], [1e15], [True])
    assert report.rho_for(point, rho) == 1.12
    assert report.step_time_paths(["a.json", "b.json"]) == [Path("a.json"), Path("b.json")]


def test_pair_sections_find_every_length_and_the_transfer_reference(report):
    """Lengths come from the run names (a family without its partner run is not reported); transfer compares with the control's source."""
    names = ["mae-base-8ep", "mae-et-8ep", "mae-base-4ep", "vit-small-ramp-16ep-s0", "vit-small-et-16ep-s0", "vit-small-ramp-20ep-s0",
             "mae-finetune-base-4ep-s0", "mae-finetune-scratch-4ep-s0", "vit-pilot-lr0.00025-4ep", "vit-pilot-lr0.0005-4ep",
             "vit-small-et-fp32-16ep-s0", "vit-small-et-growth4-fp32-16ep-s0", "vit-small-et-fp32-20ep-s0"]
    runs = {n: object() for n in names}
    lengths = report.run_lengths(runs)
    assert lengths == {"mae": [8], "mae-finetune": [4], "vit-small": [16], "vit-pilot": [4], "growth-vit": [16]}
    specs = {key: (rows, ref) for key, _, rows, ref in report._pair_specs(runs, 8, lengths)}
    assert "vit-small-et-16ep-s0" in [n for n, _ in specs["vit_small_16ep"][0]]
    assert specs["vit_small_16ep"][1]("vit-small-et-16ep-s1") == "vit-small-ramp-16ep-s1"
    assert specs["mae_finetune_4ep"][1]("mae-finetune-scratch-4ep-s0") == "mae-finetune-base-4ep-s0"
    # larger early batches: each grown run against the same seed without growth
    assert specs["growth"][1]("et-growth4-8ep-s1") == "et-8ep-s1" and ("et-growth4-8ep-s0", "--batch-growth 4, seed 0") in specs["growth"][0]
    assert specs["vit_small_growth_16ep"][1]("vit-small-et-growth4-fp32-16ep-s1") == "vit-small-et-fp32-16ep-s1"
    rows, ref = specs["transfer"]
    assert {n for n, _ in rows} == {f"transfer-{src}-s{s}" for src in ("const-m3-12ep", "et-12ep", "scratch") for s in (1, 2)}
    assert ref("transfer-et-12ep-s2") == ref("transfer-scratch-s2") == "transfer-const-m3-12ep-s2"


def test_rho_speedup_needs_the_reference_as_the_control_of_the_rounds(report):
    """Wall time through rho = compute ratio x rho, only against the control those rounds timed."""
    from types import SimpleNamespace

    ramp = SimpleNamespace(name="vit-small-ramp-16ep-s1", flops=3.0e15)
    et = SimpleNamespace(name="vit-small-et-16ep-s1", flops=2.0e15)
    rho = {"vit-small-ramp-16ep": 1.0, "vit-small-et-16ep": 0.9}
    wall, compute, k = report.rho_speedup(et, ramp, rho)
    assert (compute, k) == (1.5, 0.9) and wall == pytest.approx(1.35)
    assert report.rho_speedup(ramp, ramp, rho) is None
    # et-8ep's rho was measured against const-m3, not against the ramp baseline: no figure.
    other = {"const-m3-8ep": 1.0, "et-8ep": 0.98}
    assert report.rho_speedup(SimpleNamespace(name="et-8ep-s0", flops=1e15), SimpleNamespace(name="ramp-8ep-s0", flops=2e15), other) is None


def test_pair_table_shows_the_rho_column_only_where_a_run_was_timed_against_its_reference(report):
    from types import SimpleNamespace

    def run(name, flops, top1):
        summary = SimpleNamespace(train_time_s=60.0, theoretical_speedup=1.5, final_top1=top1)
        return SimpleNamespace(name=name, flops=flops, top1=top1, minutes=1.0, timing_clean=False, summary=summary)

    runs = {"ramp-8ep-s0": run("ramp-8ep-s0", 2e15, 70.0), "et-8ep-s0": run("et-8ep-s0", 1e15, 71.0)}
    rows = [("ramp-8ep-s0", "ramp"), ("et-8ep-s0", "ET")]
    # et-8ep was timed, but against const-m3, not the ramp baseline: no column at all
    lines, data = report.pair_table(runs, rows, "ramp-8ep-s0", rho={"const-m3-8ep": 1.0, "et-8ep": 0.98})
    assert "rho" not in lines[0] and data[1]["rho_speedup"] is None
    lines, data = report.pair_table(runs, rows, "ramp-8ep-s0", rho={"ramp-8ep": 1.0, "et-8ep": 0.9})
    assert "rho" in lines[0] and lines[-1].endswith("| 1.80x (2.00x x 0.900) |")


def test_the_magnitude_choice_takes_the_highest_mean_and_calls_close_ones_ties(report):
    from types import SimpleNamespace

    top1 = {"et-m3-8ep": (77.29, 77.19, 77.39), "et-m6-8ep": (76.38, 77.39, 75.48), "et-8ep": (70.0, 70.5, 71.0)}
    runs = {f"{name}-s{i}": SimpleNamespace(top1=acc) for name, accs in top1.items() for i, acc in enumerate(accs)}
    runs["et-m3-12ep-s0"] = SimpleNamespace(top1=99.0)  # another length does not count
    lines, data = report.magnitude_section(runs, 8)
    choice = data["magnitude_choice"]
    assert choice["chosen"] == 3 and choice["versus"] == {"6": "tie", "9": "higher"}
    assert "Highest mean: **m = 3**" in "\n".join(lines) and "m = 6: tie, m = 9: lower" in "\n".join(lines)
    assert report.magnitude_section({"et-8ep-s0": SimpleNamespace(top1=70.0)}, 8) == ([], {})


def fake_runs(top1: dict[str, tuple[float, ...]], pflop: dict[str, float]):
    """Finished runs as the frontier reads them: ``<schedule>-s<seed>`` with top-1, compute and a clean timing."""
    from types import SimpleNamespace

    return {f"{name}-s{i}": SimpleNamespace(top1=acc, flops=pflop[name] * 1e15, minutes=10.0, timing_clean=True)
            for name, accs in top1.items() for i, acc in enumerate(accs)}  # fmt: skip


TUNED_RUNS = {
    "et-m3-8ep": ((77.0, 77.5, 77.2), 0.076), "et-m3-4ep": ((70.0, 70.2, 69.8), 0.038), "et-8ep": ((75.0, 75.5, 75.2), 0.076),
    "etpp-m3-b4": ((75.5, 75.0, 75.2), 0.06), "etpp-b4": ((75.0,), 0.06), "peer-proglearn-m3-8ep": ((76.9, 77.1), 0.076),
    "peer-proglearn-8ep": ((74.0,), 0.076), "peer-composer-10.17ep": ((77.5, 77.0, 77.8), 0.076), "et-m6-8ep": ((76.0,), 0.076),
}  # fmt: skip


def test_the_frontier_sets_the_tuned_recipes_beside_the_papers(report):
    runs = fake_runs({k: v[0] for k, v in TUNED_RUNS.items()}, {k: v[1] for k, v in TUNED_RUNS.items()})
    assert report.chosen_magnitude(runs, 8) == 3
    sched = report.frontier_schedules(runs, 3)
    labels = [label for label, _ in sched.named]
    assert sched.tuned == "EfficientTrain (ramp to m = 3)" and sched.paper == "EfficientTrain (paper recipe: ramp to m = 9)"
    assert labels[:2] == [sched.tuned, sched.paper]
    assert [p.length for p in sched.points(sched.tuned)] == [4.0, 8.0]  # et-m6 is not part of the tuned frontier
    assert "EfficientTrain++ (budget; ramp to m = 3)" in labels and "progressive learning (ramp to m = 3)" in labels
    assert "progressive learning (paper recipe: ramp to m = 9)" in labels and "Composer progressive resizing (the control's constant m)" in labels
    # m = 9 chosen, or no choice yet: one EfficientTrain frontier under its plain name, nothing called tuned
    for m in (9, None):
        plain = report.frontier_schedules(runs, m)
        assert plain.tuned is None and plain.paper == "EfficientTrain" and [p.length for p in plain.points("EfficientTrain")] == [8.0]


def test_the_headline_names_the_tuned_speedup_and_the_papers_beside_it(report):
    runs = fake_runs({k: v[0] for k, v in TUNED_RUNS.items()}, {k: v[1] for k, v in TUNED_RUNS.items()})
    sched = report.frontier_schedules(runs, 3)

    def row(label, n, speedup, how="interpolated", wall=None):
        return {"run": f"{label}, {n:g}", "top1": 77.0, "how": how, "speedup": speedup, "interval": [speedup - 0.1, speedup + 0.1], "wall_speedup": wall, "rho": 0.98 if wall else None}

    speedups = [row(sched.tuned, 8, 1.76, wall=1.72), row(sched.tuned, 4, 1.2, how="below"), row(sched.paper, 8, 1.41)]
    controls = {"const-m3": {"mean": 76.42}, "const-m9": {"mean": 71.42}}
    lines, data = report.headline_section("constant m=3", sched, speedups, controls, 8)
    text = "\n".join(lines)
    assert "with 1.76x less training compute (90% interval 1.66x-1.86x) and 1.72x less wall time (rho 0.980)" in text
    assert "the paper's recipe: 1.41x (1.31x-1.51x)" in text
    assert "76.42% at constant m = 3 and 71.42% at m = 9" in text
    assert "| 4 | 77.00 (3) | **<= 1.20x** (1.10x-1.30x) | rho not measured | not run | - |" in text
    assert [r["epochs"] for r in data["headline"]["rows"]] == [4.0, 8.0]
    assert report.headline_section("constant m=3", report.frontier_schedules(runs, 9), speedups, controls, 8) == ([], {})


def test_crop_against_resize_is_read_against_the_tuned_efficienttrain(report):
    runs = fake_runs({k: v[0] for k, v in TUNED_RUNS.items()}, {k: v[1] for k, v in TUNED_RUNS.items()})
    sched = report.frontier_schedules(runs, 3)
    control = [point(report, "const-m3-4ep", 4, [69.7], 0.058), point(report, "const-m3-8ep", 8, [76.4], 0.1165)]
    lines, data = report.peer_section(control, sched, [], 8)
    text = "\n".join(lines)
    rows = {r["schedule"]: r for r in data["equal_compute"]}
    assert f"{sched.tuned}, 4" not in rows and rows[f"{sched.tuned}, 8"]["versus_reference"] == "-"  # the reference is the tuned 8-epoch point
    assert rows["progressive learning (ramp to m = 3), 8"]["versus_reference"] == "tie"
    assert "Crop against resize at the same final magnitude (m = 3)" in text and "no ranking among them" in text
    far = fake_runs({"peer-proglearn-m3-8ep": (60.0, 61.0)}, {"peer-proglearn-m3-8ep": 0.076})
    lines, _ = report.peer_section(control, report.frontier_schedules({**runs, **far}, 3), [], 8)
    assert "Not all are ties" in "\n".join(lines)
