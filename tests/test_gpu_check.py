"""The prepared GPU check runs end to end: on a CPU with --smoke (toy sizes), and exits 0 without CUDA."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_gpu_check_smoke_covers_every_section(tmp_path, capsys):
    assert _gpu_check().main(["--smoke", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert {(c["in"], c["size"]) for c in result["crop"]} == {(32, 24), (48, 32)}
    assert {(p["amp"], p["channels_last"]) for p in result["precision"]} == {("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True)}
    assert result["compile"]["graphs"] == 3 and set(result["compile"]["sizes"]) == {"23", "27", "32"}
    assert set(result["preflight"]["peak_memory_mib"]) == {"23", "27", "32"}
    assert "torch.compile" in (tmp_path / "gpu.md").read_text()


def test_gpu_check_without_cuda_says_so(monkeypatch, capsys):
    module = _gpu_check()
    monkeypatch.setattr(module.torch.cuda, "is_available", lambda: False)
    assert module.main([]) == 0
    assert capsys.readouterr().out.strip().count("\n") == 0
