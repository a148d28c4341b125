"""Input through pynput: the only backend on macOS (Quartz events), and on X11 an alternative to
xdotool (XTest) with `input = "pynput"` in the executor. The windows come from the platform's own
list: python-xlib on X11 (desktop_x11.X11Windows), Quartz on macOS (desktop_mac.MacWindows).

pynput blocks, so each input runs in a worker thread, one at a time. A thread cannot be killed:
an input that overruns its step's time is reported as failed and the modifiers are let go.
Typing goes in short pieces, asking `stopped()` before each, so a Stop halts input within one
piece. On X11, pynput reads $DISPLAY when it is imported (once) and when a task's controllers
are made: each under a lock, with $DISPLAY set to the executor's display for that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hostagent.tasks.desktop import MACOS, DesktopError, Shot, Window, type_in_pieces

SCROLL_GAP = 0.03  # seconds between notches, as xdotool's click --delay 30
DRAG_GAP = 0.03  # between the moves of a drag: a program sees the pointer travel
MODIFIERS = ("ctrl", "shift", "alt", "super")
# pynput's Key names for protocol/keys.py's names that differ; the rest are the same word.
KEY_NAMES = {
    "super": "cmd",
    "escape": "esc",
    "pageup": "page_up",
    "pagedown": "page_down",
    "capslock": "caps_lock",
    "printscreen": "print_screen",
}
SCROLLS = {"up": (0, 1), "down": (0, -1), "left": (-1, 0), "right": (1, 0)}

_environ_lock = threading.Lock()


@contextlib.contextmanager
def _display_env(display: str) -> Iterator[None]:
    """$DISPLAY set to `display` for the moment pynput reads it (X11 only)."""
    if MACOS:
        yield
        return
    with _environ_lock:
        before = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = display
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = before


def pynput_key(name: str) -> Any:
    """pynput's key for one of protocol/keys.py's canonical names. Raises DesktopError for a key
    this platform's pynput lacks (f21-f24 everywhere; insert, menu and printscreen on macOS)."""
    from pynput.keyboard import Key, KeyCode

    from protocol.keys import PUNCTUATION

    if name in PUNCTUATION:
        return KeyCode.from_char(PUNCTUATION[name])
    if len(name) == 1:
        return KeyCode.from_char(name)
    key = getattr(Key, KEY_NAMES.get(name, name), None)
    if key is None:
        raise DesktopError(f"the key {name} cannot be pressed through pynput on this computer")
    return key


class _Controllers:
    """pynput's mouse and keyboard for one display, made in a worker thread."""

    def __init__(self, display: str) -> None:
        with _display_env(display):
            try:
                from pynput import keyboard, mouse
            except ImportError as exc:  # not installed, or no X connection when it loaded
                raise DesktopError(f"pynput cannot drive this display: {exc}") from None
            self.mouse = mouse.Controller()
            self.keyboard = keyboard.Controller()
        self.buttons = {"left": mouse.Button.left, "middle": mouse.Button.middle, "right": mouse.Button.right}


