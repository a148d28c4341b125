"""An X11 display: its windows through python-xlib (`X11Windows`, which the pynput backend uses
too) and its pointer and keyboard through xdotool (`X11Desktop`; a Debian package; argv lists,
never a shell). No X protocol of our own.

Every input is one xdotool run in its own process group, with a time limit: one that
overruns is killed, and the modifiers are released so that no key stays held. Typing goes in
short pieces, asking `stopped()` before each, so a Stop halts input within one piece (about
0.2 s). Window queries and screenshots run in a worker thread (both libraries block).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hostagent.tasks.desktop import MACOS, DesktopError, Shot, Window, grab, type_in_pieces
from hostagent.tasks.environment import BASE_ENV

XDOTOOL = "xdotool"
BUTTONS = {"left": "1", "middle": "2", "right": "3"}
SCROLL_BUTTONS = {"up": "4", "down": "5", "left": "6", "right": "7"}
TYPE_DELAY_MS = 12  # between keystrokes, xdotool's own default
CLICK_DELAY_MS = 80  # between the clicks of a double or triple click
KILL_GRACE = 1.0
# X11 keysyms of protocol/keys.py's names (characters and f1-f24 are their own, upper-cased F).
KEYSYMS = {
    "ctrl": "ctrl",
    "shift": "shift",
    "alt": "alt",
    "super": "super",
    "enter": "Return",
    "tab": "Tab",
    "escape": "Escape",
    "backspace": "BackSpace",
    "delete": "Delete",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "pageup": "Prior",
    "pagedown": "Next",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "space": "space",
    "menu": "Menu",
    "capslock": "Caps_Lock",
    "printscreen": "Print",
    **{f"f{n}": f"F{n}" for n in range(1, 25)},
}
# What a display needs from the agent's environment besides BASE_ENV; never CODEXHUB_*.
DISPLAY_ENV = ("XAUTHORITY",)


def keysym(name: str) -> str:
    """The X keysym of one of protocol/keys.py's canonical names."""
    from protocol.keys import PUNCTUATION

    if name in KEYSYMS:
        return KEYSYMS[name]
    if name in PUNCTUATION:
        return name  # X names them alike: minus, comma, bracketleft, ...
    return name  # a-z, 0-9


