"""Which precision a CPU run trains in: ``--amp auto`` uses bf16 only where a step is faster with it.

bf16 autocast is 1.6x faster per step on a CPU with AMX and about 10x slower on one without
native bf16 (an AMD EPYC with AVX2 only: a small ViT's step took 17.7-22.9 s instead of
1.7-2.2 s). So on a CPU, ``auto`` first checks the capability (cheap: the CPU's flags). Without
native bf16 it trains in fp32. With it, it times one fp32 and one bf16 throw-away step at the
final size and keeps the faster.

* A resumed run keeps the precision it began with (recorded in its checkpoint), so its numbers
  do not change half-way.
* Under ``--deterministic`` a CPU run stays in fp32: a timed choice could differ between two runs
  that must agree.
* Under DDP the capability alone decides, so that every rank chooses alike.
* An explicit ``--amp bf16``/``fp16`` on a CPU without native bf16 is kept, but when its
  pre-flight step is far slower than an fp32 step, one line says so and names the flag.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["native_bf16", "PrecisionChoice", "choose_cpu_precision", "slow_amp_warning", "SLOW_AMP_RATIO"]

#: How much slower than fp32 an explicit mixed-precision step may be before the pre-flight says so.
SLOW_AMP_RATIO = 3.0
_NATIVE_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=None)
def native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX512-BF16), from its flags.

    Args:
        cpuinfo: Where the flags are read (Linux); elsewhere the answer is ``False``, which keeps fp32.
    """
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in _NATIVE_FLAGS)
    except OSError:
        pass
    return False


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``--amp auto`` chose on a CPU, and why.

    Attributes:
        amp: ``none`` (fp32) or ``bf16``.
        reason: One phrase for the log.
        fp32_s: The timed fp32 step (``None``: not timed).
        bf16_s: The timed bf16 step (``None``: not timed).
    """

    amp: str
    reason: str
    fp32_s: Optional[float] = None
    bf16_s: Optional[float] = None

    def line(self) -> str:
        """The log line."""
        timed = f" (one step: {self.bf16_s:.2f} s in bf16, {self.fp32_s:.2f} s in fp32)" if self.fp32_s is not None and self.bf16_s is not None else ""
        return f"--amp auto: {'bf16 autocast' if self.amp == 'bf16' else 'fp32'} on this CPU, {self.reason}{timed}"


def choose_cpu_precision(
    *, resumed: Optional[str], deterministic: bool, distributed: bool, step_seconds: Callable[[str], float], native: Optional[bool] = None
) -> PrecisionChoice:
    """The precision of a CPU run under ``--amp auto``.

    Args:
        resumed: The precision the run began with (a resume), else ``None``.
        deterministic: ``--deterministic``: stay in fp32.
        distributed: Under DDP: decide by the capability alone.
        step_seconds: Times one throw-away training step in the given precision (``none``/``bf16``).
        native: Whether the CPU has native bf16 (default: :func:`native_bf16`).

    Returns:
        The :class:`PrecisionChoice`.
    """
    if resumed is not None:
        return PrecisionChoice(resumed, "as the run began")
    native = native_bf16() if native is None else native
    if not native:
        return PrecisionChoice("none", "which has no native bf16 (bf16 autocast is about 10x slower without it)")
    if deterministic:
        return PrecisionChoice("none", "because --deterministic keeps a timed choice out of the numbers")
    if distributed:
        return PrecisionChoice("bf16", "which has native bf16 (every rank chooses alike)")
    step_seconds("none")  # warm-up: a size's first step pays for allocations
    fp32, bf16 = step_seconds("none"), step_seconds("bf16")
    amp = "bf16" if bf16 < fp32 else "none"
    return PrecisionChoice(amp, "the faster of the two timed here", fp32, bf16)


def slow_amp_warning(amp: str, amp_seconds: float, fp32_seconds: float, size: int) -> Optional[str]:
    """One line when an explicit mixed-precision step is far slower than fp32 (else ``None``)."""
    ratio = amp_seconds / max(fp32_seconds, 1e-9)
    if ratio < SLOW_AMP_RATIO:
        return None
    return (
        f"warning: --amp {amp} makes a training step {ratio:.1f}x slower on this CPU than fp32 ({amp_seconds:.2f} s against {fp32_seconds:.2f} s "
        f"at {size} px): it has no native bf16; train with --amp none (or --amp auto, which measures this)"
    )
