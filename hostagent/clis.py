"""The agent CLIs on this host's PATH and their versions, for `hello` (the hub shows them).

Each found CLI runs once as `<cli> --version`, in a session of its own, with a
short timeout (its whole group is killed after it); the first line it prints
is kept, escapes and control characters removed, cut to what the hub takes.
A CLI that is missing, fails or prints nothing is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable

from protocol import limits

CLIS = ("codex", "claude", "gemini", "aider")
TIMEOUT = 5.0  # seconds per CLI; they run side by side
MAX_READ = 4096
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def version_line(output: bytes) -> str:
    """The first non-blank line of `output`, as the hub takes a CLI version ("" when none)."""
    text = _ESCAPES.sub("", output[:MAX_READ].decode("utf-8", "replace"))
    for line in text.splitlines():
        line = "".join(c for c in line if c.isprintable()).strip()
        if line:
            return line[: limits.MAX_CLI_VERSION].rstrip()
    return ""


def cli_version(program: str, timeout: float = TIMEOUT) -> str:
    """What `program --version` says, or "" (blocks: call it in a worker thread)."""
    try:
        proc = subprocess.Popen(
            [program, "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return ""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out = b""
    finally:
        _kill_group(proc)  # and whatever it started in the background
    return version_line(out) if proc.returncode == 0 else ""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    if proc.stdout is not None:
        proc.stdout.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1)


async def cli_versions(
    which: Callable[[str], str | None] = shutil.which, timeout: float = TIMEOUT
) -> list[dict[str, str]]:
    """`[{"name": "codex", "version": "codex-cli 0.171.0"}, ...]` for the CLIs on PATH, off the loop."""
    found = [(name, path) for name in CLIS if (path := which(name))]
    versions = await asyncio.gather(*(asyncio.to_thread(cli_version, path, timeout) for _, path in found))
    return [
        {"name": name, "version": version}
        for (name, _), version in zip(found, versions, strict=True)
        if version
    ]
