"""Algorithm 1 and the budgeted search: greedy logic against known answers, caching, end to end."""

from __future__ import annotations

import json

import pytest

from efficienttrain.cli import main
from efficienttrain.search import SearchLog, budgeted_search, budgeted_staircase, greedy_search, staircase

from .conftest import assert_one_line_error

FINAL = 224
CANDIDATES = [96, 128, 160, 192]


def synthetic_accuracy(sizes: tuple[int, ...]) -> float:
    """A cheap stand-in for training: small sizes hurt more in later stages (like the paper).

    Stage i (0-based) of 5 loses (224 - B) * weight_i / 10 points, weights growing with i.
    """
    weights = [0.05, 0.1, 0.2, 0.6, 1.5]
    return 80.0 - sum((FINAL - b) * w / 10 for b, w in zip(sizes, weights))


def test_greedy_search_known_answer_and_trial_order():
    calls = []

    def evaluate(sizes):
        calls.append(list(sizes))
        return synthetic_accuracy(sizes)

    res = greedy_search(evaluate, n_stages=5, candidates=CANDIDATES, final_size=FINAL, epochs=300, baseline_accuracy=None, tolerance=3.0, report=lambda _m: None)
    # a0 = 80 (all at 224), target 77. By hand, last stage first:
    #   stage 4: 192 for stages 1-4 loses 3.2 * (0.05+0.1+0.2+0.6) = 3.04 -> 76.96 < 77: stays 224.
    #   stage 3: 192 -> 78.88 ok, 160 -> 77.76 ok, 128 -> 76.64 fails: 160.
    #   stage 2: 128 (stage 3 at 160) -> 77.28 ok, 96 -> 76.80 fails: 128.
    #   stage 1: 96 -> 77.12 ok: 96.
    assert res.sizes == [96, 128, 160, 224, 224]
    assert calls == [
        [224] * 5,  # the baseline run
        [192, 192, 192, 192, 224],
        [192, 192, 192, 224, 224],
        [160, 160, 160, 224, 224],
        [128, 128, 128, 224, 224],
        [128, 128, 160, 224, 224],
        [96, 96, 160, 224, 224],
        [96, 128, 160, 224, 224],
    ]
    assert all(t.accuracy >= 77.0 for t in res.trials if "ok" in t.note)
    assert res.curriculum.final_size == 224 and res.curriculum.epochs == 300


def test_greedy_search_stops_at_first_failure():
    # With a0 given and zero tolerance, any size below 224 in stage 5's predecessor fails at once.
    seen = []

    def evaluate(sizes):
        seen.append(sizes)
        return 70.0 if min(sizes) < 224 else 80.0

    res = greedy_search(evaluate, n_stages=3, candidates=CANDIDATES, final_size=FINAL, epochs=10, baseline_accuracy=80.0, report=lambda _m: None)
    assert res.sizes == [224, 224, 224]
    assert seen == [(192, 192, 224), (192, 224, 224)]  # one failing trial per stage, no baseline run


def test_constraint_is_accuracy_at_least_target():
    # Exactly on the target counts as feasible.
    res = greedy_search(lambda s: 80.0 if s[0] >= 160 else 10.0, n_stages=2, candidates=CANDIDATES, final_size=FINAL, epochs=10, baseline_accuracy=80.0, report=lambda _m: None)
    assert res.sizes == [160, 224]


def test_search_log_caches_and_resumes(tmp_path):
    path = tmp_path / "log.json"
    fp = {"stages": 4}
    count = {"n": 0}

    def evaluate(sizes):
        count["n"] += 1
        if count["n"] == 4:
            raise KeyboardInterrupt  # interrupted mid-search
        return synthetic_accuracy(tuple(sizes) + (224,))

    with pytest.raises(KeyboardInterrupt):
        greedy_search(evaluate, n_stages=4, candidates=CANDIDATES, final_size=FINAL, epochs=10, tolerance=2.0, log=SearchLog.open(path, fp), report=lambda _m: None)
    done = json.loads(path.read_text())["trials"]
    assert len(done) == 3
    count["n"] = 100  # no more interruptions
    res = greedy_search(evaluate, n_stages=4, candidates=CANDIDATES, final_size=FINAL, epochs=10, tolerance=2.0, log=SearchLog.open(path, fp), report=lambda _m: None)
    # The baseline comes back from the log without a trial; the two other finished trials are
    # re-used; only the rest is evaluated.
    assert res.cached == 2
    assert count["n"] - 100 == len(res.trials) - 2
    with pytest.raises(ValueError, match="other settings"):
        SearchLog.open(path, {"stages": 5})


