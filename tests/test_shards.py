"""``efficienttrain shards``: an image folder written as WebDataset shards, with an index."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from efficienttrain.cli import main
from efficienttrain.data.shards import ShardIndex, write_shards

from .conftest import assert_one_line_error, make_image_folder


def _samples(tar_path: Path) -> list[tuple[Image.Image, int, dict]]:
    """Each sample of a shard: the decoded image, its label and its origin record."""
    with tarfile.open(tar_path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    keys = sorted({name.split(".")[0] for name in members})
    return [(Image.open(io.BytesIO(members[f"{k}.jpg"])), int(members[f"{k}.cls"]), json.loads(members[f"{k}.json"])) for k in keys]


def test_shards_keep_every_image_its_label_and_its_class_name(tmp_path):
    src = make_image_folder(tmp_path / "src", classes=3, per_class=5, size=40)
    indexes = write_shards(src, tmp_path / "out", shard_size=4, max_side=32, log=lambda _m: None)
    index = ShardIndex.read(tmp_path / "out" / "train")
    assert index.classes == ["class0", "class1", "class2"] and index.samples == 15 and len(index.shards) == 4
    assert [s["samples"] for s in index.shards] == [4, 4, 4, 3] and indexes["val"].samples == 15
    seen = []
    for shard in index.shards:
        for img, label, origin in _samples(tmp_path / "out" / "train" / shard["name"]):
            assert origin["class"] == index.classes[label] and origin["path"].startswith(origin["class"] + "/")
            assert max(img.size) <= 32
            seen.append(origin["path"])
    assert sorted(seen) == sorted(f"class{c}/{i}.png" for c in range(3) for i in range(5))


def test_a_jpeg_that_fits_is_stored_as_its_own_bytes(tmp_path):
    src = make_image_folder(tmp_path / "src", classes=2, per_class=1, size=24)
    jpeg = src / "train" / "class0" / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 20, 3), dtype=np.uint8)).save(jpeg, quality=80)
    write_shards(src, tmp_path / "out", splits=("train",), log=lambda _m: None)
    with tarfile.open(tmp_path / "out" / "train" / "shard-000000.tar") as tar:
        stored = [tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".jpg")]
    assert jpeg.read_bytes() in stored


def test_a_stopped_run_resumes_to_the_same_bytes(tmp_path):
    src = make_image_folder(tmp_path / "src", classes=2, per_class=6, size=24)
    out = tmp_path / "out"
    write_shards(src, out, shard_size=5, splits=("train",), log=lambda _m: None)
    first = {p.name: p.read_bytes() for p in (out / "train").iterdir()}
    # As a run killed after its first shard leaves it: later shards missing, one partial temp file.
    for name in ("shard-000001.tar", "shard-000001.json", "shard-000002.tar", "shard-000002.json", "index.json"):
        (out / "train" / name).unlink()
    (out / "train" / ".shard-000001.tar.tmp-99999").write_bytes(b"partial")
    write_shards(src, out, shard_size=5, splits=("train",), log=lambda _m: None)
    again = {p.name: p.read_bytes() for p in (out / "train").iterdir()}
    assert again == first  # the same shards, and the dead writer's partial file is gone


def test_an_unreadable_image_is_named_and_left_out(tmp_path):
    src = make_image_folder(tmp_path / "src", classes=2, per_class=3, size=24)
    (src / "train" / "class1" / "broken.png").write_bytes(b"not an image")
    index = write_shards(src, tmp_path / "out", splits=("train",), log=lambda _m: None)["train"]
    assert index.samples == 6 and index.bad_images == ["class1/broken.png"]


def test_the_command_refuses_what_it_must_not_write(tmp_path, capsys):
    src = make_image_folder(tmp_path / "src", classes=2, per_class=2, size=24)
    code = main(["shards", str(src), str(src / "shards")])
    assert_one_line_error(code, capsys.readouterr().err, "inside the source")
    busy = tmp_path / "out" / "train"
    busy.mkdir(parents=True)
    (busy / "notes.txt").write_text("mine")
    code = main(["shards", str(src), str(tmp_path / "out"), "--no-progress"])
    assert_one_line_error(code, capsys.readouterr().err, "holds files that are not shards", "notes.txt")
    assert (busy / "notes.txt").read_text() == "mine"
    code = main(["shards", str(tmp_path / "missing"), str(tmp_path / "o2")])
    assert_one_line_error(code, capsys.readouterr().err, "dataset directory not found")
    code = main(["shards", str(src), str(tmp_path / "o3"), "--shard-size", "0"])
    assert_one_line_error(code, capsys.readouterr().err, "--shard-size must be at least 1")
    assert main(["shards", str(src), str(tmp_path / "o4"), "--no-progress"]) == 0
    assert "train: 4 images in 1 shards" in capsys.readouterr().out


def test_short_side_shrinks_like_preloading_and_images_are_spread_across_shards(tmp_path):
    src = make_image_folder(tmp_path / "src", classes=3, per_class=6, size=40, splits=("train", "val"))
    wide = src / "train" / "class1" / "wide.png"
    Image.fromarray(np.zeros((30, 90, 3), dtype=np.uint8)).save(wide)
    write_shards(src, tmp_path / "out", shard_size=6, short_side=20, splits=("train",), log=lambda _m: None)
    index = ShardIndex.read(tmp_path / "out" / "train")
    sizes, labels_per_shard = {}, []
    for shard in index.shards:
        samples = _samples(tmp_path / "out" / "train" / shard["name"])
        labels_per_shard.append({label for _, label, _ in samples} if len(samples) >= 6 else {-1, -2})
        sizes.update({origin["path"]: img.size for img, _, origin in samples})
    assert sizes["class1/wide.png"] == (60, 20) and sizes["class0/0.png"] == (20, 20)
    # Shuffled across the shards: a full shard of a class-sorted list would hold one class only.
    assert all(len(labels) > 1 for labels in labels_per_shard)
