"""A real X server for the computer executor's tests: Debian's Xvfb on a display number it picks
itself (`-displayfd`: it writes the number once it takes connections, so no polling and no
race for a number), and a Tk program written here that records what happens to it.

The recorder runs with Debian's /usr/bin/python3 (python3-tk; the virtualenv's Python may lack
tkinter). It writes one JSON line per event to its record file: `ready` (with where its widgets
are, in screen pixels), `click` (the button), `text` (the entry's whole text after each key),
`key` (a key pressed with ctrl: its keysym and the modifiers), `scroll`, `drag` (on the canvas),
`notes` (the text of the second window's entry). Without a window manager every window sits
where its geometry says, and keys go to the window under the pointer.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.kits.processes import wait_until

XVFB = "/usr/bin/Xvfb"
XORG = "/usr/bin/Xorg"
XRANDR = "/usr/bin/xrandr"
TK_PYTHON = "/usr/bin/python3"  # Debian's, with python3-tk
SCREEN = (1024, 768)
START_TIMEOUT = 15.0


@dataclass
class Display:
    name: str  # ":5"
    width: int
    height: int
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def xvfb(size: tuple[int, int] = SCREEN) -> Iterator[Display]:
    """Xvfb on a free display, stopped on the way out."""
    screen = ["-screen", "0", f"{size[0]}x{size[1]}x24"]
    with _x_server([XVFB, *screen, "-nolisten", "tcp"], "Xvfb") as (name, process):
        yield Display(name, size[0], size[1], process)


@contextlib.contextmanager
def two_monitors(folder: Path) -> Iterator[Display]:
    """A screen of two monitors side by side, as a desk with two displays has: Xorg with its
    dummy driver (Xvfb has one monitor only), DUMMY0 1024x768 at 0,0 (the primary) and DUMMY1
    800x600 at 1024,0, arranged with xrandr as on a real desktop."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "xorg.conf").write_text(XORG_DUMMY)
    argv = [XORG, "-noreset", "-nolisten", "tcp", "-config", str(folder / "xorg.conf")]
    argv += ["-configdir", str(folder), "-logfile", str(folder / "xorg.log")]
    with _x_server(argv, "Xorg") as (name, process):
        env = {"DISPLAY": name, "PATH": os.environ.get("PATH", "")}
        for command in (
            ["--addmode", "DUMMY1", "800x600"],
            ["--output", "DUMMY0", "--mode", "1024x768", "--pos", "0x0", "--primary"],
            ["--output", "DUMMY1", "--mode", "800x600", "--pos", "1024x0"],
        ):
            subprocess.run(
                [XRANDR, *command], env=env, check=True, capture_output=True, timeout=START_TIMEOUT
            )
        yield Display(name, 1824, 768, process)


@contextlib.contextmanager
def _x_server(argv: list[str], what: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """An X server on a display number it picks itself (`-displayfd`), stopped on the way out."""
    read, write = os.pipe()
    process = subprocess.Popen(
        [argv[0], "-displayfd", str(write), *argv[1:]],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], START_TIMEOUT)
        number = os.read(read, 32).decode().strip() if ready else ""
        if not number.isdigit():
            process.kill()
            _, err = process.communicate(timeout=5)
            raise RuntimeError(f"{what} did not start: {err.decode(errors='replace')[-500:]}")
        yield f":{number}", process
    finally:
        os.close(read)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


XORG_DUMMY = """
Section "Device"
    Identifier "dummy"
    Driver "dummy"
    VideoRam 64000
EndSection
Section "Monitor"
    Identifier "monitor"
    HorizSync 5.0-1000.0
    VertRefresh 5.0-200.0
EndSection
Section "Screen"
    Identifier "screen"
    Device "dummy"
    Monitor "monitor"
    DefaultDepth 24
    SubSection "Display"
        Depth 24
        Virtual 2048 768
    EndSubSection
EndSection
"""

