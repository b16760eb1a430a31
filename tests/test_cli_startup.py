"""The command line answers at once: --version, --help, `train --help` and `schedule` import neither
timm nor torch (each costs seconds on a small machine), so a lazy import cannot quietly regress."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs a command in a fresh interpreter and reports which heavy packages it imported.
PROBE = """
import json, sys
from efficienttrain.cli import main
try:
    code = main({argv!r})
except SystemExit as stop:
    code = stop.code
print(json.dumps({{"code": code, "heavy": sorted(m for m in ("torch", "timm", "torchvision") if m in sys.modules)}}))
"""


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["train", "--help"], ["probe", "--help"], ["schedule"], ["schedule", "--kind", "efficienttrain++", "--epochs", "100", "--json"]],
    ids=lambda a: " ".join(a),
)
def test_quick_commands_import_neither_torch_nor_timm(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, None), out.stderr
    assert result["heavy"] == [], f"`efficienttrain {' '.join(argv)}` imported {result['heavy']}"


def test_the_package_imports_lazily_and_still_exports_everything():
    code = "import sys, efficienttrain as et; lazy = 'torch' not in sys.modules; et.low_frequency_crop; et.Trainer; print(lazy, 'timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_every_public_name_resolves():
    import efficienttrain as et

    for name in et.__all__:
        assert getattr(et, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        et.nope  # noqa: B018


def test_python_dash_m_prints_the_version():
    import efficienttrain

    out = subprocess.run([sys.executable, "-m", "efficienttrain", "--version"], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == f"efficienttrain {efficienttrain.__version__}"
