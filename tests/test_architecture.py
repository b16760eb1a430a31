"""Tests of the concept owners: run-directory records, sampler state, compat fences, curricula rules."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

import efficienttrain as et
from efficienttrain.curricula import budgeted_staircase, efficienttrain_pp
from efficienttrain.data import SamplerState, randaugment_magnitude
from efficienttrain.rundir import Checkpoint, RunDir, Summary, read_weights_file
from efficienttrain.runner import Trainer

from .conftest import tiny_config


def test_etpp_follows_the_configured_max_magnitude():
    # The bug this fixes: efficienttrain++ used m = stage index whatever m0 was.
    cur = efficienttrain_pp(10, 224, family="resnet", max_magnitude=7)
    mags = [st.magnitude for st in cur.stages]
    assert mags == pytest.approx([7 * i / 9 for i in range(10)])
    assert cur.max_magnitude == 7
    assert [st.magnitude for st in efficienttrain_pp(10, 224).stages] == pytest.approx(list(range(10)))


def test_etpp_in_the_runner_takes_m0_from_randaugment(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, curriculum="efficienttrain++", epochs=1, randaugment="rand-m7-mstd0.5-inc1")).setup()
    cur = trainer.parts.curriculum
    assert cur.max_magnitude == 7
    assert cur(cur.epochs - 1e-6).magnitude == pytest.approx(7)


def test_budgeted_staircase_shares_the_etpp_rule():
    cur = budgeted_staircase([96, 160, 224], budget=3, final_size=224, max_magnitude=6)
    assert [st.magnitude for st in cur.stages] == [0, 3, 6]
    assert [round(st.epochs, 6) for st in cur.stages] == [round((224 / 96) ** 2, 6), round((224 / 160) ** 2, 6), 1.0]


def test_randaugment_magnitude_parsing():
    assert randaugment_magnitude("rand-m9-mstd0.5-inc1") == 9
    assert randaugment_magnitude("rand-mstd0.5-m6") == 6
    assert randaugment_magnitude("") == 9 and randaugment_magnitude(None, default=5) == 5


def test_curriculum_magnitude_rule_and_deprecated_name():
    cur = et.efficienttrain(10, 224)
    assert cur.magnitude_rule == "linear" and cur.magnitude == "linear"
    ramp = et.constant(10, 224).with_magnitude("linear")
    assert ramp.name == "constant (magnitude linear)" and ramp(0).magnitude == pytest.approx(0.9) and ramp.sizes == [224]
    with pytest.warns(DeprecationWarning):
        old = et.Curriculum([et.Stage(0, 5, 224)], magnitude="constant")
    assert old.magnitude_rule == "constant"


def test_sampler_state_round_trip_and_seed():
    sampler = et.CurriculumBatchSampler(100, et.efficienttrain(4, 32), 10, seed=3)
    sampler.set_epoch(2, 4)
    state = sampler.state_dict()
    assert SamplerState.from_dict(state) == SamplerState(2, 4, 3) and SamplerState.from_dict(state).to_dict() == state
    assert not hasattr(sampler, "state") and not hasattr(sampler, "load_state")  # one protocol
    other = et.CurriculumBatchSampler(100, et.efficienttrain(4, 32), 10, seed=0)
    other.load_state_dict(state)
    assert (other.epoch, other.start_step, other.seed) == (2, 4, 3)
    assert list(other) == list(sampler)
    other.load_state_dict(SamplerState(1, 0, None).to_dict())  # a record without a seed keeps the sampler's
    assert other.seed == 3
    other.set_seed(5)
    assert other.index_sampler.seed == 5


@pytest.mark.slow
def test_run_directory_records(tmp_path):
    result = Trainer(tiny_config(tmp_path, epochs=1, snapshot_every=1)).run()
    run = RunDir(result.output_dir)
    ckpt = run.load_checkpoint()
    assert isinstance(ckpt, Checkpoint) and ckpt.objective == "classification" and ckpt.sampler == {"epoch": 1, "start_step": 0, "seed": 0}
    summary = run.summary()
    assert isinstance(summary, Summary) and summary.completed and summary.final_top1 == result.final_top1
    assert run.completed() and run.history()[0]["epoch"] == 1
    assert run.snapshots() == [run.snapshot_path(1)] and run.weight_files() == [run.snapshot_path(1)]
    snap = read_weights_file(run.snapshot_path(1), header_only=True)
    assert (snap.kind, snap.epoch, snap.final_size, snap.num_classes, snap.model_name) == ("snapshot", 1, 32, 10, "resnet10t")
    exported = read_weights_file(run / RunDir.MODEL)
    assert exported.kind == "safetensors" and exported.final_size == 32 and set(exported.model) == set(ckpt.model)
    # summary.json's keys are the Summary fields; unknown keys (from newer versions) are ignored
    data = json.loads((run / RunDir.SUMMARY).read_text())
    assert Summary.from_dict({**data, "added_later": 1}) == summary


def test_older_checkpoints_without_new_keys_still_load():
    minimal = {
        "config": {}, "curriculum": {}, "model": {}, "optimizer": {}, "scheduler": {}, "sampler": {"epoch": 1},
        "num_updates": 3, "rng": {}, "final_size": 32, "num_classes": 10,
    }  # fmt: skip
    ckpt = Checkpoint.from_dict(minimal)
    assert ckpt.objective == "classification" and ckpt.sessions == [] and ckpt.epoch_elapsed == 0.0 and ckpt.world_size == 1
    with pytest.raises(ValueError, match="lacks model"):
        Checkpoint.from_dict({k: v for k, v in minimal.items() if k != "model"})


@pytest.mark.slow
def test_one_collective_per_training_step(tmp_path, monkeypatch):
    from efficienttrain.runner.distributed import Runtime

    calls: list[int] = []
    original = Runtime.any_rank

    def counting(self, *flags):
        calls.append(len(flags))
        return original(self, *flags)

    monkeypatch.setattr(Runtime, "any_rank", counting)
    trainer = Trainer(tiny_config(tmp_path, epochs=1))
    trainer.run()
    steps = trainer.parts.sampler.steps_per_epoch
    # One per step (non-finite loss and stop request together), one at the end of the epoch.
    assert calls == [2] * steps + [1]


def test_timm_compat_fence_names_the_tested_version():
    from efficienttrain import _compat

    with pytest.raises(RuntimeError, match="tested with timm"):
        _compat.timm_randaugment_ops(SimpleNamespace(ops=[object()]))


def test_lightning_compat_refuses_other_major_versions():
    from efficienttrain.integrations import _lightning_compat

    _lightning_compat.check_version("2.6.6")
    with pytest.raises(RuntimeError, match="Lightning 2.x"):
        _lightning_compat.check_version("3.0.0")
    t = torch.zeros(2, 3)
    _lightning_compat.replace_tensor_in_place(t, torch.ones(1, 2))
    assert t.shape == (1, 2) and bool((t == 1).all())


def test_native_size_has_one_owner():
    from efficienttrain.analysis.checkpoints import final_size_from_config
    from efficienttrain.data import default_final_size, native_size
    from efficienttrain.runner.config import make_config

    assert native_size("cifar10") == 32 and native_size("demo", 48) == 48 and native_size("some/dir") is None
    assert default_final_size("some/dir") == 224 and default_final_size("demo", None, 40) == 40 and default_final_size("cifar100", 64) == 64
    for data in ("demo", "cifar10", "some/dir"):
        cfg = make_config({"data": data, "demo_image_size": 40})
        assert cfg.resolved_final_size() == final_size_from_config(cfg.to_dict()) == default_final_size(data, None, 40)


@pytest.mark.slow
def test_analysis_and_plots_do_not_import_the_runner():
    import subprocess
    import sys

    code = (
        "import sys, efficienttrain.analysis, efficienttrain.plots, efficienttrain.search.algorithm; "
        "print(any(m.startswith('efficienttrain.runner') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_every_objective_name_the_config_accepts_has_an_objective():
    from efficienttrain.runner.config import OBJECTIVE_NAMES
    from efficienttrain.runner.objectives import OBJECTIVES

    assert tuple(OBJECTIVES) == OBJECTIVE_NAMES


@pytest.mark.slow
def test_every_option_is_in_one_section_and_help_is_grouped():
    import subprocess
    import sys

    from efficienttrain.runner.config import HELP, SECTIONS

    listed = [name for names in SECTIONS.values() for name in names]
    assert sorted(listed) == sorted(HELP) and len(listed) == len(set(listed))
    out = subprocess.run([sys.executable, "-m", "efficienttrain", "train", "--help"], capture_output=True, text=True, check=True).stdout
    positions = [out.index(f"\n{section}:") for section in SECTIONS]
    assert positions == sorted(positions)  # each section's heading, in order
    body = out[out.index("\noptions:") :]  # past the usage line, which lists every flag
    assert body.index("\n  --mask-ratio") > body.index("\nobjective (and masked-autoencoder pretraining") > body.index("\n  --randaugment")


def _package_map_modules() -> set[str]:
    """The module paths that docs/architecture.md's package map names (folders tracked by indentation)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text()
    section = text.split("## The package map", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    folders: dict[int, str] = {}
    for line in section.splitlines():
        stripped = line.strip()
        if not stripped or line.startswith("```"):
            continue
        name = stripped.split()[0]
        indent = len(line) - len(line.lstrip())
        if name.endswith("/"):
            folders = {k: v for k, v in folders.items() if k < indent}
            folders[indent] = name
        elif name.endswith(".py"):
            parents = [v for k, v in sorted(folders.items()) if k < indent]
            named.add(name if "/" in name else "".join(parents[-1:]) + name if indent > 2 else name)
    return named


def test_the_package_map_names_every_module():
    from pathlib import Path

    root = Path(et.__file__).resolve().parent
    modules = {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
    missing = sorted(modules - _package_map_modules())
    assert not missing, f"docs/architecture.md's package map lacks {missing}"


def test_every_committed_run_config_loads():
    """Flat YAML keeps working: each config.yaml a run left in the repository loads as a config."""
    from pathlib import Path

    from efficienttrain.runner.config import load_config

    root = Path(__file__).resolve().parent.parent
    paths = sorted(root.glob("benchmarks/results/**/config.yaml"))
    assert len(paths) > 20  # the evidence runs; a glob that found nothing would pass vacuously
    for path in paths:
        cfg = load_config(path)
        assert cfg.model and cfg.batch_size > 0, path


def test_each_section_holds_its_options_and_rules():
    import dataclasses

    from efficienttrain.errors import UserError
    from efficienttrain.runner.config import SECTION_CLASSES, SECTIONS, ObjectiveOptions, TrainConfig

    assert [s.TITLE for s in SECTION_CLASSES] == list(SECTIONS)
    assert {f.name for f in dataclasses.fields(TrainConfig)} - {"extra"} == {n for names in SECTIONS.values() for n in names}
    assert "mask_ratio" in {f.name for f in dataclasses.fields(ObjectiveOptions)}  # the objective owns MAE's options
    with pytest.raises(UserError, match="--decoder-dim must be a multiple of 4"):
        TrainConfig(objective="mae", decoder_dim=6).validate()
    TrainConfig(decoder_dim=6).validate()  # MAE's rules apply only when MAE runs
