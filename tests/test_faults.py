"""Fault injection: SIGKILL at random moments, during a checkpoint write, and of one DDP rank.

A SIGKILL cannot be handled, so these tests check what is left on disk and what the next process
makes of it: every run is a subprocess in its own session (its process group is killed as a
whole, loader workers included, as an out-of-memory killer or a lost machine would), and the
test then resumes it and compares with an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import torch

from efficienttrain.errors import UserError
from efficienttrain.rundir import RunDir, checkpoint_epoch, load_checkpoint
from efficienttrain.runner import Trainer
from efficienttrain.runner.config import make_config
from efficienttrain.runner.distributed import dist_timeout

from .conftest import metric_rows, tiny_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL") or sys.platform == "win32", reason="needs POSIX signals and process groups"),
]

EPOCHS = 3
STEPS_PER_EPOCH = 10  # 10 classes x 8 demo images, batches of 8, drop_last
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
KILLS = 3
# How long a child may take to reach a point of the test before it counts as hung. Generous on
# purpose: the suite runs on shared 2-core machines, at times beside training jobs, where starting
# two torch processes and their first steps once took over 180 s. It guards hangs, not speed.
PROGRESS_TIMEOUT_S = 600


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """In-process runs here use ``threads=1`` (see :func:`_train_argv`); later tests get the count back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


DEMO_DATA = ("--data", "demo", "--demo-per-class", "8", "--demo-val-per-class", "3", "--demo-image-size", "32")


def _train_argv(out: Path, *extra: str, data: tuple[str, ...] = DEMO_DATA) -> list[str]:
    """The command line of a tiny CLI run (a second per epoch), as test_runner's.

    One thread: several of these processes share two cores, where idle OpenMP threads spinning
    would cost more than they bring (bit-identity needs the same thread count in every run anyway).
    """
    return [
        sys.executable, "-m", "efficienttrain", "train", "--preset", "cpu", *data, "--model", "resnet10t", "--epochs", str(EPOCHS),
        "--batch-size", "8", "--workers", "1", "--threads", "1", "--no-progress", "--deterministic", "--trace",
        "--output", str(out), *extra,
    ]  # fmt: skip


def _start(argv: list[str], log: Path, env: Optional[dict[str, str]] = None) -> subprocess.Popen:
    """Start ``argv`` in its own session (so that its whole process group can be killed), output to ``log``."""
    with open(log, "w") as f:
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, env=env)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of ``proc`` (started with its own session) if anything of it is left."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already
    proc.wait(timeout=60)


