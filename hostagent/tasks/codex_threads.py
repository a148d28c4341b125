"""The host's Codex threads (docs/protocol.md, "Codex threads"): where a thread may be resumed,
and the hub's `codex.threads`, answered with the recent threads of a codex executor's codex.

A thread belongs to a shared project when its folder (`cwd`, symlinks resolved) is inside the
project's folder or inside the folder of the project's task worktrees; only those can be
resumed. The list comes from `thread/list` through a short-lived `codex app-server` started
in an empty temporary folder (codex lists its whole store, whatever the folder), with the
executor's argv and environment, in its own process group, killed after LIST_TIMEOUT.
Answers go out on stream `codex`, built through protocol.codex.CodexThreads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

from hostagent import __version__
from hostagent.git.worktrees import project_worktrees
from hostagent.mirror.scan import is_within
from hostagent.tasks.codex_rpc import METHOD_NOT_FOUND, Refuse, Rpc, RpcClosed, RpcError
from hostagent.tasks.executors import (
    SIGKILL,
    TERM_GRACE,
    Executor,
    SpawnError,
    child_env,
    exited_code,
    kill_group,
    spawn,
)
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
    with tempfile.TemporaryDirectory(prefix="codexhub-threads-") as folder:
        pipe = asyncio.subprocess.PIPE
        try:
            proc = await spawn(
                list(executor.argv),
                cwd=folder,
                env=child_env(executor),
                stdin=pipe,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except SpawnError as exc:
            raise ThreadsError(str(exc)) from None
        assert proc.stdin is not None and proc.stdout is not None
        rpc = Rpc(proc.stdin, proc.stdout, _ignore, _refuse)
        try:
            listed = await asyncio.wait_for(_ask(rpc), LIST_TIMEOUT)
        except TimeoutError:
            raise ThreadsError(f"codex did not list its threads within {LIST_TIMEOUT:g} s") from None
        finally:
            await _stop(proc, rpc)
    threads = (_thread(raw, places) for raw in listed)
    return [thread for thread in threads if thread is not None][: limits.MAX_CODEX_THREADS]


async def _ask(rpc: Rpc) -> list[Any]:
    from hostagent.tasks.codex_session import check_version

    try:
        init = await rpc.request("initialize", {"clientInfo": {"name": "codexhub", "version": __version__}})
        agent = init.get("userAgent") if isinstance(init, dict) else None
        error = check_version(agent if isinstance(agent, str) else "")
        if error is not None:
            raise ThreadsError(error)
        await rpc.notify("initialized")
        params = {"limit": limits.MAX_CODEX_THREADS, "sortKey": "updated_at", "sourceKinds": SOURCE_KINDS}
        result = await rpc.request("thread/list", params)
    except RpcError as exc:
        raise ThreadsError(f"codex refused to list its threads: {exc}") from None
    except RpcClosed as exc:
        raise ThreadsError(f"codex broke the protocol: {exc}") from None
    data = result.get("data") if isinstance(result, dict) else None
    if not isinstance(data, list):
        raise ThreadsError("codex broke the protocol: thread/list's answer has no data list")
    return data


async def _stop(proc: asyncio.subprocess.Process, rpc: Rpc) -> None:
    await rpc.close()  # codex exits at the end of its input
    exited = asyncio.ensure_future(exited_code(proc))
    for sig in (signal.SIGTERM, SIGKILL):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), TERM_GRACE)
        kill_group(proc, sig)
    exited.cancel()
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


def _ignore(method: str, params: dict[str, Any]) -> None:
    return None


async def _refuse(method: str, params: dict[str, Any]) -> dict[str, Any]:
    raise Refuse(METHOD_NOT_FOUND, f"codexhub does not handle {method[:64]}")


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
