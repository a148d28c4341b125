"""The host agent as an ACP client: what a coding agent may ask of it during a session.

- `session/update`: onto the timeline (acp_timeline), in order.
- `session/request_permission`: a `task.permission` for the phone, answered by
  `task.answer`; after `permission_timeout` (unless `on_permission_timeout =
  "wait"`) the first `reject_once` option, or `cancelled` if there is none. A
  cancelled turn or an ended session answers every open request `cancelled`,
  as ACP requires after `session/cancel`. Each request ends with a
  `task.permission_closed`.
- `fs/read_text_file`, `fs/write_text_file`: inside the project root only
  (acp_files); a refusal is a JSON-RPC error for the agent and a notice for the phone.
- `terminal/*` (when the executor offers terminals): acp_terminals.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from acp import RequestError
from acp.schema import (
    AllowedOutcome,
    CreateTerminalResponse,
    DeniedOutcome,
    EnvVariable,
    KillTerminalResponse,
    PermissionOption,
    ReadTextFileResponse,
    ReleaseTerminalResponse,
    RequestPermissionResponse,
    TerminalOutputResponse,
    ToolCallUpdate,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)

from hostagent.tasks.acp_files import NotFound, Refused, read_text, write_text
from hostagent.tasks.acp_terminals import Terminals
from hostagent.tasks.acp_timeline import Timeline, clip
from hostagent.tasks.executors import Executor
from protocol.limits import MAX_OPTION_ID, MAX_OPTION_NAME, MAX_OPTIONS
from protocol.text import unencodable

log = logging.getLogger("hostagent.tasks.acp")

REFUSED = -32602  # invalid params: the agent asked for something it may not have


def _answerable(option_id: str) -> bool:
    """An id the hub keeps exactly (it is never cut: the answer must name it)."""
    return 0 < len(option_id) <= MAX_OPTION_ID and "\0" not in option_id and not unencodable(option_id)


def duration(seconds: float) -> str:
    """`15 min`, or `90 s` when it is not whole minutes."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass
class _Request:
    options: dict[str, str]  # option id -> kind
    answer: asyncio.Future[str | None]  # the chosen option id; None: cancelled


class Permissions:
    """The session's open permission requests, by request id (`p1`, `p2`, ...)."""

    def __init__(self, executor: Executor, timeline: Timeline):
        self.executor = executor
        self.timeline = timeline
        self.open: dict[str, _Request] = {}
        self.count = 0

    def answer(self, request_id: str, option_id: str) -> bool:
        """The phone's answer; False (ignored) for a request not open or an option it did not offer."""
        request = self.open.get(request_id)
        if request is None or option_id not in request.options or request.answer.done():
            return False
        request.answer.set_result(option_id)
        return True

    def cancel_all(self) -> None:
        for request_id, request in list(self.open.items()):
            if not request.answer.done():
                request.answer.set_result(None)
                self._closed(request_id, "cancelled", None)

    def _closed(self, request_id: str, outcome: str, option_id: str | None) -> None:
        self.open.pop(request_id, None)
        payload = {"request_id": request_id, "outcome": outcome, "option_id": option_id}
        self.timeline.post("task.permission_closed", payload)

    async def ask(
        self, tool_call: ToolCallUpdate, options: list[PermissionOption]
    ) -> RequestPermissionResponse:
        option_id = await self.choose(self.timeline.tool_summary(tool_call), options)
        if option_id is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id=option_id))

    async def choose(self, summary: dict[str, Any], options: list[PermissionOption]) -> str | None:
        """Ask the phone (`summary`: the request's title, tool_kind, locations and diffs); the option
        chosen, the first `reject_once` one after the timeout, or None: cancelled."""
        offered = [o for o in options if _answerable(o.option_id)]
        offered = list({o.option_id: o for o in offered}.values())[:MAX_OPTIONS]
        if not offered:
            self.timeline.notice(
                "The agent asked for permission without an option to choose: refused.", "error"
            )
            return None
        self.count += 1
        request_id = f"p{self.count}"
        request = _Request({o.option_id: o.kind for o in offered}, asyncio.get_running_loop().create_future())
        self.open[request_id] = request
        waits = self.executor.on_permission_timeout == "wait"
        self.timeline.post(
            "task.permission",
            {
                "request_id": request_id,
                **summary,
                "options": [
                    {
                        "option_id": o.option_id,
                        "name": clip(o.name, MAX_OPTION_NAME) or o.option_id,
                        "kind": o.kind,
                    }
                    for o in offered
                ],
                "on_timeout": self.executor.on_permission_timeout,
                "timeout": None if waits else self.executor.permission_timeout,
            },
        )
        try:
            timeout = None if waits else self.executor.permission_timeout
            option_id = await asyncio.wait_for(asyncio.shield(request.answer), timeout)
        except TimeoutError:
            return self._timed_out(request_id, request)
        finally:
            self.open.pop(request_id, None)
        if option_id is not None:
            self._closed(request_id, "selected", option_id)
        return option_id

    def _timed_out(self, request_id: str, request: _Request) -> str | None:
        request.answer.cancel()
        reject = next((option for option, kind in request.options.items() if kind == "reject_once"), None)
        self._closed(request_id, "timed_out", reject)
        waited = duration(self.executor.permission_timeout)
        self.timeline.notice(f"No answer in {waited}: {'cancelled' if reject is None else 'rejected'}.")
        return reject