def _trace_records(path: Path, skip: int = 0) -> list[dict]:
    """The complete records of a trace file after its first ``skip`` lines (a line being written is left out)."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]  # the last piece has no newline yet, or is empty
    return [json.loads(line) for line in lines[skip:] if line.strip()]


def _steps_done(records: list[dict], steps_per_epoch: int = STEPS_PER_EPOCH) -> int:
    """How far training got, in steps from the start of the run, by the latest step record."""
    steps = [r["epoch"] * steps_per_epoch + r["step"] + 1 for r in records if "step" in r]
    return max(steps, default=0)


def _final_checksum(trace: Path) -> list[str]:
    return [r["final_weights_sha256"] for r in _trace_records(trace) if "final_weights_sha256" in r]


@dataclass
class Kill:
    """One SIGKILL of the random-kill test: where training was, and from what the session had started."""

    session: int
    resumed: bool
    target: int
    delay: float
    epoch: int
    step: int
    seconds: float  # from the session's start to the kill


@pytest.mark.slow
def test_random_sigkills_resume_to_the_uninterrupted_result(tmp_path):
    """SIGKILLs at random moments, each followed by a restart, end where an uninterrupted run ends.

    Three kills (the file's time budget): before the first checkpoint (the restart is a fresh
    start in a directory that is not empty), in epoch 2 and in epoch 3 (restarts with --resume).
    """
    rng = random.Random(20240607)
    straight_out, out = tmp_path / "straight", tmp_path / "killed"
    trace = out / "trace_rank0.jsonl"
    # The reference runs alongside the killed sessions: their first seconds are single-threaded imports.
    straight = _start(_train_argv(straight_out), tmp_path / "straight.log")
    kills: list[Kill] = []
    proc: Optional[subprocess.Popen] = None
    try:
        for session in range(KILLS):
            ckpt = out / RunDir.CHECKPOINT
            resumed = ckpt.exists()
            done_epochs = checkpoint_epoch(load_checkpoint(ckpt, mmap=True)) if resumed else 0
            assert done_epochs is not None and done_epochs < EPOCHS
            if not resumed and session == 0:
                # Before the first checkpoint: a kill well inside epoch 1. A kill after epoch 1's
                # metrics row is logged but before last.pt exists hits a known bug (see the xfail
                # test below), so this window is left to that deterministic test.
                target, delay = rng.randint(2, 5), rng.uniform(0.0, 0.05)
            elif not resumed:
                target, delay = rng.randint(STEPS_PER_EPOCH + 1, 2 * STEPS_PER_EPOCH - 1), rng.uniform(0.0, 0.4)
            else:
                # Anywhere from the checkpoint on (the last kill in the last epoch): mid-epoch, or
                # (with the delay) during the evaluation, the metrics row or the checkpoint write
                # between two epochs; but not so late that the run could end before the kill lands.
                first = (EPOCHS - 1 if session == KILLS - 1 else done_epochs) * STEPS_PER_EPOCH + 1
                target = rng.randint(first, TOTAL_STEPS - 6)
                delay = rng.uniform(0.0, 0.2 if target > (EPOCHS - 1) * STEPS_PER_EPOCH else 0.4)
            skip = len(_trace_records(trace)) if trace.exists() else 0
            # Without a checkpoint the output directory still holds the config, the trace and maybe
            # metrics of the killed session: the runner only refuses a directory with a last.pt.
            argv = _train_argv(out, *(["--resume"] if resumed else []))
            started = time.time()
            log = tmp_path / f"session{session}.log"
            proc = _start(argv, log)
            deadline = time.time() + PROGRESS_TIMEOUT_S
            while _steps_done(_trace_records(trace, skip)) < target:
                assert proc.poll() is None, f"session {session} ended (rc {proc.returncode}) before step {target}:\n" + log.read_text()[-3000:]
                assert time.time() < deadline, f"session {session} made no progress to step {target}:\n" + log.read_text()[-3000:]
                time.sleep(0.01)
            time.sleep(delay)
            records = _trace_records(trace, skip)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            # -9: the process was still running when the kill landed (not a vacuous kill of a finished run).
            assert proc.returncode == -signal.SIGKILL, (proc.returncode, log.read_text()[-3000:])
            last = [r for r in records if "step" in r][-1]
            kills.append(Kill(session, resumed, target, delay, last["epoch"], last["step"], round(time.time() - started, 1)))
        resumed = (out / RunDir.CHECKPOINT).exists()
        final = subprocess.run(_train_argv(out, *(["--resume"] if resumed else [])), capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
        assert straight.wait(timeout=300) == 0, (tmp_path / "straight.log").read_text()[-3000:]
    finally:
        for p in (proc, straight):
            if p is not None and p.poll() is None:
                _kill_group(p)

    # The kills were spread out: before any checkpoint (a fresh restart), and in later epochs (resumes).
    assert len(kills) == KILLS and not kills[0].resumed and kills[-1].resumed, kills
    assert len({k.epoch for k in kills}) >= 2, kills

    # Bit-identical final weights.
    ours, reference = _final_checksum(trace), _final_checksum(straight_out / "trace_rank0.jsonl")
    assert len(reference) == 1 and ours == reference, (kills, ours, reference)
    from safetensors.torch import load_file

    a, b = load_file(str(out / RunDir.MODEL)), load_file(str(straight_out / RunDir.MODEL))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    # Each epoch's metrics row exactly once, in order, with the uninterrupted run's numbers.
    history = RunDir(out).history()
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1)), (kills, history)
    # Every column but the clocks, in metrics.jsonl and metrics.csv alike.
    for name in (RunDir.METRICS_JSONL, RunDir.METRICS_CSV):
        assert metric_rows(out / name) == metric_rows(straight_out / name), (name, kills)
    summary = RunDir(out).summary()
    assert summary is not None and summary.completed


_HANG_IN_SECOND_CHECKPOINT = '''
"""Train, but write only half of the 2nd last.pt, then wait to be killed."""
import io, json, os, sys, time
from pathlib import Path

import torch

from efficienttrain.rundir import RunDir
from efficienttrain.runner import Trainer
from efficienttrain.runner.config import make_config

values, marker = json.loads(sys.argv[1]), Path(sys.argv[2])
real_save = torch.save
checkpoints = 0


def save_half_then_hang(obj, f, *args, **kwargs):
    global checkpoints
    name = os.path.basename(str(getattr(f, "name", "")))
    if RunDir.CHECKPOINT not in name:  # snapshots and anything else: untouched
        return real_save(obj, f, *args, **kwargs)
    checkpoints += 1
    if checkpoints < 2:
        return real_save(obj, f, *args, **kwargs)
    buffer = io.BytesIO()
    real_save(obj, buffer, *args, **kwargs)
    data = buffer.getvalue()
    f.write(data[: len(data) // 2])
    f.flush()
    os.fsync(f.fileno())
    marker.write_text(json.dumps({"file": str(f.name), "written": len(data) // 2}))
    time.sleep(600)


torch.save = save_half_then_hang  # rundir.save_checkpoint calls torch.save(state, file)
Trainer(make_config(values, preset="cpu")).run()
'''


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write_keeps_the_previous_checkpoint(tmp_path):
    """A kill halfway through writing last.pt leaves the previous last.pt whole, and --resume finishes the run."""
    out = tmp_path / "run"
    values = {
        "data": "demo", "demo_per_class": 8, "demo_val_per_class": 3, "demo_image_size": 32, "model": "resnet10t",
        "epochs": 2, "batch_size": 16, "workers": 0, "threads": 1, "output": str(out), "progress": False, "seed": 0,
        "deterministic": True,
    }  # fmt: skip
    script, marker = tmp_path / "hang_in_checkpoint.py", tmp_path / "marker.json"
    script.write_text(_HANG_IN_SECOND_CHECKPOINT)
    log = tmp_path / "hang.log"
    proc = _start([sys.executable, str(script), json.dumps(values), str(marker)], log)
    try:
        deadline = time.time() + PROGRESS_TIMEOUT_S
        while not marker.exists():
            assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before its 2nd checkpoint:\n" + log.read_text()[-3000:]
            assert time.time() < deadline, f"no 2nd checkpoint write within {PROGRESS_TIMEOUT_S} s:\n" + log.read_text()[-3000:]
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    assert proc.returncode == -signal.SIGKILL  # killed inside the write, not after it

    # The half-written file is there (and unreadable); last.pt is still the epoch-1 checkpoint.
    partial = json.loads(marker.read_text())
    assert Path(partial["file"]).stat().st_size == partial["written"] > 0
    assert Path(partial["file"]) != out / RunDir.CHECKPOINT
    with pytest.raises(UserError, match="cannot load checkpoint"):
        load_checkpoint(partial["file"])  # what last.pt would be without the temp file and rename
    checkpoint = RunDir(out).load_checkpoint()
    assert checkpoint.sampler["epoch"] == 1 and [h["epoch"] for h in checkpoint.history] == [1]
    # Epoch 2's metrics row was logged before the kill; the resume must not keep it twice.
    assert [h["epoch"] for h in RunDir(out).history()] == [1, 2]

    result = Trainer(make_config({**values, "resume": True}, preset="cpu")).run()
    assert result.completed and [h["epoch"] for h in result.history] == [1, 2]
    assert [h["epoch"] for h in RunDir(out).history()] == [1, 2]
    assert RunDir(out).load_checkpoint().sampler["epoch"] == 2


def test_fresh_start_after_a_kill_before_the_first_checkpoint_logs_each_epoch_once(tmp_path):
    """A kill between epoch 1's metrics row and the first last.pt; the restart must not log epoch 1 twice (was a bug)."""
    cfg = tiny_config(tmp_path, epochs=1, threads=1)
    Trainer(cfg).run()
    # What the kill leaves: the row is in metrics.jsonl/.csv, last.pt was never renamed into place
    # (and nothing written after it: the summary and the exported weights).
    for name in (RunDir.CHECKPOINT, RunDir.SUMMARY, RunDir.MODEL):
        (Path(cfg.output) / name).unlink(missing_ok=True)
    Trainer(tiny_config(tmp_path, epochs=1, threads=1)).run()
    assert [h["epoch"] for h in RunDir(cfg.output).history()] == [1]


