"""For the live view's tests: a window of random pixels on a test display (no JPEG makes it
small, so a frame of it is over any small byte cap), and reading the frames a hub got."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.kits.processes import wait_until
from tests.kits.xvfb import START_TIMEOUT, TK_PYTHON, Display

NOISE = r"""
import os, sys, tkinter as tk

width, height = int(sys.argv[2]), int(sys.argv[3])
root = tk.Tk()
root.title("Noise")
root.geometry(f"{width}x{height}+0+0")
pixels = b"P6 %d %d 255\n" % (width, height) + os.urandom(width * height * 3)
picture = tk.PhotoImage(data=pixels, format="ppm")
tk.Label(root, image=picture, borderwidth=0).place(x=0, y=0)
root.after(200, lambda: open(sys.argv[1], "w").write("shown"))
root.mainloop()
"""


@contextlib.contextmanager
def noise(display: Display, folder: Path) -> Iterator[None]:
    """A window of random pixels over the whole screen of `display`, until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    script, shown = folder / "noise.py", folder / "noise.shown"
    script.write_text(NOISE)
    env = {"DISPLAY": display.name, "PATH": os.environ.get("PATH", ""), "HOME": str(folder)}
    argv = [TK_PYTHON, str(script), str(shown), str(display.width), str(display.height)]
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: shown.exists() or process.poll() is not None, timeout=START_TIMEOUT, what="noise")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield
    finally:
        process.terminate()
        process.wait(timeout=5)


def picture(frame: dict[str, Any]) -> Any:
    """A frame's image, as Pillow reads it."""
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(frame["data"])))


def most_in_a_second(times: list[float]) -> int:
    """The most of `times` (seconds) that fall within any one second."""
    ordered = sorted(times)
    return max((sum(1 for t in ordered if start <= t < start + 1.0) for start in ordered), default=0)