class HostClient:
    """acp.Client for one session of one task."""

    def __init__(self, root: str, executor: Executor, timeline: Timeline, terminals: Terminals):
        self.root = root
        self.executor = executor
        self.timeline = timeline
        self.terminals = terminals
        self.permissions = Permissions(executor, timeline)
        self.session_id: str | None = None  # known once session/new answered

    def _check_session(self, session_id: str) -> None:
        if self.session_id is None or session_id != self.session_id:
            raise RequestError.invalid_params({"sessionId": session_id, "reason": "no such session"})

    def _refuse(self, action: str, path: object, reason: str) -> RequestError:
        shown = str(path)[:300]
        message = f"refused to {action} {shown}: {reason}"
        self.timeline.notice(message, "error")
        return RequestError(REFUSED, message, {"path": shown, "reason": reason})

    # Updates and permissions ------------------------------------------------------------

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        if session_id == self.session_id:
            self.timeline.update(update)

    async def request_permission(
        self, session_id: str, tool_call: ToolCallUpdate, options: list[PermissionOption], **kwargs: Any
    ) -> RequestPermissionResponse:
        self._check_session(session_id)
        return await self.permissions.ask(tool_call, options)

    # Files ------------------------------------------------------------------------------

    async def read_text_file(
        self, session_id: str, path: str, line: int | None = None, limit: int | None = None, **kwargs: Any
    ) -> ReadTextFileResponse:
        self._check_session(session_id)
        try:
            content = await asyncio.to_thread(read_text, self.root, path, line, limit)
        except Refused as exc:
            raise self._refuse("read", path, str(exc)) from None
        except NotFound:
            raise RequestError(-32002, f"{path} does not exist", {"path": path}) from None
        return ReadTextFileResponse(content=content)

    async def write_text_file(
        self, session_id: str, path: str, content: str, **kwargs: Any
    ) -> WriteTextFileResponse | None:
        self._check_session(session_id)
        try:
            await asyncio.to_thread(write_text, self.root, path, content)
        except Refused as exc:
            raise self._refuse("write", path, str(exc)) from None
        return WriteTextFileResponse()

    # Terminals --------------------------------------------------------------------------

    def _check_terminal(self, session_id: str) -> None:
        if not self.executor.terminal:
            raise RequestError.method_not_found("terminal/create")
        self._check_session(session_id)

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        env: list[EnvVariable] | None = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
        **kwargs: Any,
    ) -> CreateTerminalResponse:
        self._check_terminal(session_id)
        try:
            terminal = await self.terminals.create(command, args, env, cwd, output_byte_limit)
        except Refused as exc:
            raise self._refuse("run", command, f"{exc} (in {cwd or self.root})") from None
        return CreateTerminalResponse(terminal_id=terminal.id)

    async def terminal_output(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> TerminalOutputResponse:
        self._check_terminal(session_id)
        return self.terminals.output(terminal_id)

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> WaitForTerminalExitResponse:
        self._check_terminal(session_id)
        terminal = self.terminals.get(terminal_id)
        await terminal.done.wait()
        status = terminal.status()
        assert status is not None
        return WaitForTerminalExitResponse(exit_code=status.exit_code, signal=status.signal)

    async def kill_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> KillTerminalResponse | None:
        self._check_terminal(session_id)
        await self.terminals.get(terminal_id).kill()
        return KillTerminalResponse()

    async def release_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> ReleaseTerminalResponse | None:
        self._check_terminal(session_id)
        await self.terminals.release(terminal_id)
        return ReleaseTerminalResponse()

    # Anything else ----------------------------------------------------------------------

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(f"_{method}")

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None

    def on_connect(self, conn: Any) -> None:
        return None
