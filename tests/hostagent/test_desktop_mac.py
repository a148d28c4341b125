"""macOS's side of the computer executor that can run off a Mac: reading Quartz's window list
(given here as CGWindowListCopyWindowInfo returns it on macOS 14: front to back, the menu bar
and the Dock in layers above the applications', a window of alpha 0 kept by some programs),
pynput's key for every key name a step may use, and the choice of input backend. Sending input
through pynput itself is tested on a real X server (test_tasks_computer.py, input = "pynput").
"""

import pytest

from hostagent.tasks import computer, desktop
from hostagent.tasks.desktop import DesktopError, Window, desktop_for, input_of, screen_name
from hostagent.tasks.desktop_mac import MacWindows, front_window_of, owner_of, window_at, windows_of
from hostagent.tasks.desktop_pynput import PynputDesktop, pynput_key
from hostagent.tasks.desktop_x11 import X11Desktop
from hostagent.tasks.executors import Executor
from protocol.keys import KEYS
from tests.kits.xvfb import xvfb


def info(number, owner, pid, name, bounds, layer=0, alpha=1.0):
    x, y, width, height = bounds
    return {
        "kCGWindowAlpha": alpha,
        "kCGWindowBounds": {"Height": height, "Width": width, "X": x, "Y": y},
        "kCGWindowIsOnscreen": True,
        "kCGWindowLayer": layer,
        "kCGWindowMemoryUsage": 2176,
        "kCGWindowName": name,
        "kCGWindowNumber": number,
        "kCGWindowOwnerName": owner,
        "kCGWindowOwnerPID": pid,
        "kCGWindowSharingState": 1,
        "kCGWindowStoreType": 1,
    }


# Front to back, as Quartz lists them.
WINDOWS = [
    info(31, "Window Server", 151, "Menubar", (0, 0, 1512, 33), layer=24),
    info(45, "Dock", 602, "Dock", (0, 890, 1512, 92), layer=20),
    info(5120, "TextEdit", 4411, "Invoice draft.rtf", (300, 120, 640, 480)),
    info(5077, "Calculator", 4380, "Calculator", (200, 100, 232, 400)),
    info(4990, "Safari", 3102, "", (0, 0, 1512, 982), alpha=0.0),  # kept hidden by Safari
    info(4801, "Finder", 610, "Downloads", (50, 60, 900, 600)),
]


def test_the_windows_are_the_applications_bottom_to_top_without_menus_or_the_dock():
    assert windows_of(WINDOWS) == [
        Window(4801, "Downloads", ("Finder",)),
        Window(5077, "Calculator", ("Calculator",)),
        Window(5120, "Invoice draft.rtf", ("TextEdit",)),
    ]
    assert windows_of([]) == []


def test_the_window_at_a_point_is_the_frontmost_holding_it():
    assert window_at(WINDOWS, 350, 200) == Window(5120, "Invoice draft.rtf", ("TextEdit",))  # over both
    assert window_at(WINDOWS, 210, 110) == Window(5077, "Calculator", ("Calculator",))
    assert window_at(WINDOWS, 60, 70) == Window(4801, "Downloads", ("Finder",))
    assert window_at(WINDOWS, 1400, 10) is None  # the menu bar: no application's window
    assert window_at(WINDOWS, 949, 659) is not None and window_at(WINDOWS, 950, 659) is None  # edges


def test_the_keys_go_to_the_front_applications_frontmost_window():
    assert front_window_of(WINDOWS, 4380) == Window(5077, "Calculator", ("Calculator",))
    assert front_window_of(WINDOWS, 3102) is None  # Safari shows nothing
    assert owner_of(WINDOWS, 5120) == 4411 and owner_of(WINDOWS, 1) is None


async def test_a_display_given_on_macos_is_refused_when_it_opens():
    with pytest.raises(DesktopError, match="on macOS the computer executor drives the main display"):
        await MacWindows(":0").open()


def test_every_key_a_step_may_name_maps_to_a_pynput_key_or_says_it_cannot(monkeypatch):
    with xvfb() as display:  # on Linux pynput needs an X server to load
        monkeypatch.setenv("DISPLAY", display.name)
        from pynput.keyboard import Key, KeyCode

        assert pynput_key("super") == Key.cmd and pynput_key("escape") == Key.esc
        assert pynput_key("pagedown") == Key.page_down and pynput_key("minus") == KeyCode.from_char("-")
        assert pynput_key("t") == KeyCode.from_char("t") and pynput_key("f12") == Key.f12
        for name in sorted(KEYS):
            try:
                assert pynput_key(name) is not None
            except DesktopError as exc:
                assert name in {"f21", "f22", "f23", "f24"}, name
                assert str(exc) == f"the key {name} cannot be pressed through pynput on this computer"


def test_the_input_backend_is_the_executors_else_the_platforms(monkeypatch):
    assert (input_of(None), input_of("pynput"), input_of("xdotool")) == ("xdotool", "pynput", "xdotool")
    assert isinstance(desktop_for(":5"), X11Desktop) and isinstance(
        desktop_for(":5", "pynput"), PynputDesktop
    )
    monkeypatch.setattr(desktop, "MACOS", True)
    assert input_of(None) == "pynput"


def test_on_macos_the_display_is_the_main_one_whatever_xquartz_set(monkeypatch):
    monkeypatch.setattr(computer, "MACOS", True)
    executor = Executor(name="desk", label="Desk", kind="computer", needs_file=False, timeout=60)
    assert computer.display_of(executor, {"DISPLAY": "/private/tmp/com.apple.launchd.x/org.xquartz:0"}) == ""
    assert "display the main display" in computer.summary(executor)
    assert (screen_name(""), screen_name(":5")) == ("the main display", "display :5")  # in the task's log


async def test_xdotool_on_macos_says_to_use_pynput(monkeypatch):
    monkeypatch.setattr("hostagent.tasks.desktop_x11.MACOS", True)
    with pytest.raises(DesktopError, match='on macOS leave out input, or set input = "pynput"'):
        await X11Desktop("").open()
