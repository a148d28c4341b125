"""A `codex` executor's task: one Codex thread through `codex app-server` (docs/protocol.md,
"Codex threads"), on the same timeline, turns and permission requests as an ACP session.

codex runs as the executor's argv (default `codex app-server`) in the task's root, in its
own process group, with the executor's environment allowlist (CODEX_HOME and
OPENAI_API_KEY by default); its stderr is the task log. After `initialize` (codex's
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
import shlex
import signal
from collections.abc import Awaitable
from typing import Any, Literal

from acp.schema import PermissionOption

from hostagent import __version__
from hostagent.tasks.acp_client import Permissions, duration
from hostagent.tasks.acp_files import display_path
from hostagent.tasks.acp_timeline import Send, Timeline, clip, clip_tail
from hostagent.tasks.changes import unified_diff
from hostagent.tasks.codex_rpc import METHOD_NOT_FOUND, Refuse, Rpc, RpcClosed, RpcError
from hostagent.tasks.executors import (
    SIGKILL,
    TERM_GRACE,
    Executor,
    RunResult,
    SpawnError,
    child_env,
    drain,
    exited_code,
    kill_group,
    seconds,
    spawn,
)
from hostagent.tasks.output import TaskLog, pump
from protocol.limits import (
    ITEM_KEY,
    MAX_LOCATION,
    MAX_PLAN_CONTENT,
    MAX_PLAN_ENTRIES,
    MAX_TITLE,
    MAX_TOOL_TEXT,
)

log = logging.getLogger("hostagent.tasks.codex")

# The codex releases (major.minor) this agent was tested with: another one fails the task.
TESTED_VERSIONS = ("0.171",)
END_GRACE = 2.0  # seconds an interrupted turn may take to end before the thread ends anyway
EXIT_GRACE = 1.0
OUTPUT_EVERY = 0.5  # seconds between re-sends of a running command's output

# codex's approval decisions, as the phone offers them (a timeout takes the first reject_once).
OptionKind = Literal["allow_once", "allow_always", "reject_once", "reject_always"]
DECISIONS: dict[str, tuple[str, OptionKind]] = {
    "accept": ("Allow", "allow_once"),
    "acceptForSession": ("Allow for this session", "allow_always"),
    "decline": ("Decline", "reject_once"),
    "cancel": ("Decline and stop the turn", "reject_once"),
}
TOOL_STATUS = {
    "inProgress": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "declined": "failed",
}
PLAN_STATUS = {"pending": "pending", "inProgress": "in_progress", "completed": "completed"}
STOP_REASON = {"completed": "end_turn", "interrupted": "cancelled"}
APPROVALS = ("item/commandExecution/requestApproval", "item/fileChange/requestApproval")
USER_AGENT = re.compile(r"[^/\s]+/(\d+\.\d+\.\S+)")


class _Over(Exception):
    def __init__(self, result: RunResult):
        super().__init__(result.error or result.outcome)
        self.result = result


class Malformed(Exception):
    """A message from codex lacks what the agent needs."""


def need(data: Any, *path: str, kind: type = str) -> Any:
    """data[path...] of type `kind`; raises Malformed naming what is missing."""
    value = data
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise Malformed(f"{'.'.join(path)} is not a {kind.__name__}")
    return value


def item_key(prefix: str, item_id: str) -> str:
    key = f"{prefix}:{item_id}"
    if ITEM_KEY.fullmatch(key):
        return key
    import hashlib

    return f"{prefix}:h" + hashlib.sha256(item_id.encode("utf-8", "replace")).hexdigest()[:32]


def shown_command(command: str) -> str:
    """`printf hi > x` for codex's `/bin/bash -lc 'printf hi > x'`."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return command
    if len(argv) == 3 and os.path.basename(argv[0]) in ("bash", "sh", "zsh") and argv[1] in ("-lc", "-c"):
        return argv[2]
    return command


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
        self, executor: Executor, task_id: int, prompt: str, target: str, send: Send, cancel: asyncio.Event
    ):
        self.executor = executor
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
        self.root = ""
        self.thread_id = ""
        self.turn_id = ""  # the running turn's, once turn/start answered
        self.turn_running = False
        self.turn_done: asyncio.Future[dict[str, Any]] | None = None
        self.last_turn: dict[str, Any] | None = None  # how the last turn ended
        self.tools: dict[str, dict[str, Any]] = {}  # command and file-change items, by timeline key
        self.turn_count = 0
        self.usage: dict[str, Any] | None = None  # the thread's token usage so far
        self.usage_before: dict[str, Any] | None = None  # as it was when the turn started
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
        started = await self._call("thread/start", params)
        self.thread_id = self._need(started, "thread", "id")
        self._log(f"codex thread {self.thread_id}")
        text = self.prompt
        if self.target:
            text += f"\n\nTarget file: {os.path.join(self.root, self.target)}"
        result = await self._turn(text, self.prompt, None)
        while result is None:
            message_id, followup = await self._next_message()
            result = await self._turn(followup, followup, message_id)
        return result

    def _need(self, data: Any, *path: str, kind: type = str) -> Any:
        try:
            return need(data, *path, kind=kind)
        except Malformed as exc:
            raise _Over(RunResult("failed", error=f"codex broke the protocol: {exc}")) from None

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        """A request whose failure ends the thread with a clear error."""
        assert self.rpc is not None
        work = asyncio.ensure_future(self.rpc.request(method, params))
        how = await self._wait(work, self.executor.timeout, ("cancelled", "exited", "ended", "broken"))
        if how == "done":
            try:
                return work.result()
            except RpcError as exc:
                raise _Over(RunResult("failed", error=f"codex refused {method}: {exc}")) from None
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
        assert self.timeline is not None and self.permissions is not None
        if message_id is not None:
            self.delivered.add(message_id)
        self.timeline.turn("working", message_id)
        self.timeline.user(shown, message_id)
        self.turn_done = asyncio.get_running_loop().create_future()
        self.turn_running, self.turn_id = True, ""
        self.turn_count += 1
        self.usage_before = self.usage
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
        self._usage_notice()
        self.timeline.turn("waiting", stop_reason=STOP_REASON.get(str(status)))
        return None

    def _usage_notice(self) -> None:
        assert self.timeline is not None
        if self.usage is None:
            return
        total = self.usage.get("total") or {}
        before = (self.usage_before or {}).get("total") or {}

        def turn_tokens(name: str) -> int:
            return int(total.get(name) or 0) - int(before.get(name) or 0)

        self.timeline.notice(
            f"Tokens: {turn_tokens('totalTokens'):,} this turn ({turn_tokens('inputTokens'):,} in, "
            f"{turn_tokens('outputTokens'):,} out), {int(total.get('totalTokens') or 0):,} in the thread."
        )

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
        watched = [work, *(self._stops[name] for name in stops)]
        await asyncio.wait(watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if "cancelled" in stops and self._stops["cancelled"].done():
            return "cancelled"
        if work.done():
            return "done"
        for name in stops:
            if self._stops[name].done():
                return name
        return "timeout"

    async def _died(self, when: str) -> RunResult:
        """How codex's end reads: a broken protocol, its exit code or a signal."""
        assert self.rpc is not None
        broken = self.rpc.broken.result() if self.rpc.broken.done() else ""
        if self.problem is not None:
            return RunResult("failed", error=f"codex broke the protocol: {self.problem}")
        if broken and broken != "it closed its output":
            return RunResult("failed", error=f"codex broke the protocol: {broken}")
        exited = self._stops["exited"]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(exited), EXIT_GRACE)
        if not exited.done():
            return RunResult("failed", error=f"codex broke the protocol: it closed its output {when}")
        code = exited.result()
        if code < 0:
            return RunResult("failed", error=f"codex was killed by signal {-code} {when}")
        return RunResult("failed", code, f"codex exited with code {code} {when}")

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

    def _key(self, prefix: str, item_id: str) -> str:
        """An item's timeline key: its id within its turn (a local model may reuse ids across turns)."""
        return item_key(prefix, f"{self.turn_count}.{item_id}")

    def _log(self, line: str) -> None:
        if self.task_log is not None:
            self.task_log.feed(f"{line}\n".encode("utf-8", "replace"))

    # What codex sends ------------------------------------------------------------------

    def _notified(self, method: str, params: dict[str, Any]) -> None:
        """A notification, in codex's order. A malformed one fails the task (`problem`)."""
        if self.problem is not None:
            return
        try:
            self._notification(method, params)
        except Malformed as exc:
            self.problem = f"{method}: {exc}"
            log.warning("task %d: %s", self.task_id, self.problem)
            assert self.rpc is not None
            if not self.rpc.broken.done():
                self.rpc.broken.set_result(self.problem)

    def _notification(self, method: str, params: dict[str, Any]) -> None:
        assert self.timeline is not None
        if method in ("item/started", "item/completed"):
            item = params.get("item")
            if not isinstance(item, dict):
                raise Malformed("item is not an object")
            self._item(item, done=method == "item/completed")
        elif method == "item/agentMessage/delta":
            self.timeline.chunk("agent", need(params, "delta"), self._key("agent", need(params, "itemId")))
        elif method == "item/reasoning/summaryTextDelta":
            self.timeline.chunk(
                "thought", need(params, "delta"), self._key("thought", need(params, "itemId"))
            )
        elif method == "item/commandExecution/outputDelta":
            self._output(need(params, "itemId"), need(params, "delta"))
        elif method == "turn/plan/updated":
            self._plan(need(params, "plan", kind=list))
        elif method == "thread/tokenUsage/updated":
            self.usage = need(params, "tokenUsage", kind=dict)
        elif method == "turn/completed":
            turn = need(params, "turn", kind=dict)
            need(turn, "status")
            if (
                self.turn_done is not None
                and not self.turn_done.done()
                and params.get("threadId") == self.thread_id
            ):
                self.turn_done.set_result(turn)
        elif method == "error":  # the turn's failure says it on the timeline
            retry = " (retrying)" if params.get("willRetry") else ""
            self._log(f"codex: error{retry}: {need_text(params, 'error', 'message')}")
        elif method in ("warning", "configWarning"):
            text = need_text(params, "message") or need_text(params, "summary")
            self._log(f"codex: {text}")

    def _item(self, item: dict[str, Any], done: bool) -> None:
        assert self.timeline is not None
        kind, item_id = need(item, "type"), need(item, "id")
        if kind == "agentMessage" and done:
            self.timeline.settle("agent", self._key("agent", item_id), need(item, "text"))
        elif kind == "reasoning" and done:
            summary = [part for part in item.get("summary") or [] if isinstance(part, str)]
            if summary:
                self.timeline.settle("thought", self._key("thought", item_id), "\n\n".join(summary))
        elif kind in ("commandExecution", "fileChange"):
            if kind == "commandExecution":
                need(item, "command")
            else:
                need(item, "changes", kind=list)
            key = self._key("tool", item_id)
            state = self.tools.setdefault(key, {"output": ""})
            state.update(item=item)
            if isinstance(item.get("aggregatedOutput"), str):
                state["output"] = item["aggregatedOutput"]
            self._post_tool(key)

    def _output(self, item_id: str, delta: str) -> None:
        key = self._key("tool", item_id)
        state = self.tools.get(key)
        if state is None:
            return
        state["output"] = clip_tail(state["output"] + delta, MAX_TOOL_TEXT)
        now = asyncio.get_running_loop().time()
        if now - state.get("sent_at", 0.0) >= OUTPUT_EVERY:
            self._post_tool(key)

    def _post_tool(self, key: str) -> None:
        assert self.timeline is not None
        state = self.tools[key]
        state["sent_at"] = asyncio.get_running_loop().time()
        self.timeline.item(key, "tool", self._tool_data(state))

    def _tool_data(self, state: dict[str, Any]) -> dict[str, Any]:
        item = state["item"]
        status = TOOL_STATUS.get(str(item.get("status")), "pending")
        if item["type"] == "commandExecution":
            command = shown_command(need(item, "command"))
            text = state["output"]
            if isinstance(item.get("exitCode"), int):
                text = f"{text.rstrip(chr(10))}\nexit code {item['exitCode']}".lstrip("\n")
            if item.get("status") == "declined":
                text = "Declined."
            text = clip_tail(text, MAX_TOOL_TEXT)
            return {
                "title": clip(command, MAX_TITLE),
                "tool_kind": "execute",
                "status": status,
                "locations": [],
                "text": text,
                "diffs": [],
            }
        changes = [c for c in item["changes"] if isinstance(c, dict) and isinstance(c.get("path"), str)]
        paths = [display_path(self.root, c["path"]) for c in changes]
        kinds = {need_text(c, "kind", "type") for c in changes}
        return {
            "title": clip(("Delete " if kinds == {"delete"} else "Edit ") + ", ".join(paths), MAX_TITLE),
            "tool_kind": "delete" if kinds == {"delete"} else "edit",
            "status": status,
            "locations": [clip(p, MAX_LOCATION) for p in paths],
            "text": "Declined." if item.get("status") == "declined" else "",
            "diffs": [
                {"path": clip(p, MAX_LOCATION), "diff": change_diff(p, c)}
                for p, c in zip(paths, changes, strict=True)
            ],
        }

    def _plan(self, plan: list[Any]) -> None:
        assert self.timeline is not None
        entries = [
            {
                "content": clip(need(step, "step"), MAX_PLAN_CONTENT),
                "status": PLAN_STATUS.get(str(step.get("status")), "pending"),
                "priority": "medium",
            }
            for step in plan[:MAX_PLAN_ENTRIES]
        ]
        self.timeline.item("plan", "plan", {"entries": entries})

    async def _asked(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A request from codex: an approval for the phone; anything else is refused."""
        if method not in APPROVALS:
            raise Refuse(METHOD_NOT_FOUND, f"codexhub does not handle {method[:64]}")
        assert self.permissions is not None and self.timeline is not None
        item_id = params.get("itemId")
        known = self.tools.get(self._key("tool", item_id)) if isinstance(item_id, str) else None
        if method == APPROVALS[0]:
            command = params.get("command") if isinstance(params.get("command"), str) else None
            title = f"Run {shown_command(command)}" if command else "Run a command"
            summary = {"title": clip(title, MAX_TITLE), "tool_kind": "execute", "locations": [], "diffs": []}
        elif known is not None:
            data = self._tool_data(known)
            summary = {key: data[key] for key in ("title", "tool_kind", "locations", "diffs")}
        else:
            summary = {"title": "Edit files", "tool_kind": "edit", "locations": [], "diffs": []}
        reason = params.get("reason")
        if isinstance(reason, str) and reason:
            summary["title"] = clip(f"{summary['title']} ({reason})", MAX_TITLE)
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


def change_diff(path: str, change: dict[str, Any]) -> str:
    """A unified diff of one of codex's changes: an update's hunks get their headers, an added or
    deleted file's text (what codex sends for those) becomes its diff."""
    text, kind = str(change.get("diff") or ""), need_text(change, "kind", "type")
    if kind == "add":
        return unified_diff(path, "", text)
    if kind == "delete":
        return unified_diff(path, text, "")
    if text.startswith("@@"):
        return f"--- a/{path}\n+++ b/{path}\n{text}"
    return text


def need_text(data: Any, *path: str) -> str:
    """data[path...] if it is a string, else ""."""
    value = data
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""
