"""N host links to one daphne, beside a bare websockets echo server measured in
the same run: time to connect all, memory per link, and latency (for the hub:
agent connects -> a phone socket is told the host is online).

    python bench/link.py [N]      (N=200 by default)
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _setup import ECHO_SERVER, ROOT, django_on_temp_db, hub_healthy, pctl, rss_kib, team_with_signed_in_owner

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
os.environ.update(HOST_CONNECTS_PER_TOKEN="100000", HOST_HEARTBEAT_INTERVAL="20")
django_on_temp_db()

import websockets  # noqa: E402

from devices.models import Host  # noqa: E402
from tests.kits.common import make_host  # noqa: E402
from tests.kits.processes import free_port, wait_until  # noqa: E402

BIN = Path(sys.executable).parent


def start(args: list[str], ready) -> subprocess.Popen:
    log = open(os.environ.get("BENCH_HUB_LOG", os.devnull), "wb")  # noqa: SIM115
    process = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    wait_until(ready, timeout=30, what=" ".join(args[:3]))
    return process


async def hub_run(port: int, tokens: list[tuple[int, str]], cookie: str, pid: int) -> dict:
    """Latency: agents connect one after another, each timed until the phone
    socket hears it is online. Then all drop and reconnect at once."""
    base = f"ws://127.0.0.1:{port}"
    phone = await websockets.connect(
        f"{base}/ws/ui/", additional_headers={"Cookie": cookie}, origin=f"http://127.0.0.1:{port}"
    )
    await phone.recv()  # hello

    async def agent(token: str):
        ws = await websockets.connect(
            f"{base}/ws/host/", additional_headers={"Authorization": f"Bearer {token}"}
        )
        assert json.loads(await ws.recv())["type"] == "welcome"
        return ws

    async def told_online(host_id: int):
        while True:
            message = json.loads(await phone.recv())
            if message.get("type") == "host.presence" and message["host"]["id"] == host_id:
                if message["host"]["online"]:
                    return

    latencies, links = [], []
    for host_id, token in tokens:
        begin = time.perf_counter()
        link, _ = await asyncio.gather(agent(token), told_online(host_id))
        latencies.append((time.perf_counter() - begin) * 1000)
        links.append(link)
    busy = rss_kib(pid)
    await close_all(links)
    # Let the hub finish recording the drops before the burst.
    ids = [host_id for host_id, _ in tokens]
    await asyncio.to_thread(
        wait_until,
        lambda: not Host.objects.filter(id__in=ids).exclude(link_channel="").exists(),
        timeout=60,
        what="all links recorded closed",
    )
    told = set()

    async def drain():
        async for raw in phone:
            message = json.loads(raw)
            if message.get("type") == "host.presence" and message["host"]["online"]:
                told.add(message["host"]["id"])
                if len(told) == len(tokens):
                    return

    listener = asyncio.create_task(drain())
    begin = time.perf_counter()
    links = await asyncio.gather(*(agent(token) for _, token in tokens))
    connect_all = time.perf_counter() - begin
    try:
        await asyncio.wait_for(listener, timeout=10)
    except TimeoutError:
        pass
    await phone.close()
    await close_all(links)
    return {"latencies": latencies, "rss": busy, "connect_all": connect_all, "told": len(told)}


async def echo_run(port: int, count: int, pid: int) -> dict:
    async def client():
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/")
        await ws.send('{"type": "hello"}')
        await ws.recv()
        return ws

    latencies, links = [], []
    for _ in range(count):
        begin = time.perf_counter()
        links.append(await client())
        latencies.append((time.perf_counter() - begin) * 1000)
    busy = rss_kib(pid)
    await close_all(links)
    begin = time.perf_counter()
    links = await asyncio.gather(*(client() for _ in range(count)))
    connect_all = time.perf_counter() - begin
    await close_all(links)
    return {"latencies": latencies, "rss": busy, "connect_all": connect_all}


async def close_all(links) -> None:
    await asyncio.gather(*(ws.close() for ws in links), return_exceptions=True)


def main() -> None:
    team, cookie = team_with_signed_in_owner()
    tokens = []
    for n in range(N):
        host, token = make_host(team, f"bench-{n}")
        tokens.append((host.id, token))

    hub_port, echo_port = free_port(), free_port()
    hub = start(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(hub_port), "codexhub.asgi:application"],
        lambda: hub_healthy(hub_port),
    )
    echo = subprocess.Popen(
        [sys.executable, "-c", ECHO_SERVER, str(echo_port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert echo.stdout.readline().strip() == b"ready"
    try:
        hub_idle, echo_idle = rss_kib(hub.pid), rss_kib(echo.pid)
        hub_result = asyncio.run(hub_run(hub_port, tokens, cookie, hub.pid))
        echo_result = asyncio.run(echo_run(echo_port, N, echo.pid))
        hub_busy, echo_busy = hub_result["rss"], echo_result["rss"]
    finally:
        for process in (hub, echo):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    print(f"{N} links, one process each side, loopback, SQLite and the in-memory layer for the hub")
    print(f"{'':28}{'hub (daphne)':>16}{'bare echo':>14}{'ratio':>9}")
    _row("all reconnect at once (s)", hub_result["connect_all"], echo_result["connect_all"], "{:.2f}")
    per_hub = (hub_busy - hub_idle) / N
    per_echo = (echo_busy - echo_idle) / N
    _row("memory per link (KiB)", per_hub, per_echo, "{:.0f}")
    for label, q in (("latency p50 (ms)", 0.5), ("latency p95 (ms)", 0.95)):
        _row(label, pctl(hub_result["latencies"], q), pctl(echo_result["latencies"], q), "{:.1f}")
    print(
        "latency, links opened one at a time: hub = agent connects -> phone socket told online; "
        "echo = connect -> first message echoed"
    )
    print(f"hub latency mean {statistics.mean(hub_result['latencies']):.1f} ms")
    print(f"phone told of {hub_result['told']}/{N} hosts coming back in the burst")


def _row(label: str, hub: float, echo: float, fmt: str) -> None:
    ratio = hub / echo if echo else float("nan")
    print(f"{label:28}{fmt.format(hub):>16}{fmt.format(echo):>14}{ratio:>9.2f}")


if __name__ == "__main__":
    main()