def x_env(display: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    names = dict.fromkeys((*BASE_ENV, *DISPLAY_ENV))
    env = {n: environ[n] for n in names if n in environ and not n.upper().startswith("CODEXHUB_")}
    env["DISPLAY"] = display
    return env


class X11Windows:
    """One X11 display's windows, pointer and screen size, through python-xlib."""

    def __init__(self, display: str) -> None:
        self.display = display
        self._x: Any = None  # Xlib.display.Display
        self._lock = asyncio.Lock()  # one X request at a time from this task's threads

    async def open(self) -> tuple[int, int]:
        """Connect; the screen's width and height."""
        if MACOS or sys.platform == "win32":
            raise DesktopError('an X11 display is for Linux: on macOS set input = "pynput"')
        if not self.display:
            raise DesktopError('no display: set display = ":0" in the executor, or DISPLAY for the agent')
        self._x = await asyncio.to_thread(_connect, self.display)
        screen = self._x.screen()
        return screen.width_in_pixels, screen.height_in_pixels

    async def close(self) -> None:
        if self._x is not None:
            x, self._x = self._x, None
            with contextlib.suppress(Exception):
                await asyncio.to_thread(x.close)

    async def screenshot(self) -> Shot:
        async with self._lock:
            return await asyncio.to_thread(grab, self.display)

    async def windows(self) -> list[Window]:
        """The windows shown (mapped), bottom to top."""
        found: list[Window] = await self._query(_windows)
        return found

    async def window_at(self, x: int, y: int) -> Window | None:
        found: Window | None = await self._query(_window_at, x, y)
        return found

    async def pointer(self) -> tuple[int, int]:
        position: tuple[int, int] = await self._query(_pointer)
        return position

    async def focused(self) -> Window | None:
        """The window keys go to: the focused one, or (no window manager set a focus) the one
        under the pointer."""
        found: Window | None = await self._query(_focused)
        return found

    async def keyboard_to_pointer(self) -> None:
        """When no window has the keyboard (no window manager gave it one, so X sends keys to the
        window under the pointer), give it to the window under the pointer: pynput sends its
        keys to the focused window, not through the pointer."""
        await self._query(_keyboard_to_pointer)

    async def raise_and_focus(self, window: Window) -> None:
        """Raise `window` and give it the keyboard, by hand (for a desktop without a window
        manager to ask; xdotool asks one first)."""
        await self._query(_raise_and_focus, window.id)

    async def _query(self, function: Callable[..., Any], *args: Any) -> Any:
        if self._x is None:
            raise DesktopError("the display is closed")
        async with self._lock:
            try:
                return await asyncio.to_thread(function, self._x, *args)
            except DesktopError:
                raise
            except Exception as exc:  # the X server went away, or said no
                raise DesktopError(
                    f"the display {self.display} failed: {type(exc).__name__}: {exc}"
                ) from None


class X11Desktop:
    """One X11 display, its input through xdotool. `open` connects (raising DesktopError),
    `close` lets go."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.width = 0
        self.height = 0
        self.x11 = X11Windows(display)
        self._xdotool = ""

    async def open(self) -> None:
        if MACOS:
            raise DesktopError('xdotool is for X11: on macOS leave out input, or set input = "pynput"')
        self.width, self.height = await self.x11.open()  # no display, or not Linux: says so
        found = shutil.which(XDOTOOL)
        if found is None:
            await self.x11.close()
            raise DesktopError('xdotool is not installed (apt-get install xdotool), or set input = "pynput"')
        self._xdotool = found

    async def close(self) -> None:
        await self.x11.close()

    async def screenshot(self) -> Shot:
        return await self.x11.screenshot()

    async def windows(self) -> list[Window]:
        return await self.x11.windows()

    async def window_at(self, x: int, y: int) -> Window | None:
        return await self.x11.window_at(x, y)

    async def pointer(self) -> tuple[int, int]:
        return await self.x11.pointer()

    async def focused(self) -> Window | None:
        return await self.x11.focused()

    # Input ----------------------------------------------------------------------------

    async def move(self, x: int, y: int, timeout: float) -> None:
        await self._run(["mousemove", "--sync", str(x), str(y)], timeout)

    async def click(self, x: int, y: int, button: str, count: int, timeout: float) -> None:
        # xdotool's click sleeps its delay after the last click too (100 ms unless told)
        delay = ["--delay", str(CLICK_DELAY_MS if count > 1 else 0)]
        argv = ["mousemove", "--sync", str(x), str(y), "click", "--repeat", str(count), *delay]
        await self._run([*argv, BUTTONS[button]], timeout)

    async def type(self, text: str, timeout: float, stopped: Callable[[], bool]) -> None:
        async def send(piece: str, left: float) -> None:
            await self._run(["type", "--delay", str(TYPE_DELAY_MS), "--", piece], left)

        await type_in_pieces(text, timeout, stopped, send)

    async def key(self, names: Sequence[str], timeout: float) -> None:
        await self._run(["key", "--delay", "0", "+".join(keysym(name) for name in names)], timeout)

    async def scroll(self, direction: str, amount: int, at: tuple[int, int] | None, timeout: float) -> None:
        move = ["mousemove", "--sync", str(at[0]), str(at[1])] if at is not None else []
        click = ["click", "--repeat", str(amount), "--delay", "30", SCROLL_BUTTONS[direction]]
        await self._run([*move, *click], timeout)

    async def drag(self, start: tuple[int, int], end: tuple[int, int], button: str, timeout: float) -> None:
        await self._run(
            ["mousemove", "--sync", str(start[0]), str(start[1]), "mousedown", BUTTONS[button]], timeout
        )
        try:
            # Through the middle first: many programs start a drag only once the pointer moved.
            middle = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)
            await self._run(["mousemove", "--sync", str(middle[0]), str(middle[1])], timeout)
            await self._run(["mousemove", "--sync", str(end[0]), str(end[1])], timeout)
        finally:
            await self._run(["mouseup", BUTTONS[button]], timeout)

    async def focus(self, window: Window, timeout: float) -> None:
        """Raise `window` and give it the keyboard: through the window manager when there is one
        (_NET_ACTIVE_WINDOW), else by hand."""
        target = str(window.id)
        try:
            await self._run(["windowactivate", "--sync", target], timeout)
        except DesktopError:
            await self._run(["windowraise", target], timeout)
            await self._run(["windowfocus", "--sync", target], timeout)

    async def _run(self, argv: list[str], timeout: float) -> None:
        """One xdotool run; a DesktopError with its own words when it fails or overruns."""
        proc = await asyncio.create_subprocess_exec(
            self._xdotool,
            *argv,
            env=x_env(self.display),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            _kill(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), KILL_GRACE)
            await self._release()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise DesktopError(f"xdotool {argv[0]} did not finish in {timeout:g} s") from None
        if proc.returncode != 0:
            words = " ".join(err.decode("utf-8", "replace").split())[:200] or f"exit code {proc.returncode}"
            raise DesktopError(f"xdotool {argv[0]} failed: {words}")

    async def _release(self) -> None:
        """After a killed run: let go of the modifiers it may have held down."""
        with contextlib.suppress(Exception):
            proc = await asyncio.create_subprocess_exec(
                self._xdotool,
                "keyup",
                "ctrl",
                "shift",
                "alt",
                "super",
                env=x_env(self.display),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            await asyncio.wait_for(proc.wait(), KILL_GRACE)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# In a worker thread ----------------------------------------------------------------------


def _connect(display: str) -> Any:
    from Xlib import display as xdisplay
    from Xlib import error

    try:
        return xdisplay.Display(display)
    except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
        raise DesktopError(f"cannot open the display {display}: {exc}") from None


def _window(x: Any, window: Any) -> Window | None:
    """`window` (a child of the root: a program's window, or a window manager's frame around
    one) as the program's window, or None when it holds none."""
    client = _client(x, window, depth=3)
    if client is None:
        return None
    return Window(client.id, _title(x, client), tuple(client.get_wm_class() or ()))


def _client(x: Any, window: Any, depth: int) -> Any:
    """The window a program made: the one with WM_STATE (set by a window manager), or without a
    window manager the top-level window itself when it has a name or class."""
    wm_state = x.intern_atom("WM_STATE")
    found = _with_state(window, wm_state, depth)
    if found is not None:
        return found
    if window.get_wm_name() or window.get_wm_class():
        return window
    return None


def _with_state(window: Any, atom: int, depth: int) -> Any:
    if window.get_full_property(atom, 0) is not None:
        return window
    if depth == 0:
        return None
    for child in window.query_tree().children:
        found = _with_state(child, atom, depth - 1)
        if found is not None:
            return found
    return None


def _title(x: Any, window: Any) -> str:
    utf8 = window.get_full_property(x.intern_atom("_NET_WM_NAME"), x.intern_atom("UTF8_STRING"))
    if utf8 is not None and utf8.value:
        value = utf8.value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    name = window.get_wm_name()
    if isinstance(name, bytes):
        return name.decode("latin-1")
    return name or ""


def _windows(x: Any) -> list[Window]:
    from Xlib import X
    from Xlib.error import XError

    found = []
    for child in x.screen().root.query_tree().children:
        try:
            if child.get_attributes().map_state != X.IsViewable:
                continue
            window = _window(x, child)
        except XError:  # gone meanwhile
            continue
        if window is not None:
            found.append(window)
    return found


def _window_at(x: Any, px: int, py: int) -> Window | None:
    root = x.screen().root
    child = root.translate_coords(root, px, py).child
    if not child:
        return None
    return _window(x, child)


def _pointer(x: Any) -> tuple[int, int]:
    pointer = x.screen().root.query_pointer()
    return int(pointer.root_x), int(pointer.root_y)


def _focused(x: Any) -> Window | None:
    root = x.screen().root
    focus = x.get_input_focus().focus
    if isinstance(focus, int) or focus == root:  # PointerRoot or None: keys go under the pointer
        child = root.query_pointer().child
        return _window(x, child) if child else None
    window = focus
    while True:  # up to the root's child: the program's top-level window, or its frame
        parent = window.query_tree().parent
        if not parent or parent == root:
            break
        window = parent
    return _window(x, window)


def _raise_and_focus(x: Any, window_id: int) -> None:
    from Xlib import X

    window = x.create_resource_object("window", window_id)
    window.configure(stack_mode=X.Above)
    window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
    x.sync()


def _keyboard_to_pointer(x: Any) -> None:
    from Xlib import X

    root = x.screen().root
    focus = x.get_input_focus().focus
    if not (isinstance(focus, int) or focus == root):
        return
    child = root.query_pointer().child
    window = _window(x, child) if child else None
    if window is not None:
        x.create_resource_object("window", window.id).set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
        x.sync()