def _children(pid: int) -> list[int]:
    """PIDs of the direct children of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # exited meanwhile
        match = re.search(r"^PPid:\s*(\d+)", status, re.MULTILINE)
        if match and int(match.group(1)) == pid:
            found.append(int(entry.name))
    return found


def _rank_pids(launcher: int) -> dict[int, int]:
    """Rank -> PID of the workers torchrun started (read from each child's RANK environment variable)."""
    ranks = {}
    for child in _children(launcher):
        try:
            environ = (Path("/proc") / str(child) / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        values = dict(item.split(b"=", 1) for item in environ if b"=" in item)
        if b"RANK" in values:
            ranks[int(values[b"RANK"])] = child
    return ranks


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks' PIDs through /proc")
def test_ddp_rank_sigkilled_ends_the_run_with_a_clear_message(tmp_path):
    """SIGKILL one of two DDP processes after the first checkpoint: the run ends, soon, saying what to do."""
    rng = random.Random(7)
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *_train_argv(out)[1:]]
    log = tmp_path / "ddp.log"
    proc = _start(argv, log, env)
    victim, steps_per_epoch = 1, STEPS_PER_EPOCH // 2  # each rank trains on half the batches
    try:
        target = rng.randint(steps_per_epoch + 2, steps_per_epoch + 3)  # early in epoch 2: last.pt holds epoch 1
        deadline = time.time() + PROGRESS_TIMEOUT_S
        while _steps_done(_trace_records(out / f"trace_rank{victim}.jsonl"), steps_per_epoch) < target:
            assert proc.poll() is None, f"torchrun ended (rc {proc.returncode}) before step {target}:\n" + log.read_text()[-3000:]
            assert time.time() < deadline, f"no step {target} within {PROGRESS_TIMEOUT_S} s:\n" + log.read_text()[-3000:]
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))
        ranks = _rank_pids(proc.pid)
        assert sorted(ranks) == [0, 1], ranks
        os.kill(ranks[victim], signal.SIGKILL)  # only the rank, as an OOM killer would; not its loader worker
        killed_at = time.time()
        try:
            rc = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail("the run hung for 90 s after rank 1 was killed:\n" + log.read_text()[-3000:])
        waited = time.time() - killed_at
    finally:
        # Also ends the killed rank's orphaned loader worker, which is still in the launcher's group.
        _kill_group(proc)
    text = log.read_text()
    assert rc != 0 and waited < 90, (rc, waited)
    # The surviving rank says what happened and what to do, in one line, without a traceback.
    assert "efficienttrain: error: lost contact with another process of the distributed run (rank 0 of 2" in text, text[-3000:]
    assert "the last checkpoint is kept: continue with --resume" in text
    assert "[rank0]: Traceback" not in text
    # torchrun's report names the rank that died, and how.
    assert re.search(r"rank\s*:\s*1 \(local_rank: 1\)\s*\n\s*exitcode\s*:\s*-9", text), text[-3000:]
    # Rank 0's last.pt is whole (epoch 1, or epoch 2 on a machine quick enough to end the epoch
    # before the kill lands: the evaluation's collectives would fail before the next save).
    checkpoint = RunDir(out).load_checkpoint()
    assert checkpoint.sampler["epoch"] in (1, 2) and checkpoint.world_size == 2


