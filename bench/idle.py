"""A fleet at rest: N linked hosts on one daphne, sending only heartbeats
(every HOST_HEARTBEAT_INTERVAL, 20 s by default) for T seconds. The hub's
memory per link and CPU per second while they idle, beside a bare websockets
echo server holding as many idle sockets in the same run.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/5 \\
        python bench/idle.py [LINKS] [SECONDS] [INTERVAL]    (1000 60 20)
"""

import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

from _setup import django_on_temp_db, pctl, rss_kib

LINKS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 60
INTERVAL = float(sys.argv[3]) if len(sys.argv) > 3 else 20
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
django_on_temp_db()

import websockets  # noqa: E402

from accounts.models import Team  # noqa: E402
from devices.models import Host  # noqa: E402
from tests.kits.common import make_host  # noqa: E402
from tests.kits.processes import Hub, hub_env  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from load import _cpu_seconds, echo_server  # noqa: E402


class IdleLink:
    def __init__(self, url: str, token: str | None):
        self.url, self.token = url, token
        self.beats: list[float] = []
        self.latencies: list[float] = []

    async def hold(self, connected: asyncio.Queue, go: asyncio.Future):
        """Link, say so, then send heartbeats until the time `go` gives."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with websockets.connect(self.url, additional_headers=headers, max_queue=None) as ws:
            if self.token:
                assert json.loads(await ws.recv())["type"] == "welcome"
            await connected.put(self)
            reader = asyncio.create_task(self._read(ws))
            stop_at = await go
            await asyncio.sleep(random.uniform(0, INTERVAL))  # agents' heartbeats are spread out
            while time.perf_counter() < stop_at:
                self.beats.append(time.perf_counter())
                await ws.send('{"type": "heartbeat"}')
                await asyncio.sleep(INTERVAL)
            reader.cancel()

    async def _read(self, ws):
        async for raw in ws:
            if json.loads(raw).get("type") in ("heartbeat_ack", "heartbeat"):
                self.latencies.append((time.perf_counter() - self.beats.pop(0)) * 1000)


async def hold(url: str, tokens: list[str | None], pid: int, team_id: int | None = None) -> dict:
    idle_rss, connected = rss_kib(pid), asyncio.Queue()
    go = asyncio.get_running_loop().create_future()
    links = [IdleLink(url, token) for token in tokens]
    started = time.perf_counter()
    runs = []
    for link in links:  # a fleet reconnecting after a hub restart, 50 at a time
        runs.append(asyncio.create_task(link.hold(connected, go)))
        while connected.qsize() < len(runs) - 50:
            await asyncio.sleep(0.01)
    while connected.qsize() < len(links):
        await asyncio.sleep(0.01)
    connect_seconds = time.perf_counter() - started
    rss, cpu_before = rss_kib(pid), _cpu_seconds(pid)
    go.set_result(time.perf_counter() + SECONDS)
    await asyncio.sleep(SECONDS - 1)
    linked = await asyncio.to_thread(_linked, team_id) if team_id else 0
    await asyncio.gather(*runs)
    cpu = (_cpu_seconds(pid) - cpu_before) / SECONDS
    latencies = [ms for link in links for ms in link.latencies]
    return {"connect s": connect_seconds, "KiB per link": (rss - idle_rss) / len(links), "cpu": cpu,
            "beat p50": pctl(latencies, 0.5), "beat max": max(latencies, default=0),
            "beats": len(latencies), "linked": linked}  # fmt: skip


def _linked(team_id: int) -> int:
    """Hosts the hub counts as online (linked, heard within the heartbeat timeout)."""
    return sum(1 for host in Host.objects.filter(team_id=team_id) if host.online)


def main() -> None:
    team = Team.objects.create(name="Idle")
    tokens = [make_host(team, f"idle-{n}")[1] for n in range(LINKS)]
    extra = dict(HOST_CONNECTS_PER_TOKEN="100000", TEST_DB_CONN_MAX_AGE="600", LOG_LEVEL="WARNING",
                 HOST_HEARTBEAT_INTERVAL=str(INTERVAL))  # fmt: skip
    if REDIS_URL:
        extra["REDIS_URL"] = REDIS_URL
    hub = Hub(hub_env(**extra), Path(os.environ["CODEXHUB_DATA_DIR"]))
    echo, echo_url = echo_server()
    try:
        ours = asyncio.run(hold(hub.url.replace("http", "ws") + "/ws/host/", tokens, hub.popen.pid, team.id))
        bare = asyncio.run(hold(echo_url, [None] * LINKS, echo.pid))
    finally:
        hub.stop()
        echo.terminate()
        echo.wait(10)
    shape = "Postgres, channels-redis" if REDIS_URL else "SQLite, in-memory layer"
    print(f"{LINKS} idle links x {SECONDS:g} s, a heartbeat every {INTERVAL:g} s each, one daphne ({shape})")
    print(f"{'':30}{'hub':>12}{'bare echo':>12}")
    print(f"{'seconds to link them all':30}{ours['connect s']:>12.1f}{bare['connect s']:>12.1f}")
    print(f"{'memory per link (KiB)':30}{ours['KiB per link']:>12.0f}{bare['KiB per link']:>12.0f}")
    print(f"{'CPU (s per s) while idle':30}{ours['cpu']:>12.3f}{bare['cpu']:>12.3f}")
    print(f"{'heartbeat ack p50 (ms)':30}{ours['beat p50']:>12.1f}{bare['beat p50']:>12.1f}")
    print(f"{'heartbeat ack max (ms)':30}{ours['beat max']:>12.1f}{bare['beat max']:>12.1f}")
    print(f"heartbeats answered: {ours['beats']}")
    print(f"hosts online a second before the end: {ours['linked']} of {LINKS}")


if __name__ == "__main__":
    main()
