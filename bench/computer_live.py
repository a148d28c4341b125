"""Watching a computer task live (issue 20): screenshot-to-phone latency, beside the raw
screenshot time in the same run.

A real daphne (SQLite; the in-memory channel layer, and again channels-redis when REDIS_URL is
set), a running computer task, a phone's /ws/ui/ socket subscribed to it, and the host's
/ws/host/ link. Each frame is made by the agent's own code (hostagent/tasks/computer_live.py:
one kept mss connection to an Xvfb screen of 1024x768 showing the tests' Tk program, fitted
into 780 px and encoded as JPEG by Pillow), sent on the link as the agent sends it, checked and
relayed by the hub, and timed until the phone's socket has it; the phone then says it showed
it (frame.shown), as the page does. One frame at a time: latency, not queueing.

    python bench/computer_live.py [FRAMES]      (100 by default)
"""

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _setup import ROOT, django_on_temp_db, hub_healthy, pctl, team_with_signed_in_owner

FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 100
REDIS_URL = os.environ.get("REDIS_URL", "")  # read before the set-up drops it: the second run's layer
os.environ.update(HOST_CONNECTS_PER_TOKEN="100000", HOST_LINK_RATE="100000", HOST_LINK_BURST="100000")
django_on_temp_db()

import websockets  # noqa: E402

from hostagent.config import DEFAULT_LIVE_MAX  # noqa: E402
from hostagent.tasks.computer_live import _Grabber  # noqa: E402
from tasks.models import TaskState  # noqa: E402
from tests.kits.common import make_host  # noqa: E402
from tests.kits.live_view import noise  # noqa: E402
from tests.kits.processes import free_port, wait_until  # noqa: E402
from tests.kits.task_stream import make_task, offering, shared_project  # noqa: E402
from tests.kits.xvfb import recorder, xvfb  # noqa: E402

BIN = Path(sys.executable).parent
DESK = {"name": "desk", "label": "Desktop", "kind": "computer", "needs_file": False, "actions": ["click"]}


def start_hub(port: int, redis_url: str) -> subprocess.Popen:
    env = dict(os.environ)
    if redis_url:
        env["REDIS_URL"] = redis_url
    log = open(os.environ.get("BENCH_HUB_LOG", os.devnull), "wb")  # noqa: SIM115
    args = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "codexhub.asgi:application"]
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_until(lambda: hub_healthy(port), timeout=30, what="daphne")
    return process


async def run(port: int, token: str, cookie: str, task_id: int, display: str) -> dict[str, list[float]]:
    base = f"ws://127.0.0.1:{port}"
    phone = await websockets.connect(
        f"{base}/ws/ui/", additional_headers={"Cookie": cookie}, origin=f"http://127.0.0.1:{port}"
    )
    await phone.recv()  # hello
    await phone.send(json.dumps({"type": "subscribe", "task": task_id}))
    host = await websockets.connect(
        f"{base}/ws/host/", additional_headers={"Authorization": f"Bearer {token}"}
    )
    assert json.loads(await host.recv())["type"] == "welcome"
    grabber = _Grabber(display, DEFAULT_LIVE_MAX)
    raw, phone_ms, sizes = [], [], []
    loop = asyncio.get_running_loop()
    thread = ThreadPoolExecutor(1)  # mss wants the thread it was opened in, as in the agent
    try:
        for number in range(1, FRAMES + 6):
            begin = time.perf_counter()
            frame = await loop.run_in_executor(thread, grabber.frame, True)
            made = time.perf_counter()
            assert frame is not None
            message = {"type": "computer.frame", "task_id": task_id, "frame": number, "mime": frame.mime,
                       "width": frame.width, "height": frame.height,
                       "data": base64.b64encode(frame.data).decode("ascii")}  # fmt: skip
            await host.send(json.dumps(message))
            while True:
                got = json.loads(await phone.recv())
                if got.get("type") == "computer.frame" and got["frame"] == number:
                    break
            arrived = time.perf_counter()
            await phone.send(json.dumps({"type": "frame.shown", "task": task_id}))
            if number > 5:  # the first frames warm the hub's caches and the connections
                raw.append((made - begin) * 1000)
                phone_ms.append((arrived - begin) * 1000)
                sizes.append(len(frame.data))
    finally:
        await loop.run_in_executor(thread, grabber.close)
        thread.shutdown()
        await phone.close()
        await host.close()
    return {"raw": raw, "phone": phone_ms, "sizes": sizes}


def measure(layer: str, redis_url: str, setup: dict, display: str) -> dict[str, list[float]]:
    port = free_port()
    hub = start_hub(port, redis_url)
    try:
        return asyncio.run(run(port, setup["token"], setup["cookie"], setup["task"].id, display))
    finally:
        hub.terminate()
        try:
            hub.wait(10)
        except subprocess.TimeoutExpired:
            hub.kill()


def main() -> None:
    team, cookie = team_with_signed_in_owner()
    host, token = make_host(team, "bench-desk")
    project = shared_project(offering(host, DESK))
    owner = team.memberships.get().user
    task = make_task(project, owner, executor="desk", executor_kind="computer", state=TaskState.RUNNING,
                     steps=[{"action": "wait", "seconds": 60}])  # fmt: skip
    setup = {"token": token, "cookie": cookie, "task": task}
    layers = [("in-memory", "")] + ([("redis", REDIS_URL)] if REDIS_URL else [])
    results = {}
    folder = Path(tempfile.mkdtemp(prefix="bench-live-"))
    with xvfb() as display, recorder(display, folder / "tk"):
        for name, url in layers:
            results[("the Tk program", name)] = measure(name, url, setup, display.name)
        with noise(display, folder / "noise"):  # the worst case: no JPEG makes it small
            results[("random pixels", "in-memory")] = measure("in-memory", "", setup, display.name)
    print(f"{FRAMES} frames of a 1024x768 Xvfb screen, one at a time, loopback, SQLite;")
    print(f"each fitted into 780 px and encoded as JPEG within live_max_bytes ({DEFAULT_LIVE_MAX:,})")
    print(f"{'':34}{'p50 (ms)':>10}{'p95 (ms)':>10}")
    for (screen, layer), result in results.items():
        size = int(pctl(result["sizes"], 0.5))
        print(f"-- {screen}, channel layer {layer} ({size:,} bytes a frame, median)")
        _row("raw: grab + scale + encode", result["raw"])
        _row("grab -> phone socket has it", result["phone"])
        link = [p - r for p, r in zip(result["phone"], result["raw"], strict=True)]
        _row("of which link + hub + layer", link)
        ratio = pctl(result["phone"], 0.5) / pctl(result["raw"], 0.5)
        print(f"{'ratio phone / raw (p50)':34}{ratio:>10.2f}")


def _row(label: str, samples: list[float]) -> None:
    print(f"{label:34}{pctl(samples, 0.5):>10.1f}{pctl(samples, 0.95):>10.1f}")


if __name__ == "__main__":
    main()
