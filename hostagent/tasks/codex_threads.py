"""The host's Codex threads (docs/protocol.md, "Codex threads"): where a thread may be resumed,
and the hub's `codex.threads`, answered with the recent threads of a codex executor's codex.

A thread belongs to a shared project when its folder (`cwd`, symlinks resolved) is inside the
project's folder or inside the folder of the project's task worktrees; only those can be
resumed. The list comes from `thread/list` through a short-lived `codex app-server`
(hostagent/tasks/codex_app.py; codex lists its whole store, whatever the folder), stopped
after LIST_TIMEOUT.
Answers go out on stream `codex`, built through protocol.codex.CodexThreads.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from hostagent.git.worktrees import project_worktrees
from hostagent.mirror.scan import is_within
from hostagent.tasks.codex_app import CodexUnavailable, ask_codex
from hostagent.tasks.executors import Executor
from protocol import limits

log = logging.getLogger("hostagent.tasks.codex")

STREAM = "codex"
LIST_TIMEOUT = 30.0  # seconds codex may take to start and list
SOURCE_KINDS = ["cli", "vscode", "exec", "appServer"]  # threads people started, not sub-agents'
NOT_CODEX = "executor {name!r} is not a codex executor of this host"

Places = dict[str, list[str]]  # project name -> the folders its threads may have run in


class ThreadsError(Exception):
    """The threads could not be listed; the message says why."""


def thread_places(projects: dict[str, str], worktrees: Path) -> Places:
    """Each shared project's folder and the folder of its task worktrees (real paths)."""
    data_dir = Path(os.path.realpath(worktrees))
    places: Places = {}
    for name, root in projects.items():
        real = os.path.realpath(root)
        places[name] = [real, str(project_worktrees(data_dir, real))]
    return places


def thread_project(cwd: str, places: Places) -> str | None:
    """The shared project a thread whose folder is `cwd` belongs to, or None."""
    if not cwd or not os.path.isabs(cwd) or "\0" in cwd:
        return None
    real = os.path.realpath(cwd)
    for name, folders in places.items():
        if any(is_within(real, folder) for folder in folders):
            return name
    return None


def _thread(raw: Any, places: Places) -> dict[str, Any] | None:
    """One thread of codex's list as the hub takes it; None for one without a usable id."""
    if not isinstance(raw, dict):
        return None
    thread_id = raw.get("id")
    if not isinstance(thread_id, str) or not limits.THREAD_ID.fullmatch(thread_id):
        return None
    cwd, preview, source = (raw.get(k) for k in ("cwd", "preview", "source"))
    updated = raw.get("updatedAt")
    cwd = cwd if isinstance(cwd, str) else ""
    return {
        "id": thread_id,
        "cwd": cwd,
        "preview": preview if isinstance(preview, str) else "",
        "updated_at": updated if type(updated) is int and 0 <= updated < limits.MAX_SEQ else 0,
        "source": source if isinstance(source, str) else "",
        "project": thread_project(cwd, places),
    }


async def list_threads(executor: Executor, places: Places) -> list[dict[str, Any]]:
    """The executor's codex's recent threads, newest first. Raises ThreadsError."""
    params = {"limit": limits.MAX_CODEX_THREADS, "sortKey": "updated_at", "sourceKinds": SOURCE_KINDS}
    try:
        result = await ask_codex(executor, "thread/list", params, timeout=LIST_TIMEOUT)
    except CodexUnavailable as exc:
        raise ThreadsError(str(exc)) from None
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list):
        raise ThreadsError("codex broke the protocol: thread/list's answer has no data list")
    threads = (_thread(raw, places) for raw in data)
    return [thread for thread in threads if thread is not None][: limits.MAX_CODEX_THREADS]


class ThreadLister:
    """Answers the hub's `codex.threads` (each request in a task of its own)."""

    def __init__(self, executors: dict[str, Executor], places: Places):
        self.executors = executors
        self.places = places
        self.link: Any = None
        self.running: set[asyncio.Task[None]] = set()

    async def on_request(self, message: dict[str, Any]) -> None:
        from pydantic import ValidationError

        from protocol.base import reason
        from protocol.codex import CodexThreadsRequest

        try:
            request = CodexThreadsRequest.model_validate(message)
        except ValidationError as exc:
            log.warning("ignoring a codex.threads: %s", reason(exc))
            return
        task = asyncio.create_task(self._answer(request.request, request.executor))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def _answer(self, request: str, name: str) -> None:
        executor = self.executors.get(name)
        answer: dict[str, Any] = {"request": request, "ok": True}
        try:
            if executor is None or executor.kind != "codex":
                raise ThreadsError(NOT_CODEX.format(name=name))
            answer["threads"] = await list_threads(executor, self.places)
        except ThreadsError as exc:
            log.warning("could not list the codex threads: %s", exc)
            answer = {"request": request, "ok": False, "error": str(exc)}
        await self._send(answer)

    async def _send(self, answer: dict[str, Any]) -> None:
        from protocol.base import payload
        from protocol.codex import CodexThreads

        await self.link.send(STREAM, "codex.threads", payload(CodexThreads.model_validate(answer)))

    async def stop(self) -> None:
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*list(self.running), return_exceptions=True)
