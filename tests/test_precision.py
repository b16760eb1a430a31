"""--amp auto on a CPU: fp32 without native bf16, the faster of two timed steps with it, and a resume keeps its choice."""

from __future__ import annotations

import pytest
import torch

from efficienttrain.runner import Trainer
from efficienttrain.runner import precision
from efficienttrain.runner.config import PRESETS
from efficienttrain.runner.precision import choose_cpu_precision, native_bf16, slow_amp_warning

from .conftest import tiny_config


def test_native_bf16_reads_the_cpu_flags(tmp_path):
    amd, intel = tmp_path / "amd", tmp_path / "intel"
    amd.write_text("processor: 0\nflags\t\t: fpu sse avx avx2 fma\n")
    intel.write_text("processor: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert not native_bf16(str(amd)) and native_bf16(str(intel)) and not native_bf16(str(tmp_path / "missing"))


def _never(amp: str) -> float:
    raise AssertionError("no step may be timed here")


def test_without_native_bf16_auto_trains_in_fp32_without_timing():
    choice = choose_cpu_precision(resumed=None, deterministic=False, distributed=False, step_seconds=_never, native=False)
    assert choice.amp == "none" and "no native bf16" in choice.line()


@pytest.mark.parametrize(("bf16_s", "expected"), [(0.5, "bf16"), (2.0, "none")])
def test_with_native_bf16_auto_keeps_the_faster_of_two_timed_steps(bf16_s, expected):
    timed = []

    def step(amp: str) -> float:
        timed.append(amp)
        return bf16_s if amp == "bf16" else 1.0

    choice = choose_cpu_precision(resumed=None, deterministic=False, distributed=False, step_seconds=step, native=True)
    assert choice.amp == expected and timed == ["none", "none", "bf16"]  # a warm-up, then one of each
    assert "bf16" in choice.line() and "fp32" in choice.line()


def test_a_resume_determinism_and_ddp_decide_without_timing():
    assert choose_cpu_precision(resumed="bf16", deterministic=False, distributed=False, step_seconds=_never, native=False).amp == "bf16"
    assert choose_cpu_precision(resumed=None, deterministic=True, distributed=False, step_seconds=_never, native=True).amp == "none"
    assert choose_cpu_precision(resumed=None, deterministic=False, distributed=True, step_seconds=_never, native=True).amp == "bf16"


def test_a_slow_explicit_bf16_gets_one_line_that_names_the_flag():
    line = slow_amp_warning("bf16", 20.0, 2.0, 112)
    assert line is not None and "10.0x slower" in line and "--amp none" in line and "\n" not in line
    assert slow_amp_warning("bf16", 2.5, 2.0, 112) is None


@pytest.mark.slow
@pytest.mark.parametrize("native", [False, True], ids=["no-native-bf16", "native-bf16"])
def test_the_vit_small_preset_picks_its_precision_by_itself(tmp_path, monkeypatch, native):
    """The preset says --amp auto: fp32 on a CPU without native bf16 (the capability check mocked), the faster timed step with it."""
    assert PRESETS["vit-small"]["amp"] == "auto"
    monkeypatch.setattr(precision, "native_bf16", lambda *a: native)
    from efficienttrain.runner import loop

    monkeypatch.setattr(loop, "choose_cpu_precision", lambda **kw: precision.choose_cpu_precision(**kw, native=native))
    values = {"model": "deit_tiny_patch16_224", "model_kwargs": {"depth": 1, "patch_size": 8, "global_pool": "avg"}, "multiple_of": 8,
              "amp": "auto", "epochs": 1, "final_size": 32, "batch_size": 8, "deterministic": False}  # fmt: skip
    lines: list[str] = []
    trainer = Trainer(tiny_config(tmp_path, **values), log=lines.append)
    result = trainer.run()
    assert result.completed
    chosen = trainer.parts.runtime.amp
    if native:
        assert chosen in ("bf16", "none") and any("--amp auto:" in line and "timed" in line for line in lines)
    else:
        assert chosen == "none" and not any("--amp auto" in line for line in lines)
    assert torch.load(result.output_dir / "last.pt", weights_only=True)["amp"] == chosen
