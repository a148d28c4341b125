"""The running agent's live config, for tests: the real `python -m hostagent run` against a
FakeHub, its log read as it comes, agent.toml written as a user would, and what the hub heard
of the projects and executors."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from hostagent.config import toml_string
from tests.kits.fakehub import TOKEN, FakeHub, start_agent, wait_for


def agent_toml(hub_url: str, projects: dict[str, Path], executors: str = "", *, extra: str = "") -> str:
    """A paired agent.toml sharing `projects`, offering `executors` (tables) and no built-ins."""
    text = f'hub = "{hub_url}"\nhost_id = 12\nname = "box"\ntoken = "{TOKEN}"\n{extra}'
    if projects:
        text += "\n[projects]\n" + "".join(
            f"{toml_string(n)} = {toml_string(str(p))}\n" for n, p in projects.items()
        )
    return text + "\n[tasks]\nbuiltins = false\n\n" + executors


def listed(hub: FakeHub) -> list[list[str]]:
    """The project names of each `mirror.projects` the hub applied, in order."""
    return [[p["name"] for p in m["payload"]["projects"]] for m in hub.mirror_messages("mirror.projects")]


def offered(hub: FakeHub) -> list[list[str]]:
    """The executor names of each `hello` the hub applied, in order."""
    hellos = [m for m in hub.applied_messages if m.get("stream") == "host" and m.get("type") == "hello"]
    return [[e["name"] for e in m["payload"]["executors"]] for m in hellos]


def task_messages(hub: FakeHub, task_id: int) -> list[dict]:
    return [
        m
        for m in hub.applied_messages
        if m.get("stream") == "tasks" and m["payload"].get("task_id") == task_id
    ]


def finished(hub: FakeHub, task_id: int) -> dict | None:
    return next((m["payload"] for m in task_messages(hub, task_id) if m["type"] == "task.finished"), None)


class RunningAgent:
    """The agent's process, with its log (stderr) collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace"))

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def logged(self, text: str, timeout: float = 8.0, count: int = 1) -> None:
        """Wait until `count` lines of the log hold `text`."""
        await wait_for(
            lambda: sum(text in line for line in self.lines) >= count, timeout, f"the log line {text!r}"
        )

    async def stop(self, timeout: float = 8.0) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise
        await self._reader
        return self.proc.returncode if self.proc.returncode is not None else -1


@contextlib.asynccontextmanager
async def live_agent(hub: FakeHub, config_path: Path) -> AsyncIterator[RunningAgent]:
    """The agent running on `config_path`, once the hub has its first hello (its config watcher
    runs from before then); stopped with SIGTERM on the way out."""
    agent = RunningAgent(await start_agent(config_path))
    try:
        await wait_for(lambda: offered(hub), 10, "the first hello")
        yield agent
    finally:
        await agent.stop()
