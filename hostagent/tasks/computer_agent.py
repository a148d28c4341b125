"""A computer task a model drives (docs/protocol.md, "Computer tasks: the agent loop").

A `computer` executor with `model` (and `base_url`) in agent.toml takes a goal in words, the
task's prompt, instead of steps. The agent sends the model the goal and a screenshot
(computer_model), runs each action the model asks for with the step runner's own functions
(computer.perform: the same checks of shape and screen, the same input), and answers with the
screenshot after it, until the model answers without an action (its message ends the task,
succeeded) or `max_actions` actions were asked for (failed: the action budget is spent).

Each action is a timeline item (`action:<n>`, a `computer` tool item: what the model wanted,
`click 120,45`, and the screenshot after it, uploaded as `action-<n>.png`); the model's words
are `agent` items. An action asks the phone first (`task.permission`, answered by
`task.answer`, with the executor's permission_timeout and on_permission_timeout) when:
its kind is not among the executor's `actions`; it reaches a window not on allowed_titles /
allowed_classes; or it is the first action on an application (a window class) in this task,
unless allowed_classes names that class. Denied, the action is not done and the model is told
so (a computer_call_output with the screen as it is, then a note) and goes on. The model's
pending safety checks ask the phone too: allowed, they are acknowledged; refused, the task ends.

What the model answers is hostile input: an action that cannot be a step (an unknown type, 1 MB
to type, coordinates off the screen, malformed JSON, an HTTP error) fails the task saying which,
before any input. Cancel stops input at once, as for steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from acp.schema import PermissionOption

from hostagent.tasks.acp_client import Permissions
from hostagent.tasks.acp_timeline import Send, Timeline, clip
from hostagent.tasks.browser import Upload, UploadError
from hostagent.tasks.computer import (
    CLOSE_TIMEOUT,
    Context,
    StepFailed,
    WindowList,
    display_of,
    outside_error,
    perform,
)
from hostagent.tasks.computer_live import LiveView
from hostagent.tasks.computer_model import (
    Call,
    ModelError,
    SafetyCheck,
    ask,
    call_output,
    denied_note,
    first_input,
    step_of,
)
from hostagent.tasks.desktop import DesktopError, Shot, Window, desktop_for, screen_name
from hostagent.tasks.executors import Executor, RunResult, seconds
from hostagent.tasks.output import TaskLog
from protocol.limits import MAX_AGENT_TEXT, MAX_TITLE, MAX_TOOL_TEXT

log = logging.getLogger("hostagent.tasks.computer")

ALLOW = [
    PermissionOption(option_id="allow", name="Allow", kind="allow_once"),
    PermissionOption(option_id="deny", name="Deny", kind="reject_once"),
]
SAFETY = [
    PermissionOption(option_id="allow", name="Go ahead", kind="allow_once"),
    PermissionOption(option_id="deny", name="Stop the task", kind="reject_once"),
]
POINTER = ("move", "click", "drag", "scroll")
KEYBOARD = ("type", "key")


class _Over(Exception):
    """The loop ends; `result` says how."""

    def __init__(self, result: RunResult):
        super().__init__(result.error or result.outcome)
        self.result = result


def action_label(step: dict[str, Any]) -> str:
    """`click 120,45`, `type "milk"`, `key ctrl+s`: what the model wanted, in a line."""
    from protocol.computer import step_subject

    subject = step_subject(step)
    return f"{step['action']} {subject}" if subject else step["action"]


class ComputerAgent:
    """One task: the goal, the loop, and what the hub sends it (answers; cancel, end, interrupt
    all stop it)."""

    def __init__(
        self,
        executor: Executor,
        task_id: int,
        goal: str,
        send: Send,
        cancel: asyncio.Event,
        upload: Upload,
        display_lock: asyncio.Lock,
    ):
        """`display_lock`: held while the loop runs, so two tasks never drive one display at once."""
        self.executor = executor
        self.task_id = task_id
        self.goal = goal
        self.send = send
        self.cancel = cancel
        self.upload = upload
        self.display_lock = display_lock
        self.desktop = desktop_for(display_of(executor), executor.input, executor.monitor)
        self.windows = WindowList(executor.allowed_titles, executor.allowed_classes)
        self.named = {name.lower() for name in executor.allowed_classes}
        self.seen: set[str] = set()  # the applications (window classes) acted on in this task
        self.stop = asyncio.Event()
        self.interrupted: str | None = None
        self.timeline: Timeline | None = None
        self.permissions: Permissions | None = None
        self.actions = 0
        self.live: LiveView | None = None  # the screen to whoever watches while the loop runs

    # From the hub ------------------------------------------------------------------------

    def message(self, message_id: int, text: str) -> None:
        log.info("task %d: a model-driven computer task takes no messages", self.task_id)

    def answer(self, request_id: str, option_id: str) -> None:
        if self.permissions is None or not self.permissions.answer(request_id, option_id):
            log.info("task %d: ignoring an answer to %r", self.task_id, request_id[:64])

    async def interrupt(self) -> None:
        self.cancel.set()

    def end(self) -> None:
        self.cancel.set()

    # The task ----------------------------------------------------------------------------

    async def run(self, root: str, task_log: TaskLog) -> RunResult:
        """The loop, to its end (`root`: unused, the desktop is no project's)."""
        self.timeline = Timeline(self.task_id, "", self.send)
        self.permissions = Permissions(self.executor, self.timeline)
        runner = asyncio.create_task(self._locked(task_log, self.display_lock))
        cancelled = asyncio.create_task(self.cancel.wait())
        try:
            await asyncio.wait(
                {runner, cancelled}, timeout=self.executor.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if runner.done():
                return runner.result()
            if cancelled.done():
                self._halt("cancelled")
                result = RunResult("cancelled")
            else:
                limit = f"timed out after {seconds(self.executor.timeout)} s"
                self._halt(f"the task {limit}")
                result = RunResult("failed", error=limit)
            self.permissions.cancel_all()
            with contextlib.suppress(TimeoutError):  # typing stops within one piece
                await asyncio.wait_for(asyncio.shield(runner), CLOSE_TIMEOUT)
            return result
        finally:
            cancelled.cancel()
            if not runner.done():
                runner.cancel()  # a request to the model or a permission request still open
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
            self.permissions.cancel_all()
            await self.desktop.close()
            await task_log.flush(final=True)
            await self.timeline.close()

    def _halt(self, why: str) -> None:
        self.interrupted = why
        self.stop.set()

    async def _locked(self, task_log: TaskLog, display_lock: asyncio.Lock) -> RunResult:
        if display_lock.locked():
            await task_log.note(f"waiting for {screen_name(self.desktop.display)}: another task uses it\n")
        async with display_lock:
            try:
                return await self._loop(task_log)
            except _Over as over:
                if over.result.error:
                    await task_log.note(f"{over.result.error}\n")
                return over.result
            except (ModelError, DesktopError, StepFailed) as exc:
                await task_log.note(f"{exc}\n")
                assert self.timeline is not None
                self.timeline.notice(str(exc), "error")
                return RunResult("failed", error=str(exc))

    async def _loop(self, task_log: TaskLog) -> RunResult:
        assert self.timeline is not None
        self.timeline.user(self.goal, None)
        await self.desktop.open()
        screen = (self.desktop.width, self.desktop.height)
        name = screen_name(self.desktop.display)
        await task_log.note(
            f"{name} ({screen[0]}x{screen[1]}) ready; model {self.executor.model} "
            f"at {self.executor.base_url} drives it, at most {self.executor.max_actions} actions\n"
        )
        showing = self.live.showing(self.stop) if self.live else contextlib.nullcontext()
        async with showing:
            return await self._converse(screen, task_log)

    async def _converse(self, screen: tuple[int, int], task_log: TaskLog) -> RunResult:
        assert self.timeline is not None
        items = first_input(self.goal, (await self.desktop.screenshot()).png)
        previous: str | None = None
        while True:
            answer = await ask(self.executor, screen, items, previous)
            previous = answer.id
            for kind, texts in (("thought", answer.thoughts), ("agent", answer.messages)):
                for text in texts:
                    self.timeline.counts[kind] += 1
                    self.timeline.item(
                        f"{kind}:{self.timeline.counts[kind]}", kind, {"text": clip(text, MAX_AGENT_TEXT)}
                    )
            if not answer.calls:
                await task_log.note(f"the model finished after {self.actions} actions\n")
                return RunResult("succeeded")
            items = []
            for call in answer.calls:
                items.extend(await self._act(call, task_log))

    async def _act(self, call: Call, task_log: TaskLog) -> list[dict[str, Any]]:
        """Run one computer_call; what goes back to the model. Raises _Over, ModelError."""
        assert self.timeline is not None
        if self.actions >= self.executor.max_actions:
            spent = f"the action budget ({self.executor.max_actions}) is spent"
            self.timeline.notice(f"The model asked for more: {spent}.", "error")
            raise _Over(RunResult("failed", error=spent))
        self.actions += 1
        n = self.actions
        try:
            step = self._checked(step_of(call.action))
        except ModelError as exc:
            raise ModelError(f"action {n}: {exc}") from None
        label = action_label(step)
        key = f"action:{n}"
        self._item(key, label, "in_progress")
        acknowledged = await self._safety(n, label, call.safety_checks)
        reasons = await self._reasons(step)
        if reasons and not await self._allowed(f"{label}: {'; '.join(reasons)}", ALLOW):
            await task_log.note(f"action {n} ({label}): denied ({'; '.join(reasons)})\n")
            self._item(key, label, "failed", "Denied: not done.")
            shot = await self.desktop.screenshot()
            return [call_output(call, shot.png, acknowledged), denied_note("; ".join(reasons))]
        shot = await self._perform(n, step, label, task_log)
        artifact, note = await self._keep(n, shot)
        self._item(key, label, "completed", note, artifact)
        return [call_output(call, shot.png, acknowledged)]

    def _checked(self, step: dict[str, Any]) -> dict[str, Any]:
        """The step, as the phone's steps are checked (shape, limits, keys, the screen)."""
        from protocol.computer import step_error

        error = step_error(0, step)
        if error is not None:
            raise ModelError(error.split(": ", 1)[-1])
        outside = outside_error([step], self.desktop.width, self.desktop.height)
        if outside is not None:
            raise ModelError(outside.split(": ", 1)[-1])
        if step["action"] == "key":  # as people write them: ctrl+shift+t, not CTRL+SHIFT+T
            from protocol.keys import parse_keys

            step["keys"] = "+".join(parse_keys(step["keys"]))
        return step

    async def _targets(self, step: dict[str, Any]) -> list[Window | None]:
        """The windows the step's input reaches: under the pointer, or the one with the keyboard."""
        action = step["action"]
        if action in POINTER:
            points = [(step["x"], step["y"])]
            if action == "drag":
                points.append((step["to_x"], step["to_y"]))
            return [await self.desktop.window_at(x, y) for x, y in points]
        if action in KEYBOARD:
            return [await self.desktop.focused()]
        return []

    async def _reasons(self, step: dict[str, Any]) -> list[str]:
        """Why the step asks the phone first: none, or each of its reasons."""
        reasons = []
        action = step["action"]
        if action not in self.executor.actions:
            reasons.append(f"{action} is not among this host's actions ({', '.join(self.executor.actions)})")
        targets = await self._targets(step)
        for window in targets:
            if not self.windows.allows(window):
                what = window.describe() if window else "the desktop (no window)"
                reasons.append(f"{what} is not on this host's allowed windows")
        for window in targets:
            app = _app(window)
            if app and app not in self.seen and app not in self.named:
                assert window is not None
                reasons.append(f"the first action on {window.describe()} in this task")
                break
        return list(dict.fromkeys(reasons))

    async def _safety(self, n: int, label: str, checks: list[SafetyCheck]) -> list[SafetyCheck]:
        """Each safety check the model raised, asked on the phone; all allowed, they are
        acknowledged. Raises _Over when one is refused."""
        for check in checks:
            said = check.message or check.code or "a safety check"
            if not await self._allowed(f"{label}: the model's safety check: {said}", SAFETY):
                refused = f"action {n} ({label}): the model's safety check was refused ({check.code or said})"
                self._item(f"action:{n}", label, "failed", "Refused: not done.")
                raise _Over(RunResult("failed", error=refused[:200]))
        return checks

    async def _allowed(self, title: str, options: list[PermissionOption]) -> bool:
        assert self.permissions is not None
        summary = {"title": clip(title, MAX_TITLE), "tool_kind": "computer", "locations": [], "diffs": []}
        return await self.permissions.choose(summary, options) == "allow"

    async def _perform(self, n: int, step: dict[str, Any], label: str, task_log: TaskLog) -> Shot:
        """The input (the window list is already answered for), then the screenshot after it."""
        timeout = float(self.executor.step_timeout)
        ctx = Context(self.desktop, WindowList(), timeout, lambda: self.interrupted is not None, self.stop)
        try:
            outcome = await perform(ctx, step)
        except (StepFailed, DesktopError) as exc:
            self._item(f"action:{n}", label, "failed", str(exc))
            raise StepFailed(f"action {n} ({label}): {exc}") from None
        if self.interrupted:
            raise _Over(RunResult("failed", error=self.interrupted))
        self.seen.update(app for app in map(_app, await self._targets_after(step)) if app)
        await task_log.note(f"action {n} ({label}): done\n")
        return outcome.shot

    async def _targets_after(self, step: dict[str, Any]) -> list[Window | None]:
        with contextlib.suppress(DesktopError):
            return await self._targets(step)
        return []

    async def _keep(self, n: int, shot: Shot) -> tuple[str | None, str]:
        """Upload the screenshot as `action-<n>.png`: its name, or None and why not."""
        limit = self.executor.screenshot_max_bytes
        if len(shot.png) > limit:
            return None, f"The screenshot is {len(shot.png)} bytes, over screenshot_max_bytes ({limit})."
        name = f"action-{n}.png"
        try:
            await self.upload(name, shot.png, "image/png")
        except UploadError as exc:
            return None, f"The screenshot could not go to the hub: {exc}"
        return name, ""

    def _item(self, key: str, label: str, status: str, text: str = "", artifact: str | None = None) -> None:
        assert self.timeline is not None
        data = {"title": clip(label, MAX_TITLE), "tool_kind": "computer", "status": status, "text": ""}
        data["text"] = clip(text, MAX_TOOL_TEXT)
        if artifact is not None:
            data["artifact"] = artifact
        self.timeline.item(key, "tool", data)


def _app(window: Window | None) -> str:
    """The application a window belongs to: its WM_CLASS class name, lower-case ("" for none)."""
    return window.classes[-1].lower() if window is not None and window.classes else ""
