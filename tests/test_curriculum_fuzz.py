"""Fuzzing the curriculum loader: every malformed file gives a one-line ValueError naming the field.

A valid spec is mutated field by field (top level and per stage) with wrong types, nested
containers, nulls, strings, booleans, NaN/inf, negative, zero and huge numbers, written as YAML and
as JSON, and read back through :func:`load_curriculum`. Anything but a ``ValueError`` with a
single-line message (which the CLI prints as ``efficienttrain: error: ...`` with exit status 2) is a
failure.
"""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from efficienttrain.cli import main
from efficienttrain.curricula import Curriculum, load_curriculum
from efficienttrain.curricula.schedule import MAX_EPOCHS, MAX_RANDAUGMENT_MAGNITUDE
from efficienttrain.frequency import MAX_IMAGE_SIZE

NAN, INF = float("nan"), float("inf")

VALID: dict[str, Any] = {
    "name": "fuzz",
    "epochs": 10,
    "final_size": 224,
    "magnitude": "linear",
    "max_magnitude": 9,
    "budget": 8,
    "stages": [
        {"start": 0, "end": 6, "size": 160, "magnitude": 3},
        {"start": 6, "epochs": 4, "size": 224, "magnitude": 5},
    ],
}

# Bad for any numeric field whatever its bounds; 0 is added only where it is invalid by itself.
NOT_A_NUMBER: list[Any] = ["abc", "160", "", [1, 3], [[1, 3]], {"a": 1}, True, False, NAN, INF, -INF, -1, -0.5, 1e308, 10**30, -(10**30)]
TOP_BAD: dict[str, list[Any]] = {
    "name": [None, 160, 2.5, True, NAN, [1, 3], {"a": 1}, "two\nlines", 10**30],
    "epochs": NOT_A_NUMBER + [None, 0, MAX_EPOCHS + 1],
    "final_size": NOT_A_NUMBER + [0, 224.5, MAX_IMAGE_SIZE + 1],
    "magnitude": [None, "cubic", "160", "", 9, 9.0, True, NAN, [1, 3], {"a": 1}, 10**30],
    "max_magnitude": NOT_A_NUMBER + [None, MAX_RANDAUGMENT_MAGNITUDE + 1],
    "stages": [None, [], "abc", 5, 1e308, True, NAN, {"a": 1}, {"end": 10, "size": 224}, [1, 3], [[1, 3]], [None], 10**30],
    "budget": NOT_A_NUMBER + [0],
}
STAGE_BAD: dict[str, list[Any]] = {
    "start": NOT_A_NUMBER + [None, MAX_EPOCHS + 1],
    "end": NOT_A_NUMBER + [None, MAX_EPOCHS + 1],
    "epochs": NOT_A_NUMBER + [None, 0, MAX_EPOCHS + 1],
    "size": NOT_A_NUMBER + [None, 0, 160.5, MAX_IMAGE_SIZE + 1],
    "magnitude": NOT_A_NUMBER + [MAX_RANDAUGMENT_MAGNITUDE + 1],
}
# Where a field may sit: (stage number from 1, or None for the top level; field).
LOCATIONS = [(None, f) for f in TOP_BAD] + [(n, f) for n in (1, 2) for f in STAGE_BAD]


def _json_safe(value: Any) -> bool:
    """Whether ``value`` survives JSON portably (no NaN or infinities anywhere inside)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(_json_safe(v) for v in value.values())
    return True


def _mutate(spec: dict[str, Any], stage: int | None, field: str, value: Any) -> None:
    target = spec if stage is None else spec["stages"][stage - 1]
    target[field] = value


def _needles(stage: int | None, field: str) -> list[str]:
    """Text that a message about this field must contain (all of it)."""
    return [f"'{field}'"] if stage is None else [f"stage {stage}", f"'{field}'"]


def _write(folder: Path, spec: Any, fmt: str) -> Path:
    path = folder / f"curriculum.{fmt}"
    path.write_text(json.dumps(spec) if fmt == "json" else yaml.safe_dump(spec))
    return path


def _load_error(path: Path) -> str:
    """Load ``path``, which must fail with a one-line ValueError; return the message."""
    try:
        load_curriculum(path)
    except ValueError as err:
        message = str(err)
    else:
        pytest.fail(f"{path.read_text()!r} loaded without error")
    assert message and "\n" not in message and "\r" not in message, message
    return message


def _cases() -> list[Any]:
    cases = []
    for stage, field in LOCATIONS:
        for value in (TOP_BAD if stage is None else STAGE_BAD)[field]:
            label = f"{'top' if stage is None else f'stage{stage}'}-{field}-{value!r:.20}"
            cases.append(pytest.param(stage, field, value, id=label))
    return cases


def test_valid_spec_loads(tmp_path):
    for fmt in ("yaml", "json"):
        cur = load_curriculum(_write(tmp_path, VALID, fmt))
        assert isinstance(cur, Curriculum) and cur.epochs == 10 and cur.budget == 8


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the whole module: a fresh tmp_path per case would dominate the run time."""
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("stage,field,value", _cases())
def test_bad_field_gives_one_line_value_error(folder, stage, field, value):
    spec = copy.deepcopy(VALID)
    _mutate(spec, stage, field, value)
    # JSON cannot hold NaN or infinities portably; YAML (.nan, .inf) can.
    for fmt in ("yaml", "json") if _json_safe(value) else ("yaml",):
        message = _load_error(_write(folder, spec, fmt))
        for needle in _needles(stage, field):
            assert needle in message, (fmt, message)
        assert len(message) < 400, message


