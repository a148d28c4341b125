"""Helpers for the task tests: an in-process agent (HostLink + TaskService) against a FakeHub,
reading what the hub applied on stream `tasks`, and the fake CLIs in tests/bin."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import psutil

from hostagent import config
from hostagent.config import Config
from hostagent.tasks.executors import offered
from hostagent.tasks.ledger import Ledger
from hostagent.tasks.service import TaskService
from tests.hostagent.conftest import ROOT
from tests.hostagent.fakehub import FakeHub, start_link, stop_link, wait_for

BIN = ROOT / "tests" / "bin"
ARGV_DUMP = str(BIN / "argv-dump")
BULLETIZE = str(BIN / "bulletize")
PY = sys.executable  # the fake CLIs run with it: no dependence on a python3 on the child's PATH


def toml_list(items: list[str]) -> str:
    return json.dumps(items)  # a JSON list of strings is a TOML array


def load_config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('hub = "http://127.0.0.1:1"\nname = "box"\n' + text, encoding="utf-8")
    loaded = config.load(path)
    assert loaded is not None
    return loaded


def fake_program(folder: Path, name: str, script: str) -> str:
    """An executable `folder/name` running `script` (argv-dump, bulletize) with this Python."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\nexec "{PY}" "{script}" "$@"\n')
    path.chmod(0o755)
    return str(path)


class Agent:
    """A HostLink with a TaskService attached, running in this event loop."""

    def __init__(self, hub: FakeHub, tmp_path: Path, cfg: Config, projects: dict[str, Path]):
        self.hub = hub
        self.ledger = Ledger(tmp_path / "tasks.sqlite3", owner="test")
        roots = {name: str(root) for name, root in projects.items()}
        self.service = TaskService(cfg.tasks, offered(cfg, which=lambda _: None), roots, self.ledger)
        self.link, self.task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        self.service.attach(self.link)

    async def ready(self) -> None:
        await wait_for(lambda: self.link.welcomed, what="the welcome")

    async def assign(self, task_id: int, project: str, executor: str, prompt: str, target: str = "") -> None:
        task = {"id": task_id, "project": project, "executor": executor, "prompt": prompt, "target": target}
        await self.hub.connections[-1].send({"type": "task.assign", "task": task})

    async def cancel(self, task_id: int) -> None:
        await self.hub.connections[-1].send({"type": "task.cancel", "task_id": task_id})

    async def stop(self) -> None:
        await self.service.stop()
        await stop_link(self.link, self.task)
        self.ledger.close()


def applied(hub: FakeHub, type_: str | None = None, task_id: int | None = None) -> list[dict[str, Any]]:
    """Payloads the hub applied on stream `tasks` (each once, in order), by type and task."""
    return [
        m["payload"]
        for m in hub.applied_messages
        if m.get("stream") == "tasks"
        and (type_ is None or m["type"] == type_)
        and (task_id is None or m["payload"].get("task_id") == task_id)
    ]


def events(hub: FakeHub, task_id: int | None = None) -> list[tuple[str, int]]:
    """(type, task_id) of every applied tasks message, in order."""
    return [
        (m["type"], m["payload"]["task_id"])
        for m in hub.applied_messages
        if m.get("stream") == "tasks" and (task_id is None or m["payload"]["task_id"] == task_id)
    ]


def log_text(hub: FakeHub, task_id: int) -> str:
    pieces = applied(hub, "task.log", task_id)
    assert [p["seq"] for p in pieces] == list(range(1, len(pieces) + 1))
    return "".join(p["text"] for p in pieces)


async def finished(hub: FakeHub, task_id: int, timeout: float = 10.0) -> dict[str, Any]:
    done = await wait_for(
        lambda: applied(hub, "task.finished", task_id), timeout, f"task {task_id} to finish"
    )
    return done[0]


def dumps(text: str) -> list[dict[str, Any]]:
    """The JSON lines argv-dump printed."""
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"argv"')]


async def dumped(hub: FakeHub, task_id: int, timeout: float = 10.0) -> dict[str, Any]:
    """argv-dump's line, once it reached the hub (the process runs)."""
    found = await wait_for(lambda: dumps(log_text(hub, task_id)), timeout, f"argv-dump of task {task_id}")
    return found[0]


def group_alive(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of process group `pgid`."""
    alive = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return alive
