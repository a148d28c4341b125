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
PRIMARY = "primary"  # `monitor`: whichever monitor X11 calls its primary one
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


def desktop_for(display: str, chosen_input: str | None = None, monitor: str | None = None) -> Desktop:
    """The desktop a computer executor drives (`display`: X11's; none on macOS), all of its
    monitors or the one named. A platform or input it cannot drive says so when it opens."""
    desktop: Desktop
    if input_of(chosen_input) == "pynput":
        from hostagent.tasks.desktop_pynput import PynputDesktop

        desktop = PynputDesktop(display)
    else:
        from hostagent.tasks.desktop_x11 import X11Desktop

        desktop = X11Desktop(display)
    return OnMonitor(desktop, monitor) if monitor else desktop


def open_screen(display: str) -> Any:
    """An mss connection to the screen (`display`: X11's; macOS has one screen)."""
    import mss

    return mss.MSS() if MACOS else mss.MSS(display=display)


def screen_region(screen: Any, monitor: str | None = None) -> dict[str, int]:
    """The region steps' coordinates cover, on an open mss `screen`: with `monitor` (X11: an
    output's name such as "HDMI-1", or "primary") that monitor; else X11's root window (every
    monitor) or macOS's main display (CGEvent's points start at its top left). Raises
    DesktopError naming the monitors there are."""
    if not monitor:
        whole: dict[str, int] = screen.monitors[1] if MACOS else screen.monitors[0]
        return whole
    if MACOS:
        raise DesktopError(
            "monitor is for X11 displays: on macOS the computer executor drives the main display"
        )
    for found in screen.monitors[1:]:
        if found.get("output") == monitor or (monitor == PRIMARY and found.get("is_primary")):
            return {key: found[key] for key in ("left", "top", "width", "height")}
    names = [str(found.get("output")) for found in screen.monitors[1:] if found.get("output")]
    there = f"its monitors are {', '.join(names)}" if names else "it reports no monitors"
    raise DesktopError(
        f'the display has no monitor "{monitor}": {there} (set monitor to one, or leave it out)'
    )


def grab(display: str, monitor: str | None = None) -> Shot:
    """A screenshot as PNG (in a worker thread: mss blocks)."""
    import mss.tools

    try:
        with open_screen(display) as screen:
            image = screen.grab(screen_region(screen, monitor))
            png = mss.tools.to_png(image.rgb, image.size)
    except DesktopError:
        raise
    except Exception as exc:  # mss raises ScreenShotError, or its X or Quartz calls fail
        raise DesktopError(f"cannot take a screenshot of {display or 'the screen'}: {exc}") from None
    assert png is not None
    return Shot(png, image.size.width, image.size.height)


class OnMonitor:
    """One monitor of a desktop: steps' coordinates count from its top left corner and stop at
    its edges, and its screenshots show it alone (a phone sees one screen, not a strip of two).
    Everything else is the desktop's own."""

    def __init__(self, desktop: Desktop, monitor: str) -> None:
        self.desktop = desktop
        self.monitor = monitor
        self.display = desktop.display
        self.width = self.height = self.left = self.top = 0

    async def open(self) -> None:
        await self.desktop.open()
        try:
            region = await asyncio.to_thread(_region_of, self.display, self.monitor)
        except DesktopError:
            await self.desktop.close()
            raise
        self.left, self.top, self.width, self.height = (
            region["left"],
            region["top"],
            region["width"],
            region["height"],
        )

    async def close(self) -> None:
        await self.desktop.close()

    def _on_screen(self, point: Point) -> Point:
        return point[0] + self.left, point[1] + self.top

    async def screenshot(self) -> Shot:
        return await asyncio.to_thread(grab, self.display, self.monitor)

    async def windows(self) -> list[Window]:
        return await self.desktop.windows()

    async def window_at(self, x: int, y: int) -> Window | None:
        return await self.desktop.window_at(*self._on_screen((x, y)))

    async def pointer(self) -> Point:
        x, y = await self.desktop.pointer()
        return x - self.left, y - self.top

    async def focused(self) -> Window | None:
        return await self.desktop.focused()

    async def move(self, x: int, y: int, timeout: float) -> None:
        await self.desktop.move(*self._on_screen((x, y)), timeout)

    async def click(self, x: int, y: int, button: str, count: int, timeout: float) -> None:
        await self.desktop.click(*self._on_screen((x, y)), button, count, timeout)

    async def type(self, text: str, timeout: float, stopped: Callable[[], bool]) -> None:
        await self.desktop.type(text, timeout, stopped)

    async def key(self, names: Sequence[str], timeout: float) -> None:
        await self.desktop.key(names, timeout)

    async def scroll(self, direction: str, amount: int, at: Point | None, timeout: float) -> None:
        await self.desktop.scroll(direction, amount, self._on_screen(at) if at else None, timeout)

    async def drag(self, start: Point, end: Point, button: str, timeout: float) -> None:
        await self.desktop.drag(self._on_screen(start), self._on_screen(end), button, timeout)

    async def focus(self, window: Window, timeout: float) -> None:
        await self.desktop.focus(window, timeout)


def _region_of(display: str, monitor: str) -> dict[str, int]:
    with open_screen(display) as screen:
        return screen_region(screen, monitor)