def _wild_value(rng: random.Random, depth: int = 0) -> Any:
    """A random value of any type a YAML/JSON file can hold."""
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([-1, 1]) * 10 ** rng.randrange(0, 40) + rng.randrange(-3, 4)
    if kind == 2:
        return rng.choice([NAN, INF, -INF, 0.0, 1e308, -1e-300, rng.uniform(-1e6, 1e6), rng.uniform(0, 300)])
    if kind in (3, 4):
        return "".join(rng.choice("0123456789.e-+ abc\n\t:{}[]\u00e9") for _ in range(rng.randrange(0, 12)))
    if kind == 5:
        return rng.randrange(0, 5000)
    if kind == 6:
        return [_wild_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {str(rng.randrange(3)): _wild_value(rng, depth + 1) for _ in range(rng.randrange(0, 3))}


def test_seeded_random_fuzz(tmp_path):
    rng = random.Random(20240611)
    loaded = failed = 0
    for _ in range(300):
        spec = copy.deepcopy(VALID)
        # Stage fields first: a later top-level 'stages' mutation may replace the stages list.
        picks = sorted(rng.sample(LOCATIONS, rng.randrange(1, 4)), key=lambda loc: loc[0] is None)
        wild = rng.random() < 0.5
        needles = []
        for stage, field in picks:
            pool = TOP_BAD[field] if stage is None else STAGE_BAD[field]
            _mutate(spec, stage, field, _wild_value(rng) if wild else rng.choice(pool))
            needles.append(f"stage {stage}" if stage is not None else field.replace("_", " "))
            needles.append(field)
        fmt = "json" if _json_safe(spec) and rng.random() < 0.5 else "yaml"
        path = _write(tmp_path, spec, fmt)
        try:
            load_curriculum(path)
        except ValueError as err:
            message = str(err)
            assert message and "\n" not in message, message
            # A wild value may be valid for its own field yet clash with another (a gap, a size
            # above the final size); such messages name the stage or field they concern.
            assert any(n in message for n in needles), (picks, message)
            failed += 1
        else:
            assert wild, (picks, spec)  # only a wild value may happen to be valid
            loaded += 1
    assert failed > 200


@pytest.mark.parametrize(
    "content,fmt,needle",
    [
        (b"", "yaml", "empty"),
        (b"  \n# only a comment\n", "yaml", "empty"),
        (b"", "json", "empty"),
        (b"- 1\n- 2\n", "yaml", "mapping"),
        (b"[1, 2]", "json", "mapping"),
        (b"just a string\n", "yaml", "mapping"),
        (b"42", "json", "mapping"),
        (b"null", "json", "empty"),
        (bytes(range(256)) * 4, "yaml", "UTF-8"),
        (b"\xff\xfe" + "stages: []".encode("utf-16-le"), "yaml", "UTF-8"),
        (b"stages:\x00\x01\x02 [\n", "yaml", "cannot parse"),
        (b"{\"stages\": [", "json", "cannot parse"),
        (b"[" * 5000 + b"]" * 5000, "json", "cannot parse"),
        (b"[" * 800 + b"]" * 800, "yaml", "cannot parse"),  # PyYAML recurses per level
        (b"stages: !!int 'abc'\n", "yaml", "cannot parse"),
        (b"name: 2001-02-30\nstages: [{end: 1, size: 8}]\n", "yaml", "cannot parse"),
        (b"stages: [{end: 10, size: 224}]\n1: 2\n? [a]\n: 3\n", "yaml", "cannot parse"),
        (b"stages: [{end: 10, size: 224}]\n1: 2\nnull: 3\n", "yaml", "unknown curriculum key"),
        (b"stages: [{end: 10, size: 224, 7: x}]\n", "yaml", "unknown key"),
        (b"\xef\xbb\xbfstages: [{end: 10, size: 224, epochs: 3}]\n", "yaml", "agree"),
    ],
)
def test_bad_file_gives_one_line_value_error(tmp_path, content, fmt, needle):
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(content)
    assert needle in _load_error(path)


def test_cli_schedule_prints_one_line_and_exits_2(tmp_path, capsys):
    spec = copy.deepcopy(VALID)
    spec["stages"][1]["epochs"] = [1, 3]
    path = _write(tmp_path, spec, "yaml")
    rc = main(["schedule", "--kind", str(path)])
    captured = capsys.readouterr()
    assert rc == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("efficienttrain: error: ") and "stage 2: 'epochs' must be a number" in lines[0], lines[0]
    assert captured.out == ""