def test_budgeted_search_keeps_cost_and_maximises_accuracy():
    # Smaller early sizes buy more epochs: pretend that helps down to 128 in stage 1 only.
    def evaluate(sizes):
        bonus = {224: 0.0, 192: 0.5, 160: 1.0, 128: 1.5, 96: -5.0}[sizes[0]]
        penalty = sum(224 - b for b in sizes[1:]) * 0.1
        return 75.0 + bonus - penalty

    res = budgeted_search(evaluate, n_stages=3, candidates=CANDIDATES, final_size=FINAL, budget=30, report=lambda _m: None)
    assert res.sizes == [128, 224, 224]
    cur = res.curriculum
    stage_costs = [st.epochs * (st.size / 224) ** 2 for st in cur.stages]
    assert stage_costs == pytest.approx([10, 10, 10])
    assert cur.budget == 30


def test_staircases():
    cur = staircase([160, 160, 192, 224], 100, 224)
    assert [(s.end, s.size) for s in cur.stages] == [(50, 160), (75, 192), (100, 224)]
    b = budgeted_staircase([112, 224], 10, 224)
    assert b.stages[0].epochs == pytest.approx(20) and b.stages[1].epochs == pytest.approx(5)


def test_search_validation():
    with pytest.raises(ValueError, match="at least 2 stages"):
        greedy_search(synthetic_accuracy, n_stages=1, candidates=CANDIDATES, final_size=FINAL, epochs=1)
    with pytest.raises(ValueError, match="above the final size"):
        greedy_search(synthetic_accuracy, n_stages=3, candidates=[256], final_size=FINAL, epochs=1)


@pytest.mark.slow
def test_search_cli_end_to_end_with_the_runner(tmp_path, capsys):
    out = tmp_path / "search"
    argv = ["search", "--stages", "2", "--epochs", "2", "--final-size", "32", "--candidates", "16", "24", "--baseline-acc", "0",
            "--model", "resnet10t", "--data", "demo", "--output", str(out),
            "--set", "demo_per_class=6", "--set", "demo_val_per_class=2", "--set", "demo_image_size=32",
            "--set", "batch_size=16", "--set", "workers=0", "--set", "threads=2"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "schedule found: [16, 32]" in text  # a0 = 0: every trial is feasible, so the smallest size wins
    saved = out / "searched_curriculum.yaml"
    assert saved.is_file()
    log = json.loads((out / "search_log.json").read_text())
    assert set(log["trials"]) == {"24-32", "16-32"}
    # Run again: everything comes from the cache, and the result is a valid --curriculum file.
    assert main(argv) == 0
    assert "2 trials (2 from the cache)" in capsys.readouterr().out
    assert main(["schedule", "--kind", str(saved)]) == 0


def test_search_cli_errors(tmp_path, capsys):
    assert main(["search", "--final-size", "32", "--output", str(tmp_path)]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert main(["search", "--final-size", "32", "--epochs", "2", "--set", "epochs=3", "--output", str(tmp_path)]) == 2
    assert "the search chooses it" in capsys.readouterr().err


def test_search_refuses_what_it_cannot_mean_or_write_before_any_trial(tmp_path, capsys, monkeypatch):
    from efficienttrain.search import evaluator

    monkeypatch.setattr(evaluator.RunnerEvaluator, "__init__", lambda *a, **k: pytest.fail("a trial was set up before the check"))
    (tmp_path / "afile").write_text("x")
    base = ["search", "--final-size", "32", "--data", "demo", "--output", str(tmp_path / "out")]
    cases = [(["--epochs", "1", "--tolerance", "-1"], ["--tolerance must be a number at least 0"]),
             (["--budget", "nan"], ["--budget must be a number above 0"]), (["--epochs", "1", "--seeds", "-1"], ["--seeds must be 0 or more"]),
             (["--epochs", "1", "--save", str(tmp_path)], ["--save", "is a folder"]),
             (["--epochs", "1", "--log", str(tmp_path / "afile" / "log.json")], ["--log", "stands in the way of the folder"]),
             (["--epochs", "1", "--output", str(tmp_path / "afile")], ["--output", "stands in the way of the folder"])]  # fmt: skip
    for extra, needles in cases:
        assert_one_line_error(main([*base, *extra]), capsys.readouterr().err, *needles)