class PynputDesktop:
    """A display whose input goes through pynput; its windows through the platform's list."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.width = 0
        self.height = 0
        self.source: Any = _window_source(display)
        self._input: _Controllers | None = None
        self._lock = asyncio.Lock()  # one input at a time

    async def open(self) -> None:
        if sys.platform == "win32":
            raise DesktopError("the computer executor drives X11 displays and macOS, not Windows")
        self.width, self.height = await self.source.open()
        try:
            self._input = await asyncio.to_thread(_Controllers, self.display)
        except DesktopError:
            await self.source.close()
            raise

    async def close(self) -> None:
        self._input = None  # pynput's controllers close their X connections when collected
        await self.source.close()

    async def screenshot(self) -> Shot:
        shot: Shot = await self.source.screenshot()
        return shot

    async def windows(self) -> list[Window]:
        found: list[Window] = await self.source.windows()
        return found

    async def window_at(self, x: int, y: int) -> Window | None:
        found: Window | None = await self.source.window_at(x, y)
        return found

    async def pointer(self) -> tuple[int, int]:
        position: tuple[int, int] = await self.source.pointer()
        return position

    async def focused(self) -> Window | None:
        found: Window | None = await self.source.focused()
        return found

    async def focus(self, window: Window, timeout: float) -> None:
        await asyncio.wait_for(self.source.raise_and_focus(window), timeout)

    # Input ----------------------------------------------------------------------------

    async def move(self, x: int, y: int, timeout: float) -> None:
        await self._do(timeout, _move, x, y)

    async def click(self, x: int, y: int, button: str, count: int, timeout: float) -> None:
        await self._do(timeout, _click, x, y, button, count)

    async def type(self, text: str, timeout: float, stopped: Callable[[], bool]) -> None:
        await self.source.keyboard_to_pointer()
        await type_in_pieces(text, timeout, stopped, lambda piece, left: self._do(left, _type, piece))

    async def key(self, names: Sequence[str], timeout: float) -> None:
        keys = [pynput_key(name) for name in names]
        await self.source.keyboard_to_pointer()
        await self._do(timeout, _press_together, keys)

    async def scroll(self, direction: str, amount: int, at: tuple[int, int] | None, timeout: float) -> None:
        await self._do(timeout, _scroll, direction, amount, at)

    async def drag(self, start: tuple[int, int], end: tuple[int, int], button: str, timeout: float) -> None:
        await self._do(timeout, _drag, start, end, button)

    async def _do(self, timeout: float, action: Callable[..., None], *args: Any) -> None:
        """Run `action(controllers, *args)` in a worker thread within `timeout`; on overrun or a
        cancel, let go of the modifiers (the thread may still be finishing its piece)."""
        if self._input is None:
            raise DesktopError("the display is closed")
        controllers = self._input
        async with self._lock:
            try:
                await asyncio.wait_for(asyncio.to_thread(action, controllers, *args), timeout)
            except (TimeoutError, asyncio.CancelledError) as exc:
                await asyncio.to_thread(_release_modifiers, controllers)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                what = action.__name__.strip("_")
                raise DesktopError(f"pynput did not finish {what} in {timeout:g} s") from None
            except DesktopError:
                raise
            except Exception as exc:  # the X server or macOS said no
                raise DesktopError(f"pynput failed: {type(exc).__name__}: {exc}") from None


def _window_source(display: str) -> Any:
    if MACOS:
        from hostagent.tasks.desktop_mac import MacWindows

        return MacWindows(display)
    from hostagent.tasks.desktop_x11 import X11Windows

    return X11Windows(display)


# In a worker thread ----------------------------------------------------------------------


def _move(c: _Controllers, x: int, y: int) -> None:
    c.mouse.position = (x, y)


def _click(c: _Controllers, x: int, y: int, button: str, count: int) -> None:
    c.mouse.position = (x, y)
    c.mouse.click(c.buttons[button], count)


def _type(c: _Controllers, text: str) -> None:
    c.keyboard.type(text)


def _press_together(c: _Controllers, keys: list[Any]) -> None:
    pressed: list[Any] = []
    try:
        for key in keys:
            c.keyboard.press(key)
            pressed.append(key)
    finally:
        for key in reversed(pressed):
            c.keyboard.release(key)


def _scroll(c: _Controllers, direction: str, amount: int, at: tuple[int, int] | None) -> None:
    if at is not None:
        c.mouse.position = at
    dx, dy = SCROLLS[direction]
    for notch in range(amount):
        if notch:
            time.sleep(SCROLL_GAP)
        c.mouse.scroll(dx, dy)


def _drag(c: _Controllers, start: tuple[int, int], end: tuple[int, int], button: str) -> None:
    c.mouse.position = start
    c.mouse.press(c.buttons[button])
    try:
        # Through the middle first: many programs start a drag only once the pointer moved.
        for point in (((start[0] + end[0]) // 2, (start[1] + end[1]) // 2), end):
            time.sleep(DRAG_GAP)
            c.mouse.position = point
        time.sleep(DRAG_GAP)
    finally:
        c.mouse.release(c.buttons[button])


def _release_modifiers(c: _Controllers) -> None:
    from pynput.keyboard import Key

    for name in MODIFIERS:
        with contextlib.suppress(Exception):
            c.keyboard.release(getattr(Key, KEY_NAMES.get(name, name)))
