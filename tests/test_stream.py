"""Streamed shards: the curriculum's settings per step, each sample once per epoch, exact resume, bad input."""

from __future__ import annotations

import collections
import io
import json
import tarfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from efficienttrain.cli import main
from efficienttrain.curricula import create_curriculum
from efficienttrain.data.shards import write_shards
from efficienttrain.data.shrink import ShrinkPlan
from efficienttrain.data.stream import CurriculumStream, EvalStream, Shard, ShardSet, expand_braces
from efficienttrain.data.transforms import build_train_transform
from efficienttrain.data.worker import CurriculumDataset
from efficienttrain.errors import UserError
from efficienttrain.runner import Trainer

from .conftest import assert_one_line_error, make_image_folder, sigterm_at_loss_call, tiny_config


def _shards(tmp_path: Path, classes: int = 3, per_class: int = 20, shard_size: int = 7, size: int = 40) -> Path:
    """An image folder written as shards: ``<out>/train`` and ``<out>/val``."""
    src = make_image_folder(tmp_path / "src", classes=classes, per_class=per_class, size=size)
    write_shards(src, tmp_path / "shards", shard_size=shard_size, log=lambda _m: None)
    return tmp_path / "shards"


def _write_tar(path: Path, samples: list[dict[str, bytes]]) -> Path:
    """A tar of samples given as ``{suffix: payload}``, keyed 0, 1, ..."""
    with tarfile.open(path, "w") as tar:
        for key, sample in enumerate(samples):
            for suffix, payload in sample.items():
                info = tarfile.TarInfo(f"{key:06d}.{suffix}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return path


def _png(seed: int = 0, size: int = 16) -> bytes:
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    buf = io.BytesIO()
    Image.fromarray(torch.randint(0, 255, (size, size, 3), generator=g, dtype=torch.uint8).numpy()).save(buf, format="PNG")
    return buf.getvalue()


def test_brace_patterns_expand_like_webdataset():
    assert expand_braces("a-{000..003}.tar") == ["a-000.tar", "a-001.tar", "a-002.tar", "a-003.tar"]
    assert expand_braces("{x,y}/s-{8..10}.tar") == ["x/s-8.tar", "x/s-9.tar", "x/s-10.tar", "y/s-8.tar", "y/s-9.tar", "y/s-10.tar"]
    assert expand_braces("plain.tar") == ["plain.tar"]
    with pytest.raises(UserError, match="counts down"):
        expand_braces("s-{5..1}.tar")
    with pytest.raises(UserError, match="unbalanced"):
        expand_braces("s-{1..2.tar")


def _fake_set(counts: list[int]) -> ShardSet:
    return ShardSet([Shard(f"s{i}.tar", n) for i, n in enumerate(counts)], ["a", "b"])


@pytest.mark.parametrize("ranks", [1, 2, 3])
@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_each_sample_once_per_epoch_over_ranks_and_lanes_with_uneven_shards(ranks, lanes, monkeypatch):
    """Sharding by rank and lane covers each sample at most once, leaves out less than a batch per rank, and every rank has the same batch count."""
    shards = _fake_set([13, 1, 29, 7, 7, 20, 3])  # 80 samples in uneven shards
    # Only positions matter here: a fake reader hands out each piece's positions.
    from efficienttrain.data import stream as module

    monkeypatch.setattr(module, "read_shard", lambda path, start, stop: (module.RawSample("k", b"", 0, p) for p in range(start, stop)))
    cur = create_curriculum("efficienttrain", 3, 32)
    plan = ShrinkPlan(replay=2)  # batches below the final size load half as many images
    for epoch in range(3):
        seen: collections.Counter = collections.Counter()
        steps = set()
        for rank in range(ranks):
            s = CurriculumStream(shards, cur, 8, plan=plan, num_replicas=ranks, rank=rank, lanes=lanes, shuffle_buffer=10)
            batches = s.sample_indices(epoch)
            steps.add(len(batches))
            assert [len(b) for b in batches] == [s.fresh_in_step(epoch, k) for k in range(len(batches))]
            seen.update(i for b in batches for i in b)
        assert len(steps) == 1  # every rank ends the epoch together: no DDP hang on uneven shards
        assert max(seen.values()) == 1 and set(seen) <= set(range(80))
        assert 80 - sum(seen.values()) >= 0
        assert sum(s.fresh_in_step(epoch, k) for k in range(steps.pop())) * ranks == sum(seen.values())


def test_epochs_and_seeds_change_the_order_and_ranks_agree_on_the_shard_order(tmp_path):
    shards = ShardSet.open(str(_shards(tmp_path) / "train"))
    cur = create_curriculum("constant", 2, 32)
    s = CurriculumStream(shards, cur, 8, lanes=2)
    assert s.sample_indices(0) != s.sample_indices(1)
    assert s.sample_indices(0) == CurriculumStream(shards, cur, 8, lanes=2).sample_indices(0)
    assert s.sample_indices(0) != CurriculumStream(shards, cur, 8, lanes=2, seed=1).sample_indices(0)


def _collect(stream: CurriculumStream, epoch: int, start: int, workers: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    stream.set_epoch(epoch, start)
    loader = DataLoader(stream, batch_size=None, num_workers=workers, persistent_workers=workers > 0)
    return [(x.clone(), y.clone()) for x, y in loader]


def test_a_resume_at_any_step_gives_the_same_batches_with_any_worker_count(tmp_path):
    """Batches are a function of (seed, epoch, lanes, step): resumed at step k, with 0, 1 or 3 workers, they are the uninterrupted run's."""
    shards = ShardSet.open(str(_shards(tmp_path) / "train"))
    shards.transform = build_train_transform(32, randaugment="rand-m9-mstd0.5-inc1")
    cur = create_curriculum("efficienttrain", 3, 32)

    def stream() -> CurriculumStream:
        return CurriculumStream(shards, cur, 8, plan=ShrinkPlan("workers", replay=2), lanes=2, shuffle_buffer=10, workers=2)

    reference = _collect(stream(), 1, 0, workers=2)
    assert len(reference) == 7
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a loader worker: a resize on several threads rounds differently
    try:
        resumed_runs = {(start, workers): _collect(stream(), 1, start, workers) for start, workers in ((3, 0), (3, 1), (4, 3), (6, 2))}
    finally:
        torch.set_num_threads(threads)
    for (start, workers), resumed in resumed_runs.items():
        assert len(resumed) == 7 - start
        for (x, y), (rx, ry) in zip(reference[start:], resumed):
            assert torch.equal(x, rx) and torch.equal(y, ry), (start, workers)


@pytest.mark.parametrize("reduced", [False, True], ids=["full-decode", "reduced-decode"])
def test_the_stream_shrinks_each_batch_to_its_steps_size_in_the_workers(tmp_path, reduced):
    shards = ShardSet.open(str(_shards(tmp_path, size=100) / "train"))
    plan = ShrinkPlan("before-augment", reduced_decode=reduced)
    shards.transform = build_train_transform(32, **plan.transform_options())
    s = CurriculumStream(shards, create_curriculum("efficienttrain", 3, 32), 8, plan=plan, lanes=2)
    for epoch in range(3):
        got = [x.shape[-1] for x, _ in _collect(s, epoch, 0, workers=2)]
        assert got == [s.settings(epoch, k).size for k in range(s.steps_per_epoch)]


@pytest.mark.slow
def test_a_stream_and_a_folder_of_the_same_images_get_the_same_settings_at_every_step(tmp_path, monkeypatch):
    """The keys the workers receive (magnitude, size, replay views) match step for step between a folder and its shards."""
    src = make_image_folder(tmp_path / "src", classes=3, per_class=20, size=40)
    write_shards(src, tmp_path / "shards", shard_size=7, log=lambda _m: None)
    seen: dict[str, list] = {}
    original = CurriculumDataset.__getitems__

    def spy(self, keys):
        if keys and isinstance(keys[0], tuple):
            seen[current].append(sorted((k.magnitude, k.size, k.view) for k in keys))
        return original(self, keys)

    monkeypatch.setattr(CurriculumDataset, "__getitems__", spy)
    for current, data in (("folder", src), ("stream", tmp_path / "shards")):
        seen[current] = []
        cfg = tiny_config(tmp_path / current, data=str(data), final_size=32, batch_size=8, epochs=2, replay=2, preflight=False)
        result = Trainer(cfg).run()
        assert result.completed
    assert len(seen["folder"]) == 2 * 7 and seen["folder"] == seen["stream"]
    assert len({keys[0][1] for keys in seen["stream"]}) >= 2 and any(k[2] == 1 for keys in seen["stream"] for k in keys)  # sizes change, views replay


@pytest.mark.slow
def test_training_from_shards_resumes_mid_epoch_to_identical_weights(tmp_path):
    """A stop mid-epoch (as on SIGTERM) on a stream with a worker resumes to the uninterrupted run's weights and metrics."""
    data = _shards(tmp_path, per_class=10, shard_size=4)

    def cfg(name: str, **extra):
        return tiny_config(tmp_path / name, data=str(data), final_size=32, batch_size=6, workers=1, epochs=2, **extra)

    straight = Trainer(cfg("a")).run()
    first = Trainer(cfg("b", preflight=False))
    sigterm_at_loss_call(first, 8)  # epoch 2, step 2 (5 steps per epoch)
    assert not first.run().completed
    resumed = Trainer(cfg("b", resume=True)).run()
    assert resumed.completed
    a = torch.load(straight.output_dir / "last.pt", weights_only=True)
    b = torch.load(resumed.output_dir / "last.pt", weights_only=True)
    assert b["sampler"]["lanes"] == 1 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [h["top1"] for h in straight.history] == [h["top1"] for h in resumed.history]


def test_eval_stream_gives_each_validation_sample_once_over_ranks_and_workers(tmp_path):
    val = ShardSet.open(str(_shards(tmp_path) / "val"))
    labels = collections.Counter()
    total = 0
    for rank in range(2):
        for x, y in DataLoader(EvalStream(val, 2, rank), batch_size=None, num_workers=2):
            labels[y] += 1
            total += 1
    assert total == len(val) == 60 and labels == {0: 20, 1: 20, 2: 20}


def test_a_folder_of_tars_without_an_index_is_scanned_and_json_labels_work(tmp_path):
    folder = tmp_path / "wds"
    (folder / "train").mkdir(parents=True)
    (folder / "val").mkdir()
    for split, n in (("train", 10), ("val", 4)):
        _write_tar(folder / split / "a.tar", [{"png": _png(i), "json": json.dumps({"label": i % 2}).encode()} for i in range(n)])
        _write_tar(folder / split / "b.tar", [{"png": _png(i), "cls": str(i % 2).encode()} for i in range(n // 2)])
    s = ShardSet.open(str(folder / "train"))
    assert len(s) == 15 and s.classes == ["0", "1"] and [x.samples for x in s.shards] == [10, 5]
    result = Trainer(tiny_config(tmp_path / "run", data=str(folder), final_size=16, batch_size=4, epochs=1)).run()
    assert result.completed and len(result.history) == 1


def _error(capsys, code: int, *needles: str) -> None:
    assert_one_line_error(code, capsys.readouterr().err, *needles)


def _cli_train(tmp_path: Path, data: str, *extra: str) -> list[str]:
    return ["train", "--data", data, "--model", "resnet10t", "--epochs", "1", "--batch-size", "4", "--final-size", "16",
            "--workers", "0", "--no-progress", "--output", str(tmp_path / "run"), *extra]  # fmt: skip


def test_bad_shard_sources_are_one_line_errors(tmp_path, capsys):
    data = _shards(tmp_path, per_class=4, shard_size=4)
    train = data / "train"
    # A pattern that names a shard that is not there.
    _error(capsys, main(_cli_train(tmp_path, str(train / "shard-{000000..000009}.tar"), "--val-data", str(data / "val"))), "shard not found")
    # A pattern without validation shards.
    _error(capsys, main(_cli_train(tmp_path, str(train / "shard-{000000..000002}.tar"))), "--val-data")
    # An empty folder of shards.
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "val").mkdir()
    _write_tar(tmp_path / "empty" / "train" / "x.tar", [])
    _error(capsys, main(_cli_train(tmp_path, str(tmp_path / "empty"))), "holds no samples")
    # A sample without a label.
    nolabel = tmp_path / "nolabel"
    _write_tar(nolabel.with_suffix(".tar"), [{"png": _png(0)}])
    _error(capsys, main(_cli_train(tmp_path, str(nolabel.with_suffix(".tar")), "--val-data", str(data / "val"))), "has no label")
    # A file that is not a tar.
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"this is not a tar archive at all" * 40)
    _error(capsys, main(_cli_train(tmp_path, str(broken), "--val-data", str(data / "val"))), "cannot read the shard")
    # Validation classes the training shards lack.
    other = make_image_folder(tmp_path / "other", classes=4, per_class=2, size=16)
    write_shards(other, tmp_path / "other-shards", splits=("val",), log=lambda _m: None)
    _error(capsys, main(_cli_train(tmp_path, str(train), "--val-data", str(tmp_path / "other-shards" / "val"))), "classes the training shards lack")
    # Options that read folders only.
    _error(capsys, main(_cli_train(tmp_path, str(data), "--preload")), "--preload")


@pytest.mark.slow
def test_a_corrupt_image_in_a_shard_stops_with_its_name_or_is_skipped_and_counted(tmp_path, capsys):
    folder = tmp_path / "wds"
    for split in ("train", "val"):
        (folder / split).mkdir(parents=True)
        samples = [{"png": _png(i), "cls": str(i % 2).encode()} for i in range(12)]
        samples[3]["png"] = b"\x89PNG not really"
        _write_tar(folder / split / "a.tar", samples)
    _error(capsys, main(_cli_train(tmp_path, str(folder))), "cannot decode image 000003")
    assert main(_cli_train(tmp_path, str(folder), "--skip-bad-images", "--overwrite")) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["bad_images"] == 1


@pytest.mark.slow
def test_two_nodes_of_one_process_train_from_shards_to_identical_weights(tmp_path):
    """torchrun with 2 nodes x 1 process on localhost (c10d rendezvous on 127.0.0.1), on shards: both ranks end with the same weights."""
    import os
    import subprocess
    import sys

    from .conftest import free_port

    data = _shards(tmp_path, per_class=12, shard_size=5)
    port, out = free_port(), tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def node() -> subprocess.Popen:
        argv = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "two-nodes", "-m", "efficienttrain", "train", "--preset", "cpu",
                "--data", str(data), "--final-size", "32", "--model", "resnet10t", "--epochs", "2", "--batch-size", "4", "--workers", "1",
                "--threads", "1", "--no-progress", "--trace", "--output", str(out)]  # fmt: skip
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)

    nodes = [node(), node()]
    logs = [p.communicate(timeout=600)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], "\n".join(log[-3000:] for log in logs)
    traces = []
    for rank in (0, 1):
        lines = [json.loads(line) for line in (out / f"trace_rank{rank}.jsonl").read_text().splitlines()]
        traces.append(([(r["epoch"], r["step"], r["size"], r["magnitude"]) for r in lines if "step" in r], [r["final_weights_sha256"] for r in lines if "final_weights_sha256" in r]))
    assert traces[0][0] == traces[1][0] and len(traces[0][0]) == 2 * (36 // 2 // 4)
    assert len(traces[0][1]) == 1 and traces[0][1] == traces[1][1]


@pytest.mark.slow
def test_the_probe_times_the_loader_on_shards_with_the_planned_sizes(tmp_path, capsys):
    """efficienttrain probe on shards: the stream's workers form the planned batches (shrunk in the workers here, so their sizes show)."""
    data = _shards(tmp_path, per_class=10, shard_size=8)
    argv = ["probe", "--preset", "cpu", "--data", str(data), "--final-size", "32", "--model", "resnet10t", "--epochs", "4", "--batch-size", "8",
            "--workers", "2", "--batches", "2", "--warmup", "1", "--rounds", "1", "--shrink-at", "workers", "--json"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["size"] for r in report["sizes"]] == [23, 27, 32]
    assert all(r["loader_s"] > 0 and r["bottleneck"] in ("model", "loader") for r in report["sizes"])


def test_a_planned_stream_gives_each_setting_its_batch_in_order(tmp_path):
    from efficienttrain.curricula import Settings

    shards = ShardSet.open(str(_shards(tmp_path, per_class=4, shard_size=3) / "train"))
    shards.transform = build_train_transform(32)
    stream = CurriculumStream(shards, create_curriculum("efficienttrain", 2, 32), 4, plan=ShrinkPlan("workers", replay=2))
    plan = [Settings(size, 5.0, 0, 1, 0.0) for size in (20, 32, 24, 20, 32, 28, 32)]
    batches = list(DataLoader(stream.planned(plan), batch_size=None, num_workers=2))
    assert [x.shape[-1] for x, _ in batches] == [s.size for s in plan] and all(len(y) == 4 for _, y in batches)


@pytest.fixture
def served(tmp_path):
    """An HTTP server on 127.0.0.1 that serves ``tmp_path`` (the real URL reading code, offline)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: D401 - keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.slow
def test_shards_at_a_url_train_and_an_unreachable_url_is_a_one_line_error(tmp_path, served, capsys):
    _shards(tmp_path, per_class=8, shard_size=5)
    url = f"{served}/shards"
    train = ShardSet.open(f"{url}/train")
    assert len(train) == 24 and train.shards[0].path.startswith("http://")
    pattern = ShardSet.open(f"{url}/train/shard-{{000000..000001}}.tar")
    assert [s.samples for s in pattern.shards] == [5, 5]
    result = Trainer(tiny_config(tmp_path / "run", data=url, final_size=16, batch_size=4, epochs=1, workers=1)).run()
    assert result.completed
    from .conftest import free_port

    _error(capsys, main(_cli_train(tmp_path / "cli", f"http://127.0.0.1:{free_port()}/nothing")), "cannot reach http://127.0.0.1")
    _error(capsys, main(_cli_train(tmp_path / "cli", f"{url}/train/shard-{{000000..000099}}.tar", "--val-data", f"{url}/val")), "does not list shard-000005.tar")


def test_a_stale_index_is_a_one_line_error_not_a_hang_and_a_pattern_reads_the_index_beside_it(tmp_path):
    data = _shards(tmp_path, per_class=6, shard_size=5)
    pattern = ShardSet.open(str(data / "train" / "shard-{000000..000001}.tar"))
    assert pattern.classes == ["class0", "class1", "class2"] and [s.samples for s in pattern.shards] == [5, 5]
    index = json.loads((data / "train" / "index.json").read_text())
    index["shards"][0]["samples"] = 7  # a stale index: the tar holds 5
    (data / "train" / "index.json").write_text(json.dumps(index))
    stream = CurriculumStream(ShardSet.open(str(data / "train")), create_curriculum("constant", 1, 16), 4, shuffle_buffer=100)
    with pytest.raises(UserError, match="holds 5 samples where its index says 7"):
        stream.sample_indices(0)
