"""The computer executor's two input backends on X11 (issue 20): from asking for an input to
the program having it, through xdotool (a process per input) and through pynput (in the
agent's own process; macOS's only backend), side by side in the same run.

An Xvfb screen of 1024x768 shows the tests' Tk program (tests/kits/xvfb.py), which records
each click and each key it gets. Each round asks the desktop (hostagent/tasks/desktop.py, as a
task's steps do) for one click on its button, then one ctrl+shift+t, and waits until the
program's record holds it. The backends take turns round by round, so the machine's load
falls on both alike.

    python bench/computer_input.py [ROUNDS]      (50 by default)
"""

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hostagent.tasks.desktop import desktop_for  # noqa: E402
from tests.kits.xvfb import Recorder, recorder, xvfb  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
BACKENDS = ("xdotool", "pynput")
POLL = 0.001
TIMEOUT = 10.0


async def until(tk: Recorder, kind: str, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while len(tk.events(kind)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the program never got {kind} {count}")
        await asyncio.sleep(POLL)


async def bench(display: str, tk: Recorder) -> dict[str, dict[str, list[float]]]:
    desktops = {name: desktop_for(display, name) for name in BACKENDS}
    for desktop in desktops.values():
        await desktop.open()
    x, y = tk.layout["button"]
    ex, ey = tk.layout["entry"]
    times: dict[str, dict[str, list[float]]] = {name: {"click": [], "key": []} for name in BACKENDS}
    clicks = keys = 0
    try:
        await desktops["xdotool"].click(ex, ey, "left", 1, TIMEOUT)  # the entry under the pointer for keys
        for _ in range(ROUNDS):
            for name, desktop in desktops.items():
                started = time.perf_counter()
                await desktop.click(x, y, "left", 1, TIMEOUT)
                clicks += 1
                await until(tk, "click", clicks)
                times[name]["click"].append(time.perf_counter() - started)
                await desktop.move(ex, ey, TIMEOUT)
                started = time.perf_counter()
                await desktop.key(["ctrl", "shift", "t"], TIMEOUT)
                keys += 1
                await until(tk, "key", keys)
                times[name]["key"].append(time.perf_counter() - started)
    finally:
        for desktop in desktops.values():
            await desktop.close()
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, xvfb() as display, recorder(display, Path(folder)) as tk:
        times = asyncio.run(bench(display.name, tk))
    print(f"ask -> the program has it, {ROUNDS} rounds each (median, p90), Xvfb 1024x768:")
    for kind in ("click", "key"):
        medians = {}
        for name in BACKENDS:
            samples = sorted(times[name][kind])
            medians[name] = statistics.median(samples)
            p90 = samples[int(len(samples) * 0.9) - 1]
            print(f"  {kind:5} {name:8} {medians[name] * 1000:7.2f} ms  {p90 * 1000:7.2f} ms")
        print(f"  {kind:5} xdotool / pynput: {medians['xdotool'] / medians['pynput']:.2f}")


if __name__ == "__main__":
    main()
