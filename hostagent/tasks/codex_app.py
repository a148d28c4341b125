"""One question to a host's Codex: a short-lived `codex app-server` (the executor's argv and
environment, in an empty temporary folder, in its own process group) is started, initialized
(its version must be one the agent was tested with), asked one request, and stopped, all
within a timeout. The host's thread list and the models a codex executor offers use it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
from typing import Any

from hostagent import __version__
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


class CodexUnavailable(Exception):
    """Codex could not answer; the message says why."""


async def ask_codex(executor: Executor, method: str, params: dict[str, Any], *, timeout: float) -> Any:
    """codex's answer to `method`. Raises CodexUnavailable (it could not start, is of an untested
    version, refused, broke the protocol or took longer than `timeout` seconds)."""
    with tempfile.TemporaryDirectory(prefix="codexhub-codex-") as folder:
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
            raise CodexUnavailable(str(exc)) from None
        assert proc.stdin is not None and proc.stdout is not None
        rpc = Rpc(proc.stdin, proc.stdout, _ignore, _refuse)
        try:
            return await asyncio.wait_for(_ask(rpc, method, params), timeout)
        except TimeoutError:
            raise CodexUnavailable(f"codex did not answer {method} within {timeout:g} s") from None
        finally:
            await _stop(proc, rpc)


async def _ask(rpc: Rpc, method: str, params: dict[str, Any]) -> Any:
    from hostagent.tasks.codex_session import check_version

    try:
        init = await rpc.request("initialize", {"clientInfo": {"name": "codexhub", "version": __version__}})
        agent = init.get("userAgent") if isinstance(init, dict) else None
        error = check_version(agent if isinstance(agent, str) else "")
        if error is not None:
            raise CodexUnavailable(error)
        await rpc.notify("initialized")
        return await rpc.request(method, params)
    except RpcError as exc:
        raise CodexUnavailable(f"codex refused {method}: {exc}") from None
    except RpcClosed as exc:
        raise CodexUnavailable(f"codex broke the protocol: {exc}") from None


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
