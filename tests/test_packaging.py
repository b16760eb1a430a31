"""The wheel users install: it carries the license, py.typed, the changelog and the metadata, and it
installs into a clean virtual environment (no dependencies: importing the package needs none)."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: build with this environment's setuptools, offline.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), "-q"],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (found,) = out.glob("efficienttrain-*.whl")
    return found


@pytest.mark.slow
def test_the_wheel_carries_license_types_changelog_and_metadata(wheel):
    import efficienttrain

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(info).decode()
    assert "efficienttrain/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert f"Version: {efficienttrain.__version__}" in metadata
    assert "License-Expression: Apache-2.0" in metadata and "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: Paper, https://arxiv.org/abs/2211.09703" in metadata
    assert "# Changelog" in metadata and "### Deprecated" in metadata  # the long description carries the changelog


@pytest.mark.slow
def test_the_wheel_installs_into_a_clean_venv(wheel, tmp_path):
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel), "-q"], check=True, timeout=300)
    code = (
        "import importlib.metadata as md, efficienttrain as et;"
        "files = {str(f) for f in md.files('efficienttrain')};"
        "print(et.__version__, md.version('efficienttrain'), 'efficienttrain/py.typed' in files, md.metadata('efficienttrain')['License-Expression'])"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path)
    import efficienttrain

    assert out.stdout.split() == [efficienttrain.__version__, efficienttrain.__version__, "True", "Apache-2.0"]
    assert (env / "bin" / "efficienttrain").is_file()  # the console script
