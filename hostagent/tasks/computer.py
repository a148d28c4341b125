"""The `computer` executor: a task's steps on the host's desktop (docs/protocol.md, "Computer tasks").

Off unless agent.toml has an executor of type "computer". Before any input the agent checks the
whole list: each step's shape (protocol/computer.py), the actions the executor allows, its
`max_actions`, and every coordinate against the screen; a list it refuses touches nothing.

Then each step runs through `perform`: one function per action (ACTIONS), each followed by a
screenshot, so that a model-driven loop or a live view can call the same functions. With
`allowed_titles` or `allowed_classes` the window an action would reach (under the pointer for
the mouse, the focused one for keys) must be on the list, else the step fails before its input.
The screenshot after each step goes to the hub (`step-<index>.png`); the first failed step ends
the task naming it and why. Cancel and the task's timeout stop input at once: the next input
never starts, the one in flight (a piece of typing) ends within about 0.2 s.

Each step's result also goes out as it happens (`on_step`: the service sends `task.step`), and
while the steps run a LiveView (computer_live) sends the screen to whoever watches; it stops
with the steps, and at once on a Stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hostagent.tasks.browser import Upload, UploadError
from hostagent.tasks.computer_live import LiveView
from hostagent.tasks.desktop import (
    MACOS,
    Desktop,
    DesktopError,
    Shot,
    Window,
    desktop_for,
    input_of,
    screen_name,
)
from hostagent.tasks.executors import Executor, RunResult, seconds
from hostagent.tasks.output import TaskLog
from protocol.limits import MAX_STEPS

log = logging.getLogger("hostagent.tasks.computer")

SETTLE = 0.15  # seconds after an input before the screenshot: the program draws what it did
WINDOW_POLL = 0.1
CLOSE_TIMEOUT = 5.0
MAX_REASON = 240


class StepFailed(Exception):
    """The step cannot go on; the message is the reason."""


def display_of(executor: Executor, environ: dict[str, str] | None = None) -> str:
    """The X11 display the executor drives: its own, else the agent's $DISPLAY ("" for none; on
    macOS always the main display, whatever XQuartz set $DISPLAY to)."""
    environ = dict(os.environ if environ is None else environ)
    if MACOS:
        return executor.display
    return executor.display or environ.get("DISPLAY", "")


def summary(executor: Executor) -> str:
    """What `python -m hostagent executors` says of it."""
    display = executor.display or (
        "the main display" if MACOS else f"$DISPLAY ({os.environ.get('DISPLAY') or 'not set'})"
    )
    if executor.monitor:
        display += f", monitor {executor.monitor}"
    windows = [f'"{title}"' for title in executor.allowed_titles] + [
        f"class {name}" for name in executor.allowed_classes
    ]
    said = (
        f"display {display}; input {input_of(executor.input)}; {', '.join(executor.actions)}; "
        f"windows: {', '.join(windows) if windows else 'any'}; at most {executor.max_actions} actions"
    )
    if executor.drives_itself:
        key = f"${executor.api_key_env}" if executor.api_key_env else "no key"
        said += f"; driven by model {executor.model} at {executor.base_url} ({key})"
    return said


def steps_error(executor: Executor, steps: object) -> str | None:
    """Why the agent will not run `steps` with `executor` (naming the first bad step), or None."""
    from protocol.computer import steps_error as shape_error  # pydantic: on the first computer task

    error = shape_error(steps, executor.actions)
    if error is None and isinstance(steps, list) and len(steps) > executor.max_actions:
        return f"this host allows at most {executor.max_actions} actions per task (this one has {len(steps)})"
    return error


def step_label(index: int, step: dict[str, Any]) -> str:
    """`step 3 (click 120,45)`, `step 1 (screenshot)`."""
    from protocol.computer import step_subject

    subject = step_subject(step)
    return (
        f"step {index + 1} ({step['action']} {subject})"
        if subject
        else f"step {index + 1} ({step['action']})"
    )


def outside_error(steps: list[dict[str, Any]], width: int, height: int) -> str | None:
    """The first coordinate of `steps` outside a screen of width x height, said as such."""
    for index, step in enumerate(steps):
        for name, limit in (("x", width), ("y", height), ("to_x", width), ("to_y", height)):
            value = step.get(name)
            if isinstance(value, int) and value >= limit:
                return (
                    f"{step_label(index, step)}: {name} {value} is outside the screen "
                    f"({width}x{height}; coordinates count from 0)"
                )
    return None


# The allow-list of windows ---------------------------------------------------------------


def _pattern(title: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in title.split("*")), re.DOTALL)


@dataclass(frozen=True)
class WindowList:
    """`allowed_titles` (whole titles, `*` any text) and `allowed_classes` (a WM_CLASS name,
    any case); both empty: every window."""

    titles: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return not self.titles and not self.classes

    def allows(self, window: Window | None) -> bool:
        if self.any:
            return True
        if window is None:
            return False
        if any(_pattern(title).fullmatch(window.title) for title in self.titles):
            return True
        names = {name.lower() for name in window.classes}
        return any(name.lower() in names for name in self.classes)


# The actions: one function each, the input only (perform adds the check and the screenshot) --


@dataclass
class Context:
    """What an action works with: the desktop, the window list, its time limit, and whether the
    task was stopped (checked before each piece of input)."""

    desktop: Desktop
    windows: WindowList
    timeout: float
    stopped: Callable[[], bool]
    stop: asyncio.Event


async def _guard_point(ctx: Context, x: int, y: int) -> None:
    if ctx.windows.any:
        return
    window = await ctx.desktop.window_at(x, y)
    if not ctx.windows.allows(window):
        what = (
            f"the window at {x},{y} ({window.describe()})"
            if window
            else f"the desktop at {x},{y} (no window)"
        )
        raise StepFailed(f"{what} is not on this host's allowed windows")


async def _guard_keys(ctx: Context) -> None:
    if ctx.windows.any:
        return
    window = await ctx.desktop.focused()
    if not ctx.windows.allows(window):
        what = f"the window with the keyboard ({window.describe()})" if window else "the desktop (no window)"
        raise StepFailed(f"{what} is not on this host's allowed windows")


async def do_screenshot(ctx: Context, step: dict[str, Any]) -> str | None:
    return None  # perform takes it


async def do_move(ctx: Context, step: dict[str, Any]) -> str | None:
    await _guard_point(ctx, step["x"], step["y"])
    await ctx.desktop.move(step["x"], step["y"], ctx.timeout)
    return None


async def do_click(ctx: Context, step: dict[str, Any]) -> str | None:
    await _guard_point(ctx, step["x"], step["y"])
    button, count = step.get("button", "left"), step.get("count", 1)
    await ctx.desktop.click(step["x"], step["y"], button, count, ctx.timeout)
    return None


async def do_type(ctx: Context, step: dict[str, Any]) -> str | None:
    await _guard_keys(ctx)
    await ctx.desktop.type(step["text"], ctx.timeout, ctx.stopped)
    return None


async def do_key(ctx: Context, step: dict[str, Any]) -> str | None:
    from protocol.keys import parse_keys

    await _guard_keys(ctx)
    await ctx.desktop.key(parse_keys(step["keys"]), ctx.timeout)
    return None


async def do_scroll(ctx: Context, step: dict[str, Any]) -> str | None:
    at = (step["x"], step["y"]) if "x" in step else None
    if at is not None:
        await _guard_point(ctx, *at)
    elif not ctx.windows.any:
        await _guard_point(ctx, *await ctx.desktop.pointer())
    await ctx.desktop.scroll(step["direction"], step.get("amount", 3), at, ctx.timeout)
    return None


async def do_drag(ctx: Context, step: dict[str, Any]) -> str | None:
    start, end = (step["x"], step["y"]), (step["to_x"], step["to_y"])
    await _guard_point(ctx, *start)
    await _guard_point(ctx, *end)
    await ctx.desktop.drag(start, end, step.get("button", "left"), ctx.timeout)
    return None


async def do_wait(ctx: Context, step: dict[str, Any]) -> str | None:
    if "seconds" in step:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stop.wait(), step["seconds"])
        return None
    window = await _await_window(ctx, step["title"], ctx.timeout)
    return f"window {window.describe()} is shown"


async def do_focus(ctx: Context, step: dict[str, Any]) -> str | None:
    window = await _find_window(ctx, step["title"])
    if not ctx.windows.allows(window):
        raise StepFailed(f"the window {window.describe()} is not on this host's allowed windows")
    await ctx.desktop.focus(window, ctx.timeout)
    return f"focused {window.describe()}"


async def _find_window(ctx: Context, title: str) -> Window:
    """The shown window titled `title`, else the only one whose title holds it."""
    windows = await ctx.desktop.windows()
    exact = [w for w in windows if w.title == title]
    if exact:
        return exact[-1]  # the topmost
    holding = [w for w in windows if title in w.title]
    if len(holding) == 1:
        return holding[0]
    if holding:
        titles = ", ".join(w.describe() for w in holding[:3])
        raise StepFailed(f'{len(holding)} windows\' titles hold "{title}" ({titles}): name one whole')
    raise StepFailed(f'no window titled "{title}" is shown')


async def _await_window(ctx: Context, title: str, timeout: float) -> Window:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        windows = await ctx.desktop.windows()
        found = [w for w in windows if title in w.title]
        if found:
            return found[-1]
        if loop.time() >= deadline or ctx.stopped():
            raise StepFailed(f'no window titled "{title}" after {seconds(timeout)} s')
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stop.wait(), WINDOW_POLL)


Action = Callable[[Context, dict[str, Any]], Awaitable[str | None]]
ACTIONS: dict[str, Action] = {
    "screenshot": do_screenshot,
    "move": do_move,
    "click": do_click,
    "type": do_type,
    "key": do_key,
    "scroll": do_scroll,
    "drag": do_drag,
    "wait": do_wait,
    "focus": do_focus,
}
INPUTS = ("move", "click", "type", "key", "scroll", "drag", "focus")  # a settle before the screenshot


@dataclass
class Outcome:
    text: str | None
    shot: Shot


async def perform(ctx: Context, step: dict[str, Any]) -> Outcome:
    """Run one checked step and take the screenshot after it. Raises StepFailed or DesktopError."""
    text = await ACTIONS[step["action"]](ctx, step)
    if step["action"] in INPUTS and not ctx.stopped():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stop.wait(), SETTLE)
    return Outcome(text, await ctx.desktop.screenshot())


# Running a task ----------------------------------------------------------------------------


async def run_computer(
    executor: Executor,
    steps: list[dict[str, Any]],
    task_log: TaskLog,
    cancel: asyncio.Event,
    upload: Upload,
    results: list[dict[str, Any]],
    *,
    display_lock: asyncio.Lock | None = None,
    live: LiveView | None = None,
    on_step: Callable[[dict[str, Any]], Awaitable[object]] | None = None,
) -> RunResult:
    """Run `steps` (checked by steps_error), appending one result per step that ran to `results`
    and passing each to `on_step` as it comes. `display_lock`: held while the steps run, so two
    tasks never type into one display at once; `live`: shows the screen meanwhile."""
    session = _Session(executor, task_log, upload, results)
    session.live, session.on_step = live, on_step
    runner = asyncio.create_task(session.run(steps, display_lock or asyncio.Lock()))
    cancelled = asyncio.create_task(cancel.wait())
    try:
        await asyncio.wait({runner, cancelled}, timeout=executor.timeout, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            return runner.result()
        if cancelled.done():
            session.halt("cancelled")
            result = RunResult("cancelled")
        else:
            limit = f"timed out after {seconds(executor.timeout)} s"
            session.halt(f"the task {limit}")
            result = RunResult("failed", error=limit)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(runner), CLOSE_TIMEOUT)
        return result
    finally:
        cancelled.cancel()
        if not runner.done():
            runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        await session.desktop.close()
        await task_log.flush(final=True)


class _Session:
    def __init__(self, executor: Executor, task_log: TaskLog, upload: Upload, results: list[dict[str, Any]]):
        self.executor = executor
        self.task_log = task_log
        self.upload = upload
        self.results = results
        self.desktop = desktop_for(display_of(executor), executor.input, executor.monitor)
        self.windows = WindowList(executor.allowed_titles, executor.allowed_classes)
        self.interrupted: str | None = None
        self.stop = asyncio.Event()
        self.live: LiveView | None = None
        self.on_step: Callable[[dict[str, Any]], Awaitable[object]] | None = None

    def halt(self, why: str) -> None:
        self.interrupted = why
        self.stop.set()

    async def run(self, steps: list[dict[str, Any]], display_lock: asyncio.Lock) -> RunResult:
        if display_lock.locked():
            await self.task_log.note(
                f"waiting for {screen_name(self.desktop.display)}: another task uses it\n"
            )
        async with display_lock:
            try:
                await self.desktop.open()
            except DesktopError as exc:
                await self.task_log.note(f"{exc}\n")
                return RunResult("failed", error=str(exc))
            error = outside_error(steps, self.desktop.width, self.desktop.height)
            if error is not None:
                await self.task_log.note(f"{error}\n")
                return RunResult("failed", error=error)
            await self.task_log.note(
                f"{screen_name(self.desktop.display)} ({self.desktop.width}x{self.desktop.height}) ready\n"
            )
            showing = self.live.showing(self.stop) if self.live else contextlib.nullcontext()
            async with showing:
                return await self._steps(steps)

    async def _steps(self, steps: list[dict[str, Any]]) -> RunResult:
        for index, step in enumerate(steps):
            if self.interrupted:
                return RunResult("failed", error=self.interrupted)
            result = await self._step(index, step)
            self.results.append(result)
            if self.on_step is not None:
                await self.on_step(dict(result))
            if not result["ok"]:
                return RunResult("failed", error=result["error"])
        return RunResult("succeeded")

    async def _step(self, index: int, step: dict[str, Any]) -> dict[str, Any]:
        timeout = float(step.get("timeout", self.executor.step_timeout))
        ctx = Context(self.desktop, self.windows, timeout, lambda: self.interrupted is not None, self.stop)
        result: dict[str, Any] = {
            "index": index,
            "action": step["action"],
            "ok": True,
            "error": "",
            "text": None,
        }
        result["artifact"] = None
        reason: str | None = None
        shot: Shot | None = None
        try:
            outcome = await perform(ctx, step)
            result["text"], shot = outcome.text, outcome.shot
        except (StepFailed, DesktopError) as exc:
            reason = str(exc)
        if self.interrupted:
            reason = self.interrupted
        if shot is None and reason is not None and not self.interrupted:
            with contextlib.suppress(DesktopError):  # what the screen showed when it failed
                shot = await self.desktop.screenshot()
        notes = []
        if shot is not None:
            try:
                result["artifact"] = await self._keep(index, shot)
            except StepFailed as exc:  # an explicit screenshot that cannot be kept fails
                if step["action"] == "screenshot" or "upload" in str(exc):
                    reason = reason or str(exc)
                notes.append(str(exc))
        line = f"{step_label(index, step)}"
        if reason is not None:
            result["ok"] = False
            short = reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"
            result["error"] = f"{line}: {short}"
            result["text"] = None
            await self.task_log.note(f"{line}: failed: {reason}\n")
        else:
            extra = f" ({'; '.join(notes)})" if notes else ""
            await self.task_log.note(f"{line}: ok{extra}\n")
        return result

    async def _keep(self, index: int, shot: Shot) -> str:
        """Upload the screenshot as `step-<index>.png`, its name. Raises StepFailed saying why not:
        over screenshot_max_bytes (the step still counts, unless it was a screenshot) or the
        upload failed (the step fails: the phone could not see what it did)."""
        limit = self.executor.screenshot_max_bytes
        if len(shot.png) > limit:
            raise StepFailed(f"the screenshot is {len(shot.png)} bytes, over screenshot_max_bytes ({limit})")
        name = f"step-{index}.png"
        try:
            await self.upload(name, shot.png, "image/png")
        except UploadError as exc:
            raise StepFailed(f"cannot upload {name} to the hub: {exc}") from None
        return name


__all__ = ["ACTIONS", "MAX_STEPS", "Context", "Outcome", "perform", "run_computer", "steps_error"]
