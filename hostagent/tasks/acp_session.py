"""An `acp` executor's task: a session with a coding agent that speaks ACP over stdio
(docs/protocol.md, "Agent sessions (ACP)").

The agent runs as an argv list in the project root, in its own process group,
with the executor's environment allowlist; its stderr is the task log. After
`initialize` and `session/new`, the assignment's prompt is the first turn.
Between turns the session waits for a follow-up (`task.message`, queued in
message id order and delivered once), for `task.end`, or `idle_timeout`; a
turn lasts at most the executor's `timeout`. `task.interrupt` cancels the
running turn (`session/cancel`), `task.end` cancels it and ends the session,
`task.cancel` kills everything. However it ends, open permission requests
close, terminals and the agent's whole group are killed, and the last of its
stderr is sent before the service reports `task.finished`.

A session the user ends, or that idles out, reads as its last turn ended:
succeeded after `end_turn`; failed when the agent answered the prompt with an
error, refused it or stopped at a limit; cancelled when the user interrupted
it. The error says which ("the last turn was refused by the agent"), and a
turn that stops for any reason but `end_turn` or `cancelled` leaves a notice
on the timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable
from typing import Any, cast

import acp
from acp import RequestError
from acp.schema import ClientCapabilities, FileSystemCapabilities, Implementation, InitializeResponse

from hostagent import __version__
from hostagent.tasks.acp_client import HostClient, duration
from hostagent.tasks.acp_terminals import Terminals
from hostagent.tasks.acp_timeline import Send, Timeline
from hostagent.tasks.executors import (
    SIGKILL,
    TERM_GRACE,
    Executor,
    RunResult,
    SpawnError,
    child_env,
    drain,
    exited_code,
    first_of,
    how_it_died,
    kill_group,
    seconds,
    spawn,
)
from hostagent.tasks.output import TaskLog, pump

log = logging.getLogger("hostagent.tasks.acp")

END_GRACE = 2.0  # seconds a cancelled turn may take to answer before the session ends anyway
EXIT_GRACE = 1.0  # seconds between the agent closing its output and exiting
CLOSE_TIMEOUT = 2.0


class _Over(Exception):
    """The session is over; `result` says how."""

    def __init__(self, result: RunResult):
        super().__init__(result.error or result.outcome)
        self.result = result


class AcpSession:
    def __init__(
        self, executor: Executor, task_id: int, prompt: str, target: str, send: Send, cancel: asyncio.Event
    ):
        self.executor = executor
        self.task_id = task_id
        self.prompt = prompt
        self.target = target
        self.send = send
        self.cancel = cancel  # task.cancel, or the agent shutting down: kill everything
        self.ended = asyncio.Event()  # task.end
        self.wake = asyncio.Event()  # a follow-up arrived
        self.followups: dict[int, str] = {}
        self.delivered: set[int] = set()
        self.turn_running = False
        self.last_turn = RunResult("succeeded")  # the session's outcome if it ends while waiting
        self.conn: acp.ClientSideConnection | None = None
        self.client: HostClient | None = None
        self.session_id = ""
        self.closable = False  # the agent offers session/close
        self._stops: dict[str, asyncio.Future[Any]] = {}
        self._cancelling: set[asyncio.Task[None]] = set()

    # From the hub ----------------------------------------------------------------------

    def message(self, message_id: int, text: str) -> None:
        if message_id in self.delivered or message_id in self.followups:
            return  # a copy: delivered at most once
        self.followups[message_id] = text
        self.wake.set()

    def answer(self, request_id: str, option_id: str) -> None:
        if self.client is None or not self.client.permissions.answer(request_id, option_id):
            log.info(
                "task %d: ignoring an answer to %r (not open, or not an option)",
                self.task_id,
                request_id[:64],
            )

    async def interrupt(self) -> None:
        if not self.turn_running:
            log.info("task %d: no turn to interrupt", self.task_id)
            return
        # Not awaited here: an agent that stopped reading its stdin must not hold up the hub's messages.
        cancelling = asyncio.create_task(self._cancel_turn())
        self._cancelling.add(cancelling)
        cancelling.add_done_callback(self._cancelling.discard)

    def end(self) -> None:
        self.ended.set()

    # The session -----------------------------------------------------------------------

    async def run(self, root: str, task_log: TaskLog) -> RunResult:
        argv = list(self.executor.argv)
        pipe = asyncio.subprocess.PIPE
        try:
            proc = await spawn(argv, cwd=root, env=child_env(self.executor), stdin=pipe, stderr=pipe)
        except SpawnError as exc:
            return RunResult("failed", error=str(exc))
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stderr = asyncio.create_task(pump(proc.stderr, task_log))
        terminals = Terminals(root, self.executor)
        timeline = Timeline(self.task_id, root, self.send, lambda tid: _terminal_text(terminals, tid))
        self.client = HostClient(root, self.executor, timeline, terminals)
        # HostClient leaves out elicitation, which acp offers only with use_unstable_protocol.
        self.conn = acp.connect_to_agent(cast(acp.Client, self.client), proc.stdin, proc.stdout)
        self._stops = {
            "cancelled": asyncio.ensure_future(self.cancel.wait()),
            "exited": asyncio.ensure_future(exited_code(proc)),
            "ended": asyncio.ensure_future(self.ended.wait()),
        }
        result = RunResult("failed", error="the session stopped")  # replaced unless something raised
        try:
            result = await self._converse(root)
        except _Over as over:
            result = over.result
        finally:
            await self._shutdown(proc, result.outcome == "succeeded", stderr, task_log, timeline)
        return result

    async def _converse(self, root: str) -> RunResult:
        assert self.conn is not None and self.client is not None
        init = await self._start(
            self.conn.initialize(
                protocol_version=acp.PROTOCOL_VERSION,
                client_capabilities=ClientCapabilities(
                    fs=FileSystemCapabilities(read_text_file=True, write_text_file=True),
                    terminal=self.executor.terminal,
                ),
                client_info=Implementation(name="codexhub", title="codexhub", version=__version__),
            )
        )
        self.closable = _can_close(init)
        session = await self._start(self.conn.new_session(cwd=root, mcp_servers=[]))
        self.session_id = self.client.session_id = session.session_id
        text = self.prompt
        if self.target:
            text += f"\n\nTarget file: {os.path.join(root, self.target)}"
        result = await self._turn(text, self.prompt, None)
        while result is None:
            message_id, followup = await self._next_message()
            result = await self._turn(followup, followup, message_id)
        return result

    async def _start(self, call: Awaitable[Any]) -> Any:
        """initialize or session/new: failures end the session with a clear error."""
        work = asyncio.ensure_future(call)
        how = await self._wait(work, self.executor.timeout, ("cancelled", "exited", "ended"))
        if how == "done":
            try:
                return work.result()
            except RequestError as exc:
                raise _Over(RunResult("failed", error=f"the agent did not start a session: {exc}")) from None
            except ConnectionError:
                raise _Over(await self._died("while starting")) from None
            except Exception as exc:
                raise _Over(
                    RunResult("failed", error=f"the agent broke the protocol: {_summary(exc)}")
                ) from None
        work.cancel()
        if how == "exited":
            raise _Over(await self._died("while starting"))
        if how == "timeout":
            raise _Over(
                RunResult(
                    "failed", error=f"the agent did not start within {seconds(self.executor.timeout)} s"
                )
            )
        raise _Over(RunResult("cancelled"))

    async def _turn(self, text: str, shown: str, message_id: int | None) -> RunResult | None:
        """One prompt turn; None when it ended normally and the session goes on."""
        assert self.conn is not None and self.client is not None
        timeline = self.client.timeline
        if message_id is not None:
            self.delivered.add(message_id)
        timeline.turn("working", message_id)
        timeline.user(shown, message_id)
        self.turn_running = True
        work = asyncio.ensure_future(
            self.conn.prompt(session_id=self.session_id, prompt=[acp.text_block(text)])
        )
        try:
            how = await self._wait(work, self.executor.timeout, ("cancelled", "exited", "ended"))
            if how == "ended":  # the user ended the session during the turn: cancel it, then end
                await self._cancel_turn()
                if await self._wait(work, END_GRACE, ("cancelled", "exited")) == "done":
                    with contextlib.suppress(Exception):
                        self._turn_over(work)
                return RunResult("cancelled")
            if how == "done":
                return await self._turn_done(work)
            if how == "timeout":
                await self._cancel_turn()
                timeline.notice(f"The turn timed out after {seconds(self.executor.timeout)} s.", "error")
                return RunResult(
                    "failed", error=f"the turn timed out after {seconds(self.executor.timeout)} s"
                )
            if how == "exited":
                return await self._died("during a turn")
            return RunResult("cancelled")
        finally:
            self.turn_running = False
            work.cancel()
            self.client.permissions.cancel_all()
            await self.client.terminals.kill_all()

    async def _turn_done(self, work: asyncio.Future[Any]) -> RunResult | None:
        assert self.client is not None
        try:
            self._turn_over(work)
        except ConnectionError:
            return await self._died("during a turn")
        except RequestError as exc:  # the agent failed this turn; the session may go on
            self.last_turn = RunResult("failed", error=f"the last turn failed: {exc}")
            self.client.timeline.notice(f"The agent reported an error: {exc}", "error")
            self.client.timeline.turn("waiting")
            return None
        except Exception as exc:
            return RunResult("failed", error=f"the agent broke the protocol: {_summary(exc)}")
        return None

    def _turn_over(self, work: asyncio.Future[Any]) -> None:
        """Report the turn's end and keep how it ended (raises what the prompt raised)."""
        stop_reason = str(work.result().stop_reason)
        assert self.client is not None
        self.last_turn = turn_outcome(stop_reason)
        notice = STOP_NOTICES.get(stop_reason, f"The turn stopped: {stop_reason}.")
        if stop_reason not in ("end_turn", "cancelled"):
            self.client.timeline.notice(notice, "error")
        self.client.timeline.turn("waiting", stop_reason=stop_reason)

    async def _cancel_turn(self) -> None:
        """session/cancel, then every open permission request answered `cancelled` (ACP's order)."""
        assert self.conn is not None and self.client is not None
        with contextlib.suppress(Exception):
            await self.conn.cancel(session_id=self.session_id)
        self.client.permissions.cancel_all()

    async def _next_message(self) -> tuple[int, str]:
        """The next follow-up, once the session waits; raises _Over when it ends instead."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.executor.idle_timeout
        while not self.followups:
            self.wake.clear()
            wake = asyncio.ensure_future(self.wake.wait())
            try:
                how = await self._wait(
                    wake, max(0.0, deadline - loop.time()), ("cancelled", "ended", "exited")
                )
            finally:
                wake.cancel()
            if how == "cancelled":
                raise _Over(RunResult("cancelled"))
            if how == "ended":
                raise _Over(self.last_turn)
            if how == "exited":
                raise _Over(await self._died("while waiting"))
            if how == "timeout":
                self._idle_notice()
                raise _Over(self.last_turn)
        if self.ended.is_set() or self.cancel.is_set():  # those come first: queued follow-ups are dropped
            raise _Over(self.last_turn if not self.cancel.is_set() else RunResult("cancelled"))
        message_id = min(self.followups)
        return message_id, self.followups.pop(message_id)

    def _idle_notice(self) -> None:
        assert self.client is not None
        idle = duration(self.executor.idle_timeout)
        self.client.timeline.notice(f"The session ended after {idle} without a message.")

    async def _wait(self, work: asyncio.Future[Any], timeout: float | None, stops: tuple[str, ...]) -> str:
        """Wait for `work` or one of `stops`: "done", a stop's name, or "timeout". task.cancel wins."""
        return await first_of(work, {name: self._stops[name] for name in stops}, timeout)

    async def _died(self, when: str) -> RunResult:
        """How the agent's end reads: its exit code, a signal, or a broken protocol."""
        return await how_it_died(self._stops["exited"], "the agent", when, EXIT_GRACE)

    async def _shutdown(
        self,
        proc: asyncio.subprocess.Process,
        graceful: bool,
        stderr: asyncio.Task[None],
        task_log: TaskLog,
        timeline: Timeline,
    ) -> None:
        assert self.conn is not None and self.client is not None
        self.client.permissions.cancel_all()
        await self.client.terminals.kill_all()
        if graceful and self.closable and proc.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.conn.close_session(session_id=self.session_id), CLOSE_TIMEOUT)
        kill_group(proc, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stops["exited"]), TERM_GRACE)
        kill_group(proc, SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.conn.close(), CLOSE_TIMEOUT)
        for stop in self._stops.values():
            stop.cancel()
        await drain(proc, stderr)
        await task_log.flush(final=True)
        await timeline.close()