RECORDER = r"""
import json, sys, tkinter as tk

record = open(sys.argv[1], "a", buffering=1)
left, top = int(sys.argv[2]), int(sys.argv[3])  # where on the screen its windows start


def note(**event):
    record.write(json.dumps(event) + "\n")


root = tk.Tk()
root.title("Recorder")
root.geometry(f"420x320+{left}+{top}")
entry = tk.Entry(root, width=30)
entry.place(x=20, y=20)
button = tk.Button(root, text="Press me", command=lambda: pressed())
button.place(x=20, y=70)
canvas = tk.Canvas(root, width=300, height=150, background="white")
canvas.place(x=20, y=130)
notes = tk.Toplevel(root)
notes.title("Notes")
notes.geometry(f"300x120+{left + 520}+{top}")
notes_entry = tk.Entry(notes, width=25)
notes_entry.place(x=20, y=20)


def pressed():
    note(event="click", button="Press me")
    thanks = tk.Toplevel(root)
    thanks.title("Thanks")
    thanks.geometry(f"200x80+{left + 520}+{top + 200}")
    tk.Label(thanks, text="Thanks!").pack()


def centre(widget):
    x, y = widget.winfo_rootx(), widget.winfo_rooty()
    return [x + widget.winfo_width() // 2, y + widget.winfo_height() // 2]


def ready():
    root.update_idletasks()
    entry.focus_set()
    notes_entry.focus_set()
    entry.focus_set()
    box = [canvas.winfo_rootx(), canvas.winfo_rooty()]
    note(event="ready", entry=centre(entry), button=centre(button), notes=centre(notes_entry),
         canvas=[box[0], box[1], box[0] + canvas.winfo_width(), box[1] + canvas.winfo_height()])


def key(event):
    if event.state & 0x4:  # ctrl held
        note(event="key", keysym=event.keysym, ctrl=True, shift=bool(event.state & 0x1))


drag = {}


def press(event):
    drag["from"] = [event.x_root, event.y_root]


def release(event):
    if "from" in drag:
        note(event="drag", start=drag.pop("from"), end=[event.x_root, event.y_root])


root.bind_all("<KeyPress>", key)
entry.bind("<KeyRelease>", lambda e: note(event="text", value=entry.get()))
notes_entry.bind("<KeyRelease>", lambda e: note(event="notes", value=notes_entry.get()))
canvas.bind("<ButtonPress-1>", press)
canvas.bind("<ButtonRelease-1>", release)
canvas.bind("<Button-4>", lambda e: note(event="scroll", direction="up"))
canvas.bind("<Button-5>", lambda e: note(event="scroll", direction="down"))
root.after(50, lambda: root.after_idle(ready))
root.mainloop()
"""


class Recorder:
    """The Tk program on `display`, recording to `path`."""

    def __init__(self, display: Display, folder: Path, origin: tuple[int, int] = (0, 0)):
        self.path = folder / "record.jsonl"
        self.path.touch()
        script = folder / "recorder.py"
        script.write_text(RECORDER)
        env = {"DISPLAY": display.name, "PATH": os.environ.get("PATH", ""), "HOME": str(folder)}
        self.process = subprocess.Popen(
            [TK_PYTHON, str(script), str(self.path), str(origin[0]), str(origin[1])],
            env=env,
            stderr=subprocess.PIPE,
        )
        self.layout = self._wait_ready()

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        lines = self.path.read_text().splitlines()
        found = [json.loads(line) for line in lines if line.strip()]
        return [e for e in found if kind is None or e["event"] == kind]

    def acted(self) -> list[dict[str, Any]]:
        """Everything but `ready`: what input reached the program."""
        return [e for e in self.events() if e["event"] != "ready"]

    def text(self) -> str:
        typed = self.events("text")
        return typed[-1]["value"] if typed else ""

    def _wait_ready(self) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"the Tk recorder exited: {err[-500:]}")
            found = self.events("ready")
            return found[0] if found else None

        layout: dict[str, Any] = wait_until(ready, timeout=START_TIMEOUT, what="the Tk recorder's window")
        return layout

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def recorder(display: Display, folder: Path, origin: tuple[int, int] = (0, 0)) -> Iterator[Recorder]:
    """The Tk program, its windows from `origin` on (screen pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    program = Recorder(display, folder, origin)
    try:
        yield program
    finally:
        program.stop()
