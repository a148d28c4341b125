"""A `codex` executor's task: one Codex thread through `codex app-server` (docs/protocol.md,
"Codex threads"), on the same timeline, turns and permission requests as an ACP session.

codex runs as the executor's argv (default `codex app-server`) in the task's root, in its
own process group, with the executor's environment allowlist (Codex's own variables by
default, environment.TEMPLATE_ENV); its stderr is the task log. After `initialize` (codex's
version must be one this agent was tested with, else the task fails naming it) and
`thread/start`, the prompt is the first `turn/start`. A follow-up during a turn steers it
(`turn/steer`), between turns it starts the next one; `task.interrupt` is
`turn/interrupt`, `task.end` interrupts a running turn and ends the thread, `task.cancel`
kills everything. codex's approvals are permission requests for the phone, answered with
codex's own decisions. The task's outcome is the last turn's: failed or interrupted says
so. A message codex sends that does not parse, or lacks what the agent needs, fails the
task with a clear error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Awaitable
from typing import Any, Literal

from acp.schema import PermissionOption

from hostagent import __version__
from hostagent.mirror.scan import is_within
from hostagent.tasks.acp_client import Permissions, duration
from hostagent.tasks.acp_timeline import Send, Timeline
from hostagent.tasks.codex_rpc import METHOD_NOT_FOUND, Refuse, Rpc, RpcClosed, RpcError
from hostagent.tasks.codex_timeline import Malformed, ThreadTimeline, need, need_text
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

log = logging.getLogger("hostagent.tasks.codex")

# The codex releases (major.minor) this agent was tested with: another one fails the task.
TESTED_VERSIONS = ("0.171",)
END_GRACE = 2.0  # seconds an interrupted turn may take to end before the thread ends anyway
EXIT_GRACE = 1.0

# codex's approval decisions, as the phone offers them (a timeout takes the first reject_once).
OptionKind = Literal["allow_once", "allow_always", "reject_once", "reject_always"]
DECISIONS: dict[str, tuple[str, OptionKind]] = {
    "accept": ("Allow", "allow_once"),
    "acceptForSession": ("Allow for this session", "allow_always"),
    "decline": ("Decline", "reject_once"),
    "cancel": ("Decline and stop the turn", "reject_once"),
}
STOP_REASON = {"completed": "end_turn", "interrupted": "cancelled"}
APPROVALS = ("item/commandExecution/requestApproval", "item/fileChange/requestApproval")
USER_AGENT = re.compile(r"[^/\s]+/(\d+\.\d+\.\S+)")
NOT_IN_PROJECT = "thread {thread} ran in {cwd}, which is not inside project {project!r} on this host"


class _Over(Exception):
    def __init__(self, result: RunResult):
        super().__init__(result.error or result.outcome)
        self.result = result


def check_version(user_agent: str) -> str | None:
    """Why codex of this `userAgent` may not run, or None."""
    match = USER_AGENT.match(user_agent)
    if match is None:
        return f"codex did not say its version (userAgent {user_agent[:80]!r})"
    version = match.group(1)[:40]
    if ".".join(version.split(".")[:2]) not in TESTED_VERSIONS:
        tested = ", ".join(f"{v}.x" for v in TESTED_VERSIONS)
        return (
            f"codex {version} is not a version this host agent was tested with ({tested}): "
            "install a tested one, or a host agent that knows this one"
        )
    return None


class CodexSession:
    def __init__(
        self,
        executor: Executor,
        task_id: int,
        prompt: str,
        target: str,
        send: Send,
        cancel: asyncio.Event,
        *,
        resume: str | None = None,
        places: tuple[str, ...] = (),
        project: str = "",
    ):
        """`resume`: the id of a thread to continue instead of starting one; it must have run in
        one of `places` (project `project`'s folder or its task worktrees, real paths)."""
        self.executor = executor
        self.resume = resume
        self.places = places
        self.project = project
        self.task_id = task_id
        self.prompt = prompt
        self.target = target
        self.send = send
        self.cancel = cancel
        self.ended = asyncio.Event()
        self.wake = asyncio.Event()
        self.followups: dict[int, str] = {}
        self.delivered: set[int] = set()
        self.rpc: Rpc | None = None
        self.timeline: Timeline | None = None
        self.permissions: Permissions | None = None
        self.view: ThreadTimeline | None = None
        self.root = ""
        self.thread_id = ""
        self.turn_id = ""  # the running turn's, once turn/start answered
        self.turn_running = False
        self.turn_done: asyncio.Future[dict[str, Any]] | None = None
        self.last_turn: dict[str, Any] | None = None  # how the last turn ended
        self.problem: str | None = None  # a malformed message: the task fails with it
        self.task_log: TaskLog | None = None
        self._stops: dict[str, asyncio.Future[Any]] = {}
        self._background: set[asyncio.Task[None]] = set()

    # From the hub ----------------------------------------------------------------------

    def message(self, message_id: int, text: str) -> None:
        if message_id in self.delivered or message_id in self.followups:
            return
        self.followups[message_id] = text
        self.wake.set()
        if self.turn_running and self.turn_id:
            self._spawn(self._steer())

    def answer(self, request_id: str, option_id: str) -> None:
        if self.permissions is None or not self.permissions.answer(request_id, option_id):
            log.info("task %d: ignoring an answer to %r", self.task_id, request_id[:64])

    async def interrupt(self) -> None:
        if not (self.turn_running and self.turn_id):
            log.info("task %d: no turn to interrupt", self.task_id)
            return
        self._spawn(self._interrupt_turn())  # not awaited: a stuck codex must not hold up the hub

    def end(self) -> None:
        self.ended.set()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # The thread ------------------------------------------------------------------------

    async def run(self, root: str, task_log: TaskLog) -> RunResult:
        self.root = root
        pipe = asyncio.subprocess.PIPE
        try:
            proc = await spawn(
                list(self.executor.argv), cwd=root, env=child_env(self.executor), stdin=pipe, stderr=pipe
            )
        except SpawnError as exc:
            return RunResult("failed", error=str(exc))
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        stderr = asyncio.create_task(pump(proc.stderr, task_log))
        self.task_log = task_log
        self.timeline = Timeline(self.task_id, root, self.send)
        self.permissions = Permissions(self.executor, self.timeline)
        self.view = ThreadTimeline(self.timeline, root, self._log)
        self.rpc = Rpc(proc.stdin, proc.stdout, self._notified, self._asked)
        self._stops = {
            "cancelled": asyncio.ensure_future(self.cancel.wait()),
            "exited": asyncio.ensure_future(exited_code(proc)),
            "ended": asyncio.ensure_future(self.ended.wait()),
            "broken": self.rpc.broken,
        }
        result = RunResult("failed", error="the thread stopped")
        try:
            result = await self._converse()
        except _Over as over:
            result = over.result
        finally:
            await self._shutdown(proc, stderr, task_log)
        return result

    async def _converse(self) -> RunResult:
        init = await self._call("initialize", {"clientInfo": {"name": "codexhub", "version": __version__}})
        error = check_version(self._need(init, "userAgent"))
        if error is not None:
            raise _Over(RunResult("failed", error=error))
        assert self.rpc is not None
        with contextlib.suppress(RpcClosed):
            await self.rpc.notify("initialized")
        params: dict[str, Any] = {
            "cwd": self.root,
            "approvalPolicy": self.executor.approval_policy,
            "sandbox": self.executor.sandbox,
        }
        if self.executor.model:
            params["model"] = self.executor.model
        if self.resume is None:
            started = await self._call("thread/start", params)
        else:
            started = await self._resume(params)
        self.thread_id = self._need(started, "thread", "id")
        self._log(f"codex thread {self.thread_id}{' (resumed)' if self.resume else ''}")
        await self.send("task.thread", {"task_id": self.task_id, "thread_id": self.thread_id})
        text = self.prompt
        if self.target:
            text += f"\n\nTarget file: {os.path.join(self.root, self.target)}"
        result = await self._turn(text, self.prompt, None)
        while result is None:
            message_id, followup = await self._next_message()
            result = await self._turn(followup, followup, message_id)
        return result

    async def _resume(self, params: dict[str, Any]) -> Any:
        """thread/resume of a thread that ran in one of `places`, in this task's root; a thread
        codex cannot find or resume, or one of another folder, fails the task."""
        assert self.resume is not None
        thread = self.resume
        read = await self._call("thread/read", {"threadId": thread}, f"codex cannot resume thread {thread}")
        cwd = self._need(read, "thread", "cwd")
        real = os.path.realpath(cwd) if os.path.isabs(cwd) else ""
        if not any(real and is_within(real, place) for place in self.places):
            error = NOT_IN_PROJECT.format(thread=thread, cwd=cwd[:300], project=self.project)
            raise _Over(RunResult("failed", error=error))
        resume = {**params, "threadId": thread, "excludeTurns": True}
        return await self._call("thread/resume", resume, f"codex cannot resume thread {thread}")

    def _need(self, data: Any, *path: str, kind: type = str) -> Any:
        try:
            return need(data, *path, kind=kind)
        except Malformed as exc:
            raise _Over(RunResult("failed", error=f"codex broke the protocol: {exc}")) from None

    async def _call(self, method: str, params: dict[str, Any], refused: str = "") -> Any:
        """A request whose failure ends the thread with a clear error (`refused`: how codex's
        error is introduced, by default "codex refused <method>")."""
        assert self.rpc is not None
        work = asyncio.ensure_future(self.rpc.request(method, params))
        how = await self._wait(work, self.executor.timeout, ("cancelled", "exited", "ended", "broken"))
        if how == "done":
            try:
                return work.result()
            except RpcError as exc:
                said = refused or f"codex refused {method}"
                raise _Over(RunResult("failed", error=f"{said}: {exc}")) from None
            except RpcClosed:
                raise _Over(await self._died(f"during {method}")) from None
        work.cancel()
        if how in ("exited", "broken"):
            raise _Over(await self._died(f"during {method}"))
        if how == "timeout":
            raise _Over(
                RunResult(
                    "failed", error=f"codex did not answer {method} within {seconds(self.executor.timeout)} s"
                )
            )
        raise _Over(RunResult("cancelled"))

    async def _turn(self, text: str, shown: str, message_id: int | None) -> RunResult | None:
        """One turn; None when it ended and the thread goes on."""
        assert self.timeline is not None and self.permissions is not None and self.view is not None
        if message_id is not None:
            self.delivered.add(message_id)
        self.timeline.turn("working", message_id)
        self.timeline.user(shown, message_id)
        self.turn_done = asyncio.get_running_loop().create_future()
        self.turn_running, self.turn_id = True, ""
        self.view.turn_started()
        params: dict[str, Any] = {"threadId": self.thread_id, "input": [{"type": "text", "text": text}]}
        if self.executor.effort:
            params["effort"] = self.executor.effort
        try:
            started = await self._call("turn/start", params)
            self.turn_id = self._need(started, "turn", "id")
            if self.followups:  # sent while turn/start was on its way: they steer this turn
                self._spawn(self._steer())
            stops = ("cancelled", "exited", "ended", "broken")
            how = await self._wait(self.turn_done, self.executor.timeout, stops)
            if how == "ended":
                await self._interrupt_turn()
                if await self._wait(self.turn_done, END_GRACE, ("cancelled", "exited", "broken")) == "done":
                    self._turn_over(self.turn_done.result())
                return RunResult("cancelled")
            if how == "done":
                return self._turn_over(self.turn_done.result())
            if how == "timeout":
                await self._interrupt_turn()
                after = seconds(self.executor.timeout)
                self.timeline.notice(f"The turn timed out after {after} s.", "error")
                return RunResult("failed", error=f"the turn timed out after {after} s")
            if how in ("exited", "broken"):
                return await self._died("during a turn")
            return RunResult("cancelled")
        finally:
            self.turn_running = False
            self.permissions.cancel_all()

    def _turn_over(self, turn: dict[str, Any]) -> RunResult | None:
        """Report how the turn ended; a failure the task must end with, or None."""
        assert self.timeline is not None
        if self.problem is not None:
            return RunResult("failed", error=f"codex broke the protocol: {self.problem}")
        status = turn.get("status")
        self.last_turn = turn
        if status == "failed":
            message = need_text(turn, "error", "message") or "no reason given"
            self.timeline.notice(f"The turn failed: {message}", "error")
        elif status == "interrupted":
            self.timeline.notice("The turn was stopped.")
        assert self.view is not None
        self.view.usage_notice()
        self.timeline.turn("waiting", stop_reason=STOP_REASON.get(str(status)))
        return None

    async def _steer(self) -> None:
        """The waiting follow-ups join the running turn, in message id order."""
        assert self.rpc is not None and self.timeline is not None
        while self.followups and self.turn_running and self.turn_id:
            message_id = min(self.followups)
            text = self.followups.pop(message_id)
            params = {
                "threadId": self.thread_id,
                "expectedTurnId": self.turn_id,
                "input": [{"type": "text", "text": text}],
            }
            try:
                await self.rpc.request("turn/steer", params)
            except (RpcError, RpcClosed):  # the turn ended meanwhile: it starts the next one
                self.followups[message_id] = text
                self.wake.set()
                return
            self.delivered.add(message_id)
            self.timeline.turn("working", message_id)  # the running turn carries it: the hub's record
            self.timeline.user(text, message_id)

    async def _interrupt_turn(self) -> None:
        assert self.rpc is not None and self.permissions is not None
        self.permissions.cancel_all()
        if self.turn_id and self.turn_running:
            with contextlib.suppress(RpcError, RpcClosed):
                await asyncio.wait_for(
                    self.rpc.request("turn/interrupt", {"threadId": self.thread_id, "turnId": self.turn_id}),
                    END_GRACE,
                )

    async def _next_message(self) -> tuple[int, str]:
        """The next follow-up once the thread waits; raises _Over when it ends instead."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.executor.idle_timeout
        while not self.followups:
            self.wake.clear()
            wake = asyncio.ensure_future(self.wake.wait())
            try:
                how = await self._wait(
                    wake, max(0.0, deadline - loop.time()), ("cancelled", "ended", "exited", "broken")
                )
            finally:
                wake.cancel()
            if how == "cancelled":
                raise _Over(RunResult("cancelled"))
            if how in ("exited", "broken"):
                raise _Over(await self._died("while waiting"))
            if how == "timeout":
                assert self.timeline is not None
                idle = duration(self.executor.idle_timeout)
                self.timeline.notice(f"The thread ended after {idle} without a message.")
            if how in ("ended", "timeout"):
                raise _Over(self._outcome())
        if self.ended.is_set() or self.cancel.is_set():
            raise _Over(RunResult("cancelled") if self.cancel.is_set() else self._outcome())
        message_id = min(self.followups)
        return message_id, self.followups.pop(message_id)

    def _outcome(self) -> RunResult:
        """The thread's end state: its last turn's."""
        turn = self.last_turn or {}
        if turn.get("status") == "failed":
            reason = need_text(turn, "error", "message") or "no reason given"
            return RunResult("failed", error=f"the last turn failed: {reason}")
        if turn.get("status") == "interrupted":
            return RunResult("cancelled", error="the last turn was interrupted")
        return RunResult("succeeded")

    async def _wait(self, work: asyncio.Future[Any], timeout: float | None, stops: tuple[str, ...]) -> str:
        """Wait for `work` or one of `stops`: "done", a stop's name, or "timeout". task.cancel wins."""
        return await first_of(work, {name: self._stops[name] for name in stops}, timeout)

    async def _died(self, when: str) -> RunResult:
        """How codex's end reads: a broken protocol, its exit code or a signal."""
        assert self.rpc is not None
        broken = self.rpc.broken.result() if self.rpc.broken.done() else ""
        if self.problem is not None:
            return RunResult("failed", error=f"codex broke the protocol: {self.problem}")
        if broken and broken != "it closed its output":
            return RunResult("failed", error=f"codex broke the protocol: {broken}")
        return await how_it_died(self._stops["exited"], "codex", when, EXIT_GRACE)

    async def _shutdown(
        self, proc: asyncio.subprocess.Process, stderr: asyncio.Task[None], task_log: TaskLog
    ) -> None:
        assert self.rpc is not None and self.timeline is not None and self.permissions is not None
        self.permissions.cancel_all()
        for task in list(self._background):
            task.cancel()
        await self.rpc.close()  # codex exits at the end of its input
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stops["exited"]), TERM_GRACE)
        kill_group(proc, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stops["exited"]), TERM_GRACE)
        kill_group(proc, SIGKILL)
        for name, stop in self._stops.items():
            if name != "broken":
                stop.cancel()
        await drain(proc, stderr)
        transport = getattr(proc, "_transport", None)  # its pipes, whoever else held them: closed now
        if transport is not None:
            transport.close()
        await task_log.flush(final=True)
        await self.timeline.close()

    def _log(self, line: str) -> None:
        if self.task_log is not None:
            self.task_log.feed(f"{line}\n".encode("utf-8", "replace"))

    # What codex sends ------------------------------------------------------------------

    def _notified(self, method: str, params: dict[str, Any]) -> None:
        """A notification, in codex's order. A malformed one fails the task (`problem`)."""
        if self.problem is not None:
            return
        assert self.view is not None
        try:
            if method == "turn/completed":
                self._turn_completed(params)
            else:
                self.view.notification(method, params)
        except Malformed as exc:
            self.problem = f"{method}: {exc}"
            log.warning("task %d: %s", self.task_id, self.problem)
            assert self.rpc is not None
            if not self.rpc.broken.done():
                self.rpc.broken.set_result(self.problem)

    def _turn_completed(self, params: dict[str, Any]) -> None:
        turn = need(params, "turn", kind=dict)
        need(turn, "status")
        done = self.turn_done
        if done is not None and not done.done() and params.get("threadId") == self.thread_id:
            done.set_result(turn)

    async def _asked(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A request from codex: an approval for the phone; anything else is refused."""
        if method not in APPROVALS:
            raise Refuse(METHOD_NOT_FOUND, f"codexhub does not handle {method[:64]}")
        assert self.permissions is not None and self.view is not None
        summary = self.view.approval(method, params)
        choice = await self.permissions.choose(summary, _options(params.get("availableDecisions")))
        return {"decision": choice or "cancel"}


def _options(available: Any) -> list[PermissionOption]:
    """The decisions codex offers that the phone can give (decline is always valid), in DECISIONS' order."""
    names = (
        set(DECISIONS) if not isinstance(available, list) else {d for d in available if isinstance(d, str)}
    )
    names.add("decline")
    return [
        PermissionOption(option_id=name, name=label, kind=kind)
        for name, (label, kind) in DECISIONS.items()
        if name in names
    ]