_FROZEN_PEER = '''
"""Rank 1 freezes after joining the process group; rank 0 then runs `train`, whose first collective waits on it."""
import os, signal, sys, time
from pathlib import Path

from efficienttrain.cli import main
from efficienttrain.runner import loop
from efficienttrain.runner.distributed import init_runtime

rank, folder = int(os.environ["RANK"]), Path(sys.argv[1])
# Both processes are past their imports before the group starts (it starts under the same timeout).
(folder / f"ready{rank}").touch()
while not (folder / f"ready{1 - rank}").exists():
    time.sleep(0.01)


class FirstCollective:
    """Stands in for the Trainer: starts the runtime and enters the step's collective."""

    def __init__(self, _config):
        pass

    def run(self):
        runtime = init_runtime("cpu")
        (folder / "waiting").touch()
        runtime.any_rank(False)


if rank == 1:
    init_runtime("cpu")
    os.kill(os.getpid(), signal.SIGSTOP)  # alive, sockets open, silent (a machine that vanished)
else:
    loop.Trainer = FirstCollective  # the train command looks it up when it runs
    sys.exit(main(["train", "--data", "demo"]))
'''


@pytest.mark.slow
def test_frozen_peer_ends_the_run_after_the_dist_timeout(tmp_path):
    """A peer that stops answering but keeps its sockets open ends the run after EFFICIENTTRAIN_DIST_TIMEOUT_S."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "frozen_peer.py"
    script.write_text(_FROZEN_PEER)
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   EFFICIENTTRAIN_DIST_TIMEOUT_S="3", OMP_NUM_THREADS="1")  # fmt: skip
        procs.append(_start([sys.executable, str(script), str(tmp_path)], tmp_path / f"rank{rank}.log", env))
    try:
        deadline = time.time() + PROGRESS_TIMEOUT_S
        while not (tmp_path / "waiting").exists():
            assert procs[0].poll() is None, (tmp_path / "rank0.log").read_text()[-3000:]
            assert time.time() < deadline, f"the process group did not start within {PROGRESS_TIMEOUT_S} s"
            time.sleep(0.01)
        waiting = time.time()
        rc = procs[0].wait(timeout=60)
        waited = time.time() - waiting
    finally:
        for proc in procs:
            _kill_group(proc)
    text = (tmp_path / "rank0.log").read_text()
    assert rc == 1 and 2.5 < waited < 60, (rc, waited, text[-3000:])
    assert "efficienttrain: error: lost contact with another process of the distributed run (rank 0 of 2" in text, text[-3000:]
    assert "continue with --resume" in text and "Traceback" not in text


def test_dist_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("EFFICIENTTRAIN_DIST_TIMEOUT_S", raising=False)
    assert dist_timeout().total_seconds() == 600
    monkeypatch.setenv("EFFICIENTTRAIN_DIST_TIMEOUT_S", "42.5")
    assert dist_timeout().total_seconds() == 42.5
    for bad in ("0", "-3", "ten", "nan", "inf"):
        monkeypatch.setenv("EFFICIENTTRAIN_DIST_TIMEOUT_S", bad)
        with pytest.raises(ValueError, match="EFFICIENTTRAIN_DIST_TIMEOUT_S"):
            dist_timeout()


@pytest.mark.slow
def test_a_sigkill_on_a_stream_of_shards_resumes_to_the_uninterrupted_result(tmp_path):
    """Training from WebDataset shards with two workers: a SIGKILL in epoch 2, then --resume, ends with the uninterrupted run's weights."""
    from efficienttrain.data.shards import write_shards

    from .conftest import make_image_folder

    src = make_image_folder(tmp_path / "src", classes=3, per_class=20, size=40)
    write_shards(src, tmp_path / "shards", shard_size=7, log=lambda _m: None)
    steps = 60 // 8  # 7 batches per epoch

    def argv(out: Path, *extra: str) -> list[str]:
        return _train_argv(out, "--workers", "2", *extra, data=("--data", str(tmp_path / "shards"), "--final-size", "32"))

    straight_out, out = tmp_path / "straight", tmp_path / "killed"
    straight = _start(argv(straight_out), tmp_path / "straight.log")
    proc = _start(argv(out), tmp_path / "killed.log")
    try:
        deadline = time.time() + PROGRESS_TIMEOUT_S
        while _steps_done(_trace_records(out / "trace_rank0.jsonl"), steps) < steps + 3:  # epoch 2, step 3
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "killed.log").read_text()[-3000:]
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        final = subprocess.run(argv(out, "--resume"), capture_output=True, text=True, timeout=600)
        assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
        assert straight.wait(timeout=600) == 0, (tmp_path / "straight.log").read_text()[-3000:]
    finally:
        for p in (proc, straight):
            if p.poll() is None:
                _kill_group(p)
    ours, reference = _final_checksum(out / "trace_rank0.jsonl"), _final_checksum(straight_out / "trace_rank0.jsonl")
    assert len(reference) == 1 and ours == reference
    assert metric_rows(out / RunDir.METRICS_JSONL) == metric_rows(straight_out / RunDir.METRICS_JSONL)