# What the timeline says of a turn that stopped short (ACP's stop reasons; others are named as sent).
STOP_NOTICES = {
    "refusal": "The agent refused this turn.",
    "max_tokens": "The turn stopped at the model's token limit.",
    "max_turn_requests": "The turn stopped at the agent's limit of model requests.",
}


def turn_outcome(stop_reason: str) -> RunResult:
    """The session's outcome if this turn is its last."""
    if stop_reason == "end_turn":
        return RunResult("succeeded")
    if stop_reason == "cancelled":
        return RunResult("cancelled", error="the last turn was interrupted")
    if stop_reason == "refusal":
        return RunResult("failed", error="the last turn was refused by the agent")
    if stop_reason == "max_tokens":
        return RunResult("failed", error="the last turn stopped at the model's token limit")
    if stop_reason == "max_turn_requests":
        return RunResult("failed", error="the last turn stopped at the agent's limit of model requests")
    return RunResult("failed", error=f"the last turn stopped: {stop_reason[:64]}")


def _can_close(init: InitializeResponse) -> bool:
    capabilities = init.agent_capabilities
    sessions = capabilities.session_capabilities if capabilities is not None else None
    return sessions is not None and sessions.close is not None


def _terminal_text(terminals: Terminals, terminal_id: str) -> str | None:
    terminal = terminals.terminals.get(terminal_id)
    return terminal.text() if terminal is not None else None


def _summary(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
