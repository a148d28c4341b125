"""systemctl, launchctl and loginctl for the service tests: tests/bin/fake_service_manager.py under
those names in a folder of their own, recording every command they are given, and a HOME of its
own. The code under test gets an environment whose PATH finds the fakes first, so the machine's
own service managers are never reached. `verify` runs the real `systemd-analyze verify`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "bin" / "fake_service_manager.py"
NAMES = ("systemctl", "launchctl", "loginctl")


class FakeManagers:
    def __init__(self, tmp: Path, names: tuple[str, ...] = NAMES):
        self.home = tmp / "home"
        self.bin = tmp / "fake-bin"
        self.state = tmp / "fake-state"
        for folder in (self.home, self.bin, self.state):
            folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            script = self.bin / name
            script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" {name} "$@"\n')
            script.chmod(0o755)

    def env(self, path: str | None = None, **extra: str) -> dict[str, str]:
        """The environment of a user whose PATH finds the fakes first (or only `path`)."""
        env = {
            "HOME": str(self.home),
            "USER": "alice",
            "PATH": path if path is not None else f"{self.bin}:/usr/bin:/bin",
            "FAKE_SERVICE_STATE": str(self.state),
            "LANG": "C.UTF-8",
        }
        env.update(extra)
        return env

    def calls(self) -> list[list[str]]:
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line)["argv"] for line in log.read_text().splitlines()]

    def forget_calls(self) -> None:
        (self.state / "calls.jsonl").unlink(missing_ok=True)

    def read(self) -> dict[str, Any]:
        path = self.state / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def set(self, **values: Any) -> None:
        state = self.read()
        state.update(values)
        (self.state / "state.json").write_text(json.dumps(state))


def systemd_analyze() -> str:
    """The real systemd-analyze (Debian's `systemd` package; .ci/run installs it when missing)."""
    found = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"
    assert os.access(found, os.X_OK), "systemd-analyze is missing: apt-get install systemd"
    return found


def verify(unit_text: str, tmp: Path) -> tuple[int, str]:
    """`systemd-analyze --user verify` of a unit, as its user manager would load it: exit code and
    everything it printed. Works as root in a container without a running systemd: the user mode
    only needs a private XDG_RUNTIME_DIR."""
    folder = tmp / "verify"
    runtime = folder / "runtime"
    runtime.mkdir(parents=True, mode=0o700)
    unit = folder / "codexhub-agent.service"
    unit.write_text(unit_text)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "XDG_RUNTIME_DIR": str(runtime), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [systemd_analyze(), "--user", "--man=no", "verify", str(unit)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr
