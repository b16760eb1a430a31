"""Provenance of a run: which code, which software versions, which machine, and what else ran on it.

A training run records a :class:`Session` for every process lifetime that trained it (a resumed
run has several). Each session says which git commit of this package ran (with a dirty flag), the
versions of Python, torch, timm and the other libraries, the CPU model and thread counts, and two
views of whether the machine was shared while it ran:

* the load averages at the start and at the end;
* the machine's busy CPU time over the session (from ``/proc/stat``) next to this run's own
  (the process and its data-loader workers): ``other_busy_cores`` is the average number of cores
  that something else kept busy. On a 2-core machine a value near 0 means the run had the cores
  to itself; timings of runs with a clearly positive value should not be quoted.

Everything degrades to ``None`` where the platform cannot tell (no git, no ``/proc``).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

__all__ = ["Session", "SessionClock", "git_state", "software_versions", "machine_info"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def git_state(path: Path = _PACKAGE_DIR) -> tuple[Optional[str], Optional[bool]]:
    """The git commit of the checkout that holds ``path``, and whether it has uncommitted changes.

    Args:
        path: A file or directory inside the checkout (default: this package's source).

    Returns:
        ``(commit, dirty)``, or ``(None, None)`` outside a git checkout (an installed wheel).
    """
    cwd = path if path.is_dir() else path.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        # Only tracked files count: run outputs and caches in the checkout do not make it dirty.
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


def software_versions() -> dict[str, Optional[str]]:
    """Versions of Python and of the libraries that decide a run's numbers."""
    from importlib import metadata

    out: dict[str, Optional[str]] = {"python": platform.python_version()}
    for dist in ("efficienttrain", "torch", "torchvision", "timm", "numpy", "pillow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _cpu_model() -> Optional[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> dict[str, Any]:
    """CPU model, core count and torch's thread count (no host names: records are published)."""
    import torch

    return {
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def _load_average() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _busy_cpu_seconds() -> Optional[float]:
    """CPU seconds the whole machine has spent busy since boot (all cores), from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(v) for v in first[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have exited (joined loader workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Session:
    """One process lifetime of a run: the code, the software, the machine and its load.

    Attributes:
        started_at: UTC start time (ISO 8601).
        ended_at: UTC time of the last measurement (:meth:`SessionClock.measure`).
        git_commit: Commit of the package's checkout (``None`` outside git).
        git_dirty: Whether tracked files differed from that commit.
        versions: Python and library versions.
        machine: CPU model, cores, torch threads.
        argv: The command line, with the program name reduced to its file name.
        world_size: Processes of the run.
        start_epoch: Epoch (from 0) the session started at.
        end_epoch: Epoch the session ended at.
        wall_s: Wall time of the session.
        load_start: 1, 5 and 15-minute load averages at the start.
        load_end: The same at the end.
        machine_busy_cores: Average number of busy cores on the whole machine.
        own_busy_cores: Average number of cores this run kept busy (process and loader workers).
        other_busy_cores: The difference: cores something else kept busy (``None`` if unknown).
    """

    started_at: str
    git_commit: Optional[str]
    git_dirty: Optional[bool]
    versions: dict[str, Optional[str]]
    machine: dict[str, Any]
    argv: list[str] = field(default_factory=list)
    world_size: int = 1
    start_epoch: int = 0
    end_epoch: Optional[int] = None
    ended_at: Optional[str] = None
    wall_s: Optional[float] = None
    load_start: Optional[list[float]] = None
    load_end: Optional[list[float]] = None
    machine_busy_cores: Optional[float] = None
    own_busy_cores: Optional[float] = None
    other_busy_cores: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON and ``weights_only`` checkpoint friendly)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Session":
        """Read back what :meth:`to_dict` wrote; unknown keys are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class SessionClock:
    """Measures one :class:`Session`: create it when training starts, :meth:`measure` it when saving.

    Args:
        start_epoch: Epoch (from 0) the session starts at.
        world_size: Processes of the run.
    """

    def __init__(self, start_epoch: int = 0, world_size: int = 1) -> None:
        commit, dirty = git_state()
        self.session = Session(
            started_at=_utc_now(),
            git_commit=commit,
            git_dirty=dirty,
            versions=software_versions(),
            machine=machine_info(),
            argv=[Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
            world_size=world_size,
            start_epoch=start_epoch,
            load_start=_load_average(),
        )
        self._t0 = time.perf_counter()
        self._busy0 = _busy_cpu_seconds()
        self._own0 = _own_cpu_seconds()

    def measure(self, end_epoch: int) -> Session:
        """The session from its start until now, ending at ``end_epoch``.

        Loader workers count towards the run's own CPU time only once they have exited, so a
        measurement taken while they run (a checkpoint mid-run) overstates ``other_busy_cores``;
        the runner measures again after stopping them.
        """
        wall = max(time.perf_counter() - self._t0, 1e-9)
        own = round((_own_cpu_seconds() - self._own0) / wall, 3)
        busy1 = _busy_cpu_seconds()
        machine = round((busy1 - self._busy0) / wall, 3) if busy1 is not None and self._busy0 is not None else None
        return replace(
            self.session,
            end_epoch=end_epoch,
            ended_at=_utc_now(),
            wall_s=round(wall, 3),
            load_end=_load_average(),
            own_busy_cores=own,
            machine_busy_cores=machine,
            other_busy_cores=round(max(machine - own, 0.0), 3) if machine is not None else None,
        )


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
