"""The desktop a computer task acts on, whichever the platform: what every backend offers
(`Desktop`), and `desktop_for`, which picks one for an executor.

- On Linux, an X11 display: screenshots through mss, windows through python-xlib, and input
  through xdotool (desktop_x11, the default) or pynput (`input = "pynput"`, desktop_pynput).
- On macOS, the main display: screenshots through mss, input through pynput, windows through
  Quartz (desktop_mac). Coordinates are points, the same as mss's screenshots at their nominal
  resolution, so a Retina screen needs no scaling.

No X protocol or Quartz event of our own: input always goes through one of those libraries.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MACOS = sys.platform == "darwin"
INPUTS = ("xdotool", "pynput")
TYPE_PIECE = 16  # characters per input: how long a Stop may wait for the piece in flight
Point = tuple[int, int]


class DesktopError(Exception):
    """The display cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class Shot:
    """A screenshot of the whole screen as PNG; its pixels are the coordinates steps use."""

    png: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Window:
    id: int
    title: str
    classes: tuple[str, ...]  # X11: WM_CLASS (the instance and the class name); macOS: the application

    def describe(self) -> str:
        title = self.title if len(self.title) <= 60 else self.title[:59] + "…"
        kind = f", class {self.classes[-1]}" if self.classes else ""
        return f'"{title}"{kind}' if title else f"window {self.id:#x}{kind}"


class Desktop(Protocol):
    """What a computer task does on a screen. `open` connects (raising DesktopError) and sets
    width and height; every other call raises DesktopError in words a person can act on."""

    display: str
    width: int
    height: int

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def screenshot(self) -> Shot: ...
    async def windows(self) -> list[Window]: ...  # shown, bottom to top
    async def window_at(self, x: int, y: int) -> Window | None: ...
    async def pointer(self) -> tuple[int, int]: ...
    async def focused(self) -> Window | None: ...  # the window keys go to
    async def move(self, x: int, y: int, timeout: float) -> None: ...
    async def click(self, x: int, y: int, button: str, count: int, timeout: float) -> None: ...
    async def type(self, text: str, timeout: float, stopped: Callable[[], bool]) -> None: ...
    async def key(self, names: Sequence[str], timeout: float) -> None: ...
    async def scroll(self, direction: str, amount: int, at: Point | None, timeout: float) -> None: ...
    async def drag(self, start: Point, end: Point, button: str, timeout: float) -> None: ...
    async def focus(self, window: Window, timeout: float) -> None: ...


async def type_in_pieces(
    text: str, timeout: float, stopped: Callable[[], bool], send: Callable[[str, float], Awaitable[None]]
) -> None:
    """Type `text` through `send(piece, seconds left)` in pieces of TYPE_PIECE characters, asking
    `stopped()` before each: a Stop halts typing within one piece."""
    deadline = asyncio.get_running_loop().time() + timeout
    for start in range(0, len(text), TYPE_PIECE):
        if stopped():
            return
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise DesktopError(f"typing took longer than {timeout:g} s")
        await send(text[start : start + TYPE_PIECE], left)


def screen_name(display: str) -> str:
    """How a task's log names the screen: `display :5`, or macOS's `the main display`."""
    return f"display {display}" if display else "the main display"


def input_of(chosen: str | None) -> str:
    """The input backend: the executor's `input`, else xdotool on Linux and pynput on macOS."""
    return chosen or ("pynput" if MACOS else "xdotool")


def desktop_for(display: str, chosen_input: str | None = None) -> Desktop:
    """The desktop a computer executor drives (`display`: X11's; none on macOS). A platform or
    input it cannot drive says so when it opens."""
    if input_of(chosen_input) == "pynput":
        from hostagent.tasks.desktop_pynput import PynputDesktop

        return PynputDesktop(display)
    from hostagent.tasks.desktop_x11 import X11Desktop

    return X11Desktop(display)


def open_screen(display: str) -> Any:
    """An mss connection to the screen (`display`: X11's; macOS has one screen)."""
    import mss

    return mss.MSS() if MACOS else mss.MSS(display=display)


def whole_screen(screen: Any) -> dict[str, int]:
    """The region steps' coordinates cover: X11's root window (every monitor), macOS's main
    display (CGEvent's points start at its top left)."""
    monitor: dict[str, int] = screen.monitors[1] if MACOS else screen.monitors[0]
    return monitor


def grab(display: str) -> Shot:
    """A screenshot as PNG (in a worker thread: mss blocks)."""
    import mss.tools

    try:
        with open_screen(display) as screen:
            image = screen.grab(whole_screen(screen))
            png = mss.tools.to_png(image.rgb, image.size)
    except Exception as exc:  # mss raises ScreenShotError, or its X or Quartz calls fail
        raise DesktopError(f"cannot take a screenshot of {display or 'the screen'}: {exc}") from None
    assert png is not None
    return Shot(png, image.size.width, image.size.height)
