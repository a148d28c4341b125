"""macOS's main display for the pynput backend: its windows through Quartz's window list, the
application with the keyboard through AppKit, raising a window through the Accessibility API
(pyobjc, which pynput installs on macOS). Nothing here runs on Linux: the window list is read
by plain functions of the dictionaries Quartz returns, which the tests give recorded ones.

macOS asks the person twice before an agent may act: Accessibility (to send input) and Screen
Recording (to see other applications' windows and their titles). `open` checks both and says
where to grant them, instead of clicking blind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hostagent.tasks.desktop import DesktopError, Shot, Window, grab

ACCESSIBILITY = (
    "macOS has not allowed the agent to control this computer: in System Settings, Privacy & "
    "Security, Accessibility, allow the program that runs it (your terminal, or python for the "
    "service), then run the task again"
)
SCREEN_RECORDING = (
    "macOS has not allowed the agent to record the screen: in System Settings, Privacy & "
    "Security, Screen Recording, allow the program that runs it, then run the task again"
)
ON_SCREEN_ONLY = 1 << 0  # kCGWindowListOptionOnScreenOnly
EXCLUDE_DESKTOP = 1 << 4  # kCGWindowListExcludeDesktopElements
NORMAL_LAYER = 0  # application windows; menus, the Dock and the menu bar sit above


# Plain functions of Quartz's window list (front to back) --------------------------------


def app_windows(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The applications' own windows, front to back: on screen, in the normal layer, visible."""
    return [
        info
        for info in infos
        if info.get("kCGWindowLayer", NORMAL_LAYER) == NORMAL_LAYER
        and info.get("kCGWindowIsOnscreen", True)
        and float(info.get("kCGWindowAlpha", 1.0)) > 0
    ]


def window_of(info: dict[str, Any]) -> Window:
    return Window(
        int(info["kCGWindowNumber"]),
        str(info.get("kCGWindowName") or ""),
        (str(info.get("kCGWindowOwnerName") or ""),),
    )


def windows_of(infos: list[dict[str, Any]]) -> list[Window]:
    """Shown windows bottom to top, as X11's are listed."""
    return [window_of(info) for info in reversed(app_windows(infos))]


def window_at(infos: list[dict[str, Any]], x: int, y: int) -> Window | None:
    """The frontmost window holding the point (global points, from the main display's top left)."""
    for info in app_windows(infos):
        bounds = info.get("kCGWindowBounds") or {}
        left, top = float(bounds.get("X", 0)), float(bounds.get("Y", 0))
        right, bottom = left + float(bounds.get("Width", 0)), top + float(bounds.get("Height", 0))
        if left <= x < right and top <= y < bottom:
            return window_of(info)
    return None


def front_window_of(infos: list[dict[str, Any]], pid: int) -> Window | None:
    """The frontmost window of the application with process id `pid`."""
    for info in app_windows(infos):
        if int(info.get("kCGWindowOwnerPID", -1)) == pid:
            return window_of(info)
    return None


def owner_of(infos: list[dict[str, Any]], window_id: int) -> int | None:
    for info in infos:
        if int(info.get("kCGWindowNumber", -1)) == window_id:
            return int(info["kCGWindowOwnerPID"])
    return None


# The Mac ----------------------------------------------------------------------------------


class MacWindows:
    """The main display's windows, pointer and size. Every call runs in a worker thread."""

    def __init__(self, display: str = "") -> None:
        self.display = display
        self._lock = asyncio.Lock()

    async def open(self) -> tuple[int, int]:
        if self.display:
            raise DesktopError("on macOS the computer executor drives the main display: leave out display")
        size: tuple[int, int] = await self._call(_open)
        return size

    async def close(self) -> None:
        return None

    async def screenshot(self) -> Shot:
        async with self._lock:
            return await asyncio.to_thread(grab, "")

    async def windows(self) -> list[Window]:
        return windows_of(await self._call(_window_list))

    async def window_at(self, x: int, y: int) -> Window | None:
        return window_at(await self._call(_window_list), x, y)

    async def pointer(self) -> tuple[int, int]:
        position: tuple[int, int] = await self._call(_pointer)
        return position

    async def focused(self) -> Window | None:
        infos, pid = await self._call(_window_list_and_front_pid)
        return front_window_of(infos, pid) if pid is not None else None

    async def keyboard_to_pointer(self) -> None:
        return None  # macOS always has a front application to take the keys

    async def raise_and_focus(self, window: Window) -> None:
        pid = owner_of(await self._call(_window_list), window.id)
        if pid is None:
            raise DesktopError(f"the window {window.describe()} is gone")
        await self._call(_activate, pid, window.title)

    async def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        async with self._lock:
            try:
                return await asyncio.to_thread(function, *args)
            except DesktopError:
                raise
            except Exception as exc:  # Quartz or AppKit said no
                raise DesktopError(f"macOS refused: {type(exc).__name__}: {exc}") from None


# In a worker thread, on a Mac only ----------------------------------------------------------


def _open() -> tuple[int, int]:
    import Quartz

    check_permissions()
    bounds = Quartz.CGDisplayBounds(Quartz.CGMainDisplayID())
    return int(bounds.size.width), int(bounds.size.height)


def check_permissions() -> None:
    """Raise DesktopError saying which of macOS's two permissions the agent lacks, and where."""
    import Quartz
    from ApplicationServices import AXIsProcessTrusted

    if not AXIsProcessTrusted():
        raise DesktopError(ACCESSIBILITY)
    preflight = getattr(Quartz, "CGPreflightScreenCaptureAccess", None)  # macOS 10.15 and later
    if preflight is not None and not preflight():
        raise DesktopError(SCREEN_RECORDING)


def _window_list() -> list[dict[str, Any]]:
    import Quartz

    infos = Quartz.CGWindowListCopyWindowInfo(ON_SCREEN_ONLY | EXCLUDE_DESKTOP, Quartz.kCGNullWindowID)
    return [dict(info) for info in infos or []]


def _window_list_and_front_pid() -> tuple[list[dict[str, Any]], int | None]:
    from AppKit import NSWorkspace

    front = NSWorkspace.sharedWorkspace().frontmostApplication()
    return _window_list(), (int(front.processIdentifier()) if front is not None else None)


def _pointer() -> tuple[int, int]:
    import Quartz

    location = Quartz.CGEventGetLocation(Quartz.CGEventCreate(None))
    return int(location.x), int(location.y)


def _activate(pid: int, title: str) -> None:
    """Bring the application forward, then raise its window titled `title` (an application
    brought forward shows its own last window, which may be another)."""
    from AppKit import NSApplicationActivateIgnoringOtherApps, NSRunningApplication
    from ApplicationServices import (
        AXUIElementCopyAttributeValue,
        AXUIElementCreateApplication,
        AXUIElementPerformAction,
        kAXRaiseAction,
        kAXTitleAttribute,
        kAXWindowsAttribute,
    )

    app = NSRunningApplication.runningApplicationWithProcessIdentifier_(pid)
    if app is None or not app.activateWithOptions_(NSApplicationActivateIgnoringOtherApps):
        raise DesktopError("macOS did not bring the window's application forward")
    _, windows = AXUIElementCopyAttributeValue(AXUIElementCreateApplication(pid), kAXWindowsAttribute, None)
    for window in windows or []:
        _, window_title = AXUIElementCopyAttributeValue(window, kAXTitleAttribute, None)
        if window_title == title:
            AXUIElementPerformAction(window, kAXRaiseAction)
            return
