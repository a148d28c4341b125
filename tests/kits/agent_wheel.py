"""The codexhub-agent wheel built from this checkout as `make agent` builds it (no download), and a
virtualenv of its own, outside the repository, for installing it as a workstation would."""

import os
import subprocess
import sys
from pathlib import Path

from hostagent import __version__
from tests.kits.processes import ROOT

WHEEL_NAME = f"codexhub_agent-{__version__}-py3-none-any.whl"
CONSTRAINTS = ROOT / "constraints.txt"


def build_wheel(folder: Path) -> Path:
    """The Makefile's `agent` recipe into `folder`: the wheel's path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--wheel-dir", str(folder), str(ROOT / "agent")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    wheel = folder / WHEEL_NAME
    assert wheel.is_file(), sorted(p.name for p in folder.iterdir())
    return wheel


def workstation_env(**extra: str) -> dict[str, str]:
    """A shell on another machine: nothing of this checkout or its virtualenv on the paths."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "PYTEST", "DATABASE", "REDIS", "PYTHON", "VIRTUAL_ENV"))
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not Path(p).is_relative_to(ROOT)]
    env["PATH"] = os.pathsep.join(path)
    env.update(PYTHONUNBUFFERED="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


def base_python() -> str:
    """The Python this checkout's virtualenv was made from (a venv made from a venv's python
    would still be fine, but a workstation starts from its system Python)."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


def make_venv(folder: Path) -> Path:
    """A fresh virtualenv in `folder` (with pip): its bin folder."""
    subprocess.run(
        [base_python(), "-m", "venv", str(folder)],
        check=True,
        capture_output=True,
        cwd=folder.parent,
        env=workstation_env(),
        timeout=120,
    )
    return folder / "bin"


def pip_install(bin_dir: Path, spec: str, cwd: Path) -> subprocess.CompletedProcess:
    """`pip install SPEC` in that virtualenv, its dependencies at the versions constraints.txt pins
    (from the package index, as pipx would fetch them)."""
    return subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", spec, "-c", str(CONSTRAINTS)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=workstation_env(),
        timeout=300,
    )
