"""What a careless user can do, and what the program does about it.

Each test is one thing a user does by mistake. The answer is either the right behaviour, or exit
status 2 with one line that names the problem and the fix; never a traceback, and never a lost or
silently replaced file that the run did not write.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import struct
import zlib
from pathlib import Path

import pytest

from efficienttrain.cli import main
from efficienttrain.errors import UserError
from efficienttrain.rundir import RunDir, atomic_write

from .conftest import assert_one_line_error, make_image_folder

TINY = ["train", "--preset", "cpu", "--model", "resnet10t", "--data", "demo", "--demo-per-class", "2", "--demo-val-per-class", "1",
        "--demo-image-size", "16", "--batch-size", "8", "--epochs", "1", "--workers", "0", "--no-progress", "--no-safetensors"]  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """One finished tiny run, trained once; the tests that damage or misuse a finished run take a copy (:func:`copy_of`)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(TINY + ["--output", str(out)]) == 0
    return out


def copy_of(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir, tmp_path / "o"))


def run(argv, capsys) -> tuple[int, str]:
    """The CLI's exit status and stderr (argparse's own exits included)."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


# -- 1. the output folder ----------------------------------------------------------------------
def test_a_second_run_into_a_folder_in_use_is_refused_and_names_the_holder(tmp_path, capsys):
    (tmp_path / "o").mkdir()
    holder = RunDir(tmp_path / "o")
    holder.claim()  # as a first run does while it trains
    try:
        code, err = run(TINY + ["--output", str(tmp_path / "o"), "--seed", "2"], capsys)
        assert_one_line_error(code, err, f"another run (pid {os.getpid()}) is writing to", "choose another --output")
    finally:
        holder.release()
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [RunDir.LOCK]  # the refused run wrote nothing


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(tmp_path):
    folder = tmp_path / "o"
    folder.mkdir()
    (folder / RunDir.LOCK).write_text("999999999\n")  # a pid that cannot exist; the kernel holds no lock for it
    (folder / ".last.pt.tmp-999999999").write_bytes(b"x" * 1000)  # what a kill mid-write leaves
    note = RunDir(folder).claim()
    assert note is not None and "999999999" in note and "no longer runs" in note
    assert not (folder / ".last.pt.tmp-999999999").exists()  # the disk is not filled twice


def test_a_folder_with_other_files_is_refused_and_overwrite_leaves_them_alone(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    (folder / "config.yaml").write_text("my: own\n")
    code, err = run(TINY + ["--output", str(folder)], capsys)
    assert_one_line_error(code, err, "holds files that a run does not write", "notes.txt", "--overwrite")
    assert (folder / "config.yaml").read_text() == "my: own\n"
    # Not a run's folder: its config.yaml is the user's, and --overwrite will not write over it.
    assert_one_line_error(*run(TINY + ["--output", str(folder), "--overwrite"], capsys), "not a run's folder", "config.yaml")
    assert (folder / "config.yaml").read_text() == "my: own\n"
    (folder / "config.yaml").rename(tmp_path / "moved.yaml")
    assert run(TINY + ["--output", str(folder), "--overwrite"], capsys)[0] == 0
    assert (folder / "notes.txt").read_text() == "keep me" and (folder / "summary.json").is_file()


def test_a_finished_run_whose_checkpoint_was_deleted_is_not_replaced(finished_run, tmp_path, capsys):
    out = copy_of(finished_run, tmp_path)
    (out / "last.pt").unlink()
    before = (out / "metrics.csv").read_bytes()
    code, err = run(TINY + ["--output", str(out)], capsys)
    assert_one_line_error(code, err, "holds a run", "--overwrite")
    assert (out / "metrics.csv").read_bytes() == before


def test_a_start_stopped_before_its_first_checkpoint_can_start_again(tmp_path, capsys):
    """What a run writes before its first checkpoint (and then a lock that outlived it) is not in the way."""
    out = tmp_path / "o"
    out.mkdir()
    (out / "config.yaml").write_text("model: resnet10t\n")  # a run writes these two first
    (out / "curriculum.yaml").write_text("stages: []\n")
    (out / "metrics.csv").write_text("epoch\n")
    assert run(TINY + ["--output", str(out)], capsys)[0] == 0


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../escape"])
def test_name_cannot_leave_the_runs_folder(tmp_path, capsys, name):
    code, err = run(TINY + ["--name", name], capsys)
    assert_one_line_error(code, err, "--name", "plain folder name")


def test_output_naming_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert_one_line_error(*run(TINY + ["--output", str(target)], capsys), "is a file, not a folder")
    assert target.read_text() == "x"


# -- 2. failed writes --------------------------------------------------------------------------
def test_a_full_disk_keeps_the_last_good_file_and_removes_the_partial_one(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"good checkpoint")

    def fill_the_disk(tmp: Path) -> None:
        tmp.write_bytes(b"x" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(UserError, match="no space left in .* to write last.pt .*--resume"):
        atomic_write(path, fill_the_disk)
    assert path.read_bytes() == b"good checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_full_disk_during_a_run_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    import efficienttrain.rundir as rundir

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir.torch, "save", no_space)
    code, err = run(TINY + ["--output", str(tmp_path / "o")], capsys)
    assert_one_line_error(code, err, "no space left in", "free space there or choose another --output")
    assert not [p for p in (tmp_path / "o").iterdir() if ".tmp-" in p.name]


def test_a_read_only_output_folder_is_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):  # as a read-only mount answers (root ignores chmod)
        if str(path).startswith(str(out)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    assert_one_line_error(*run(TINY + ["--output", str(out), "--overwrite"], capsys), "cannot write in --output", "make it writable")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# -- 3. data discovery -------------------------------------------------------------------------
def test_a_symlink_loop_in_the_data_is_not_followed_and_labels_stay_right(tmp_path, capsys):
    root = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=16)
    (root / "train" / "class0" / "loop").symlink_to("..")  # points back at train/
    from efficienttrain.data.datasets import build_datasets

    data = build_datasets(str(root), train_transform=None, eval_transform=None)
    assert len(data.train) == 8 and sorted(data.train.targets) == [0] * 4 + [1] * 4
    assert all(Path(p).parent.name == data.train.classes[t] for p, t in data.train.samples)  # no class1 image labelled class0
    assert any(str(p).endswith("loop") for p in data.not_followed)


def test_a_validation_split_outside_the_data_is_refused(tmp_path, capsys):
    root = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=16)
    make_image_folder(tmp_path / "good", classes=2, per_class=4, size=16)
    for split in ("../good/train", "train"):
        code, err = run(TINY[:5] + ["--data", str(root), "--val-split", split, "--output", str(tmp_path / "o"), "--batch-size", "4"], capsys)
        assert_one_line_error(code, err, "--val-split", "must be a folder of its own inside")


# -- 4. images too large to decode -------------------------------------------------------------
def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares ``width`` x ``height`` pixels in a few bytes (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("skip", [False, True])
def test_an_image_above_the_pixel_limit_is_handled_like_a_corrupt_one(tmp_path, capsys, skip):
    root = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=16)
    bomb = root / "train" / "class0" / "bomb.png"
    _png_header_only(bomb, 30000, 30000)
    argv = TINY[:5] + ["--data", str(root), "--output", str(tmp_path / "o"), "--batch-size", "4", "--epochs", "1", "--workers", "0",
                       "--no-progress", "--final-size", "16", "--no-safetensors"] + (["--skip-bad-images"] if skip else [])  # fmt: skip
    code, err = run(argv, capsys)
    if skip:
        assert code == 0, err
    else:
        assert_one_line_error(code, err, "bomb.png", "above the pixel limit", "--max-image-pixels", "--skip-bad-images")


def test_an_image_between_the_limit_and_pillows_own_is_refused_before_decoding(tmp_path):
    from efficienttrain.data.datasets import load_image
    from efficienttrain.errors import BadImageError

    path = tmp_path / "big.png"
    _png_header_only(path, 9000, 9000)  # 81 MP: under Pillow's bomb check, over the 64 MP default
    with pytest.raises(BadImageError, match="9000x9000 = 81 MP, above the pixel limit of 64 MP"):
        load_image(str(path))
    with pytest.raises(BadImageError, match="cannot decode"):  # a higher limit lets it through to the (broken) pixels
        load_image(str(path), max_pixels=100_000_000)


# -- 5. every numeric flag ---------------------------------------------------------------------
def _numeric_fields() -> list[str]:
    from efficienttrain.runner.config import TrainConfig, field_type

    out = []
    for f in dataclasses.fields(TrainConfig):
        kind = field_type(f.name)
        if kind.base in (int, float) or (kind.base is tuple and kind.items and kind.items[0] in (int, float)):
            out.append(f.name)
    return out


def test_every_numeric_field_has_a_range():
    from efficienttrain.runner.config import NUMERIC_BOUNDS

    assert set(_numeric_fields()) == set(NUMERIC_BOUNDS)


@pytest.mark.parametrize("name", _numeric_fields())
def test_every_numeric_flag_refuses_what_it_cannot_mean_before_any_work(name):
    from efficienttrain.runner.config import NUMERIC_BOUNDS, field_type, make_config

    kind = field_type(name)
    width = len(kind.items) if kind.base is tuple else 1
    bad = [math.nan, math.inf, -math.inf, 1e300, "x"]
    for value in bad + [0, -1]:
        given = [value] * width if width > 1 else value
        try:
            make_config({"data": "demo", name: given})
        except UserError as err:
            assert "\n" not in str(err) and str(err)
            continue
        assert value in (0, -1) and NUMERIC_BOUNDS[name].admits(value), f"{name}={value!r} was accepted"


# -- 6. checkpoints that are not ---------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--init-from", "--resume"])
def test_an_empty_checkpoint_file_is_one_line(tmp_path, capsys, flag):
    out = tmp_path / "o"
    out.mkdir()
    empty = out / "last.pt" if flag == "--resume" else tmp_path / "empty.pt"
    empty.write_bytes(b"")
    argv = TINY + ["--output", str(out if flag == "--resume" else tmp_path / "o2")] + ([flag] if flag == "--resume" else [flag, str(empty)])
    assert_one_line_error(*run(argv, capsys), "empty.pt" if flag == "--init-from" else "last.pt")


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda ckpt: [1, 2, 3], "holds a list"),
        (lambda ckpt: __import__("torch").zeros(3), "holds a Tensor"),
        (lambda ckpt: {**ckpt, "sampler": {**ckpt["sampler"], "epoch": -4}}, "the sampler's epoch is -4"),
        (lambda ckpt: {**ckpt, "num_updates": "many"}, "num_updates is a str"),
    ],
    ids=["list", "tensor", "negative-epoch", "bad-type"],
)
def test_a_damaged_checkpoint_is_named_not_a_traceback(finished_run, tmp_path, capsys, damage, needle):
    import torch

    out = copy_of(finished_run, tmp_path)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    torch.save(damage(ckpt), out / "last.pt")
    assert_one_line_error(*run(TINY + ["--output", str(out), "--resume"], capsys), needle)


@pytest.mark.slow
def test_resuming_with_another_model_is_one_line(finished_run, tmp_path, capsys):
    out = copy_of(finished_run, tmp_path)
    argv = TINY + ["--output", str(out), "--resume"]
    argv[argv.index("resnet10t")] = "resnet18"
    assert_one_line_error(*run(argv, capsys), "--resume", "do not fit --model resnet18")


def test_a_model_argument_timm_cannot_resolve_is_one_line(tmp_path, capsys):
    code, err = run(TINY + ["--output", str(tmp_path / "o"), "--model-kwargs", "act_layer=foo"], capsys)
    assert_one_line_error(code, err, "cannot create model 'resnet10t'", "act_layer='foo'", "--model-kwargs")


@pytest.mark.parametrize("flag", ["--config", "--curriculum", "--init-from"])
def test_a_folder_given_for_a_file_is_called_a_folder(tmp_path, capsys, flag):
    argv = ["train", "--data", "demo", "--output", str(tmp_path / "o"), flag, str(tmp_path)]
    assert_one_line_error(*run(argv, capsys), "is a folder; give the file itself")


def test_garbage_bytes_as_a_config_name_the_file(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_bytes(bytes(range(128, 256)) * 4)
    assert_one_line_error(*run(["train", "--config", str(cfg)], capsys), "cannot parse config", "run.yaml")


def test_a_stop_during_the_preflight_is_honoured_at_the_next_step(tmp_path, monkeypatch):
    import signal

    from efficienttrain.runner import Trainer
    from efficienttrain.runner.preflight import DrySteps

    from .conftest import tiny_config

    trainer = Trainer(tiny_config(tmp_path))
    steps = []
    real = DrySteps.run

    def one_step_then_sigterm(self, size, reason):
        steps.append(size)
        trainer._handle_signal(signal.SIGTERM, None)  # as the signal handler does
        return real(self, size, reason)

    monkeypatch.setattr(DrySteps, "run", one_step_then_sigterm)
    result = trainer.run()
    assert not result.completed and len(steps) == 1  # three sizes, one step: the stop came before the next
    assert not (result.output_dir / "last.pt").exists() and not (result.output_dir / "config.yaml").exists()


def test_nan_weights_in_init_from_are_named_not_blamed_on_the_size(tmp_path, capsys):
    import torch

    from efficienttrain.models import create_model
    from efficienttrain.rundir import export_safetensors

    state = create_model("resnet10t", 10).state_dict()
    state["fc.weight"] = torch.full_like(state["fc.weight"], float("nan"))
    path = tmp_path / "broken.safetensors"
    export_safetensors(state, path)
    assert_one_line_error(*run(TINY + ["--output", str(tmp_path / "o"), "--init-from", str(path), "--keep-head"], capsys), "NaN or infinite weights", "fc.weight")


def test_a_size_that_does_not_fit_in_memory_is_not_blamed_on_the_model(monkeypatch):
    from efficienttrain.models import check_model_sizes, create_model

    model = create_model("resnet10t", 10)
    real = model.forward

    def forward(x):
        if x.shape[-1] > 32:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 68719476736 bytes")
        return real(x)

    monkeypatch.setattr(model, "forward", forward)
    with pytest.raises(UserError, match="out of memory .* at 64x64: the size is too large for this machine, not for the model"):
        check_model_sizes(model, [32, 64], final_size=64, model_name="resnet10t")


def test_a_large_jpeg_is_decoded_at_reduced_scale_when_it_is_shrunk_anyway(tmp_path):
    import numpy as np
    from PIL import Image

    from efficienttrain.data.datasets import load_image

    path = tmp_path / "big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1600, 2400, 3), dtype=np.uint8)).save(path, quality=80)
    assert load_image(str(path)).size == (2400, 1600)
    small = load_image(str(path), min_side=300)
    assert small.size == (600, 400)  # 1/4 scale: the smallest whose shorter side stays >= 300


def test_overwrite_replaces_a_previous_runs_files_only(tmp_path, capsys):
    out = tmp_path / "o"
    assert run(TINY + ["--output", str(out), "--snapshot-every", "1"], capsys)[0] == 0
    (out / "notes.txt").write_text("keep me")
    assert run(TINY + ["--output", str(out), "--overwrite"], capsys)[0] == 0
    assert not list(out.glob("epoch_*.pt"))  # the previous run's snapshots do not mix with the new run
    assert (out / "notes.txt").read_text() == "keep me" and (out / "summary.json").is_file()


# -- beyond the list: what else a careless user does --------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "needle"),
    [("add a class", "classes class0, class1 then, class0, class1, class2 now"), ("remove an image", "8 training images then, 7 now"),
     ("rename an image", "other files or labels"), ("move an image to another class", "other files or labels")],
)  # fmt: skip
def test_a_resume_after_the_data_changed_is_one_line_before_any_step(tmp_path, capsys, monkeypatch, change, needle):
    from efficienttrain.runner import Trainer
    from efficienttrain.runner.preflight import DrySteps

    from .conftest import tiny_config

    root = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=16)
    out = tmp_path / "o"
    Trainer(tiny_config(tmp_path, data=str(root), output=str(out), batch_size=4, final_size=16, epochs=2, preflight=False)).run(max_epochs=1)
    train = root / "train"
    if change == "add a class":
        make_image_folder(tmp_path / "d", classes=3, per_class=4, size=16)
    elif change == "remove an image":
        (train / "class0" / "0.png").unlink()
    elif change == "rename an image":
        (train / "class0" / "0.png").rename(train / "class0" / "9.png")
    else:
        (train / "class0" / "0.png").rename(train / "class1" / "9.png")
    before = (out / "last.pt").read_bytes()
    monkeypatch.setattr(DrySteps, "preflight", lambda self: pytest.fail("the pre-flight ran before the data was checked"))
    code, err = run(TINY[:5] + ["--data", str(root), "--output", str(out), "--resume", "--batch-size", "4", "--epochs", "2", "--final-size", "16",
                                "--workers", "0", "--no-progress"], capsys)  # fmt: skip
    assert_one_line_error(code, err, "--resume: the training data changed since the checkpoint", needle, "restore the data")
    assert (out / "last.pt").read_bytes() == before


def test_the_same_data_moved_to_another_folder_still_resumes(tmp_path):
    import shutil

    from efficienttrain.runner import Trainer

    from .conftest import tiny_config

    root = make_image_folder(tmp_path / "d", classes=2, per_class=4, size=16)
    out = tmp_path / "o"
    settings = {"output": str(out), "batch_size": 4, "final_size": 16, "epochs": 2, "preflight": False}
    Trainer(tiny_config(tmp_path, data=str(root), **settings)).run(max_epochs=1)
    moved = Path(shutil.move(str(root), str(tmp_path / "elsewhere")))
    assert Trainer(tiny_config(tmp_path, data=str(moved), resume=True, **settings)).run().completed


def test_a_stop_signal_while_the_run_finishes_still_writes_its_summary(tmp_path, monkeypatch):
    import signal

    from efficienttrain.runner import Trainer

    from .conftest import tiny_config

    trainer = Trainer(tiny_config(tmp_path, epochs=1, batch_size=8, demo_per_class=2, demo_val_per_class=1, demo_image_size=16, preflight=False))
    finish = Trainer._finish

    def interrupted_finish(self):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the exports are written
        finish(self)

    monkeypatch.setattr(Trainer, "_finish", interrupted_finish)
    result = trainer.run()
    assert result.completed and (result.output_dir / "summary.json").is_file()
    assert (result.output_dir / "model.safetensors").is_file()
    assert (result.output_dir / RunDir.LOCK).read_text() == ""  # released, not left to a dead holder


@pytest.mark.parametrize("command", ["plan", "plot"])
def test_an_output_file_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, monkeypatch, command):
    from efficienttrain.runner import plan

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plan, "make_plan", lambda *a, **k: pytest.fail("measured before checking --out"))
    (tmp_path / "afile").write_text("x")
    argv = ["plan", *TINY[1:-2], "--epochs", "1"] if command == "plan" else ["plot", str(tmp_path / "no-run")]
    for out, needle in [(".", "is a folder; name the file"), ("sub/", "is a folder"), ("afile/p.out", "stands in the way of the folder")]:
        assert_one_line_error(main([*argv, "--out", out]), capsys.readouterr().err, needle)


def test_an_output_file_check_leaves_nothing_and_names_a_read_only_place(tmp_path, monkeypatch):
    from efficienttrain.outputs import prepare_output_file

    path = prepare_output_file(tmp_path / "a" / "b" / "plan.yaml", "--out", "plan.yaml")
    assert path == tmp_path / "a" / "b" / "plan.yaml" and not list(tmp_path.iterdir())  # the check creates nothing, the trial write leaves nothing

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "touch", read_only)
    with pytest.raises(UserError, match=r"cannot write in .*Read-only file system.*choose another --out"):
        prepare_output_file(tmp_path / "plan.yaml", "--out", "plan.yaml")


def test_demo_data_never_mixes_into_another_dataset_and_bad_sizes_name_the_flag(tmp_path, capsys):
    theirs = make_image_folder(tmp_path / "theirs")
    before = sorted(p.relative_to(theirs) for p in theirs.rglob("*"))
    (tmp_path / "afile").write_text("x")
    cases = [([str(theirs)], "already holds other files"), ([str(tmp_path / "afile")], "is a file"),
             ([str(tmp_path / "d"), "--per-class", "0"], "--per-class must be at least 1"),
             ([str(tmp_path / "d"), "--image-size", "100000"], "--image-size must be at least 8 and at most 1024")]  # fmt: skip
    for argv, needle in cases:
        assert_one_line_error(main(["make-demo-data", *argv]), capsys.readouterr().err, needle)
    assert sorted(p.relative_to(theirs) for p in theirs.rglob("*")) == before and not (tmp_path / "d").exists()
    small = ["--per-class", "1", "--val-per-class", "1", "--image-size", "8"]
    assert main(["make-demo-data", str(tmp_path / "demo"), *small]) == 0
    assert main(["make-demo-data", str(tmp_path / "demo"), *small]) == 0  # writing an earlier demo dataset again is fine


@pytest.mark.parametrize("analysis", [["filtered", "no-run"], ["cka", "--a", "no-run"], ["spectra"]])
def test_an_analysis_out_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, monkeypatch, analysis):
    from efficienttrain.analysis import checkpoints

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(checkpoints, "resolve_checkpoints", lambda *a, **k: pytest.fail("read checkpoints before checking --out"))
    (tmp_path / "afile").write_text("x")
    for out, needle in [("afile", "is a file; name a folder"), ("afile/sub", "stands in the way of the folder")]:
        assert_one_line_error(main(["analyze", *analysis, "--data", "demo", "--out", out]), capsys.readouterr().err, "--out", needle)


def test_schedule_checks_plot_and_save_before_writing_either(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    cases = [(["--plot", "."], "--plot . is a folder"), (["--save", "sub/"], "--save sub/ is a folder"),
             (["--save", "ok.yaml", "--plot", "afile/x.png"], "the file afile stands in the way of the folder afile")]  # fmt: skip
    for extra, needle in cases:
        assert_one_line_error(main(["schedule", *extra]), capsys.readouterr().err, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written, not even the --save that could be
    assert main(["schedule", "--save", "new/c.yaml"]) == 0 and (tmp_path / "new" / "c.yaml").is_file()


def test_a_plot_place_that_cannot_be_written_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code = main(TINY + ["--output", str(tmp_path / "run"), "--plot", str(tmp_path / "afile" / "run.png")])
    assert_one_line_error(code, capsys.readouterr().err, "--plot", "stands in the way of the folder")
    assert not (tmp_path / "run").exists()  # refused before the run folder was made, not after the last epoch


def test_a_single_class_folder_is_refused_for_a_classifier(tmp_path, capsys):
    data = make_image_folder(tmp_path / "one", classes=1, per_class=8)
    argv = ["train", "--preset", "cpu", "--model", "resnet10t", "--data", str(data), "--final-size", "16", "--batch-size", "4",
            "--epochs", "1", "--workers", "0", "--no-progress", "--output", str(tmp_path / "run")]  # fmt: skip
    assert_one_line_error(main(argv), capsys.readouterr().err, "1 class (class0)", "at least 2 class folders", "--objective mae")
    assert not (tmp_path / "run").exists()


def test_init_from_a_checkpoint_of_another_architecture_is_refused(finished_run, tmp_path, capsys):
    argv = [*TINY, "--model", "resnet18", "--init-from", str(finished_run / "last.pt"), "--output", str(tmp_path / "run")]
    assert_one_line_error(main(argv), capsys.readouterr().err, "only 53 of the model's 120 tensors match", "made for resnet10t", "same architecture")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_demo_errors_name_the_demo_commands_own_flags(tmp_path, capsys):
    cases = [(["--image-size", "4"], "--image-size must be"), (["--per-class", "0"], "--per-class must be"),
             (["--per-class", "2"], "--per-class 2 gives 20 training images, fewer than one batch of 32; use --per-class 4")]  # fmt: skip
    for extra, needle in cases:
        assert_one_line_error(main(["demo", "--output", str(tmp_path / "d"), *extra]), capsys.readouterr().err, needle)
    assert not (tmp_path / "d").exists()


def test_shards_check_out_and_the_pixel_limit_before_writing(tmp_path, capsys):
    data = make_image_folder(tmp_path / "data")
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(main(["shards", str(data), str(tmp_path / "afile")]), capsys.readouterr().err, "OUT", "is a file")
    assert_one_line_error(main(["shards", str(data), str(tmp_path / "sh"), "--max-image-pixels", "-5"]), capsys.readouterr().err, "--max-image-pixels must be at least 1")
    assert not (tmp_path / "sh").exists()
