"""Helpers for the agent's git tests: an in-process agent (HostLink, TaskService and GitService)
against a FakeHub, a command executor that edits files, tasks in a worktree, `git.request`s and
the `git.result`s the hub applied, and the fake `gh` (tests/bin/gh) on PATH."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hostagent.config import Config
from hostagent.git.service import GitService
from tests.kits.agent_tasks import BIN, PY, Agent, applied, fake_program, finished, load_config, toml_list
from tests.kits.fakehub import FakeHub, wait_for

FAKE_GH = str(BIN / "gh")

# The `edit` executor: the prompt's first line is a title (the branch's slug); each later line
# is `path=text` (write that file; `\n` in text is a new line) or `meet <folder> <name> <count>`
# (leave a mark in folder and wait, at most 10 s, until `count` tasks did: proof that they ran at
# once). Before anything it prints `saw {...}`: the text of every file it finds, as JSON.
EDIT = r"""
import json, os, sys, time
seen = {}
for folder, dirs, files in os.walk("."):
    dirs[:] = [d for d in dirs if d != ".git"]
    for name in files:
        if name != ".git":
            path = os.path.relpath(os.path.join(folder, name))
            seen[path] = open(path).read()
print("saw " + json.dumps(seen, sort_keys=True), flush=True)
for line in sys.argv[1].split("\n")[1:]:
    if line.startswith("meet "):
        folder, name, count = line.split()[1:]
        open(os.path.join(folder, name), "w").close()
        deadline = time.monotonic() + 10
        while len(os.listdir(folder)) < int(count):
            if time.monotonic() > deadline:
                sys.exit("the other tasks never came")
            time.sleep(0.01)
    elif line:
        path, _, text = line.partition("=")
        with open(path, "w") as f:
            f.write(text.replace("\\n", "\n") + "\n")
"""


def edit_config(tmp_path: Path, tasks: str = "") -> Config:
    return load_config(
        tmp_path,
        f"""
[tasks]
builtins = false
{tasks}

[executors.edit]
command = {toml_list([PY, "-c", EDIT, "{prompt}"])}
""",
    )


class GitAgent(Agent):
    """Agent (tests.kits.agent_tasks) with a GitService attached too."""

    def __init__(self, hub: FakeHub, tmp_path: Path, cfg: Config, projects: dict[str, Path]):
        super().__init__(hub, tmp_path, cfg, projects)
        self.git = GitService(
            {name: str(root) for name, root in projects.items()}, self.ledger, tasks=self.service
        )
        self.git.attach(self.link)

    async def edit(self, task_id: int, project: str, prompt: str, **where: Any) -> None:
        """Assign an `edit` task; `where`: workspace, base, worktree_of."""
        task = {
            "id": task_id,
            "project": project,
            "executor": "edit",
            "prompt": prompt,
            "target": "",
            **where,
        }
        await self.hub.connections[-1].send({"type": "task.assign", "task": task})

    async def ask(self, action: str, project: str, request: str | None = None, **fields: Any) -> str:
        """Send a git.request; returns its request id."""
        request = request or secrets.token_urlsafe(24)
        message = {"type": "git.request", "request": request, "action": action, "project": project, **fields}
        await self.hub.connections[-1].send(message)
        return request

    async def decide(self, action: str, project: str, **fields: Any) -> dict[str, Any]:
        """A git.request and its git.result."""
        return await result(self.hub, await self.ask(action, project, **fields))

    async def stop(self) -> None:
        await self.git.stop()
        await super().stop()


@contextlib.asynccontextmanager
async def git_agent(
    tmp_path: Path, cfg: Config, projects: dict[str, Path]
) -> AsyncIterator[tuple[FakeHub, GitAgent]]:
    async with FakeHub() as hub:
        agent = GitAgent(hub, tmp_path, cfg, projects)
        await agent.ready()
        try:
            yield hub, agent
        finally:
            await agent.stop()


def results(hub: FakeHub, request: str | None = None) -> list[dict[str, Any]]:
    """The git.result payloads the hub applied (each once, in order), optionally for one request."""
    return [
        m["payload"]
        for m in hub.applied_messages
        if m.get("stream") == "git" and (request is None or m["payload"]["request"] == request)
    ]


async def result(hub: FakeHub, request: str, timeout: float = 10.0) -> dict[str, Any]:
    found = await wait_for(lambda: results(hub, request), timeout, f"the result of {request}")
    return found[0]


def started(hub: FakeHub, task_id: int) -> dict[str, Any]:
    (payload,) = applied(hub, "task.started", task_id)
    return payload


def saw(hub: FakeHub, task_id: int) -> dict[str, str]:
    """The files (path -> text) the `edit` executor found when task `task_id` began."""
    from tests.kits.agent_tasks import log_text

    line = next(line for line in log_text(hub, task_id).splitlines() if line.startswith("saw "))
    return json.loads(line[4:])


async def ran(hub: FakeHub, task_id: int) -> dict[str, Any]:
    """task.finished of a task that must have succeeded."""
    done = await finished(hub, task_id)
    assert (done["outcome"], done["error"]) == ("succeeded", None), done
    return done


def gh_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake gh first on PATH; returns the file it records its calls in."""
    folder = tmp_path / "gh-bin"
    fake_program(folder, "gh", FAKE_GH)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "gh-calls.jsonl"
    monkeypatch.setenv("FAKE_GH_LOG", str(log))
    return log


def no_gh_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH without any folder holding a gh."""
    folders = [f for f in os.environ["PATH"].split(os.pathsep) if not os.path.exists(os.path.join(f, "gh"))]
    monkeypatch.setenv("PATH", os.pathsep.join(folders))
    assert shutil.which("gh") is None and shutil.which("git") is not None


def gh_calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
