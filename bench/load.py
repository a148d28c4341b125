"""SECURITY.md 85: N agents each sending R sequenced mirror batches a second
for T seconds to one daphne; then an audit by (host, seq): nothing lost,
nothing applied twice. Beside a bare websockets echo server under the same
load in the same run.

    python bench/load.py [AGENTS] [RATE] [SECONDS]     (200 5 60 by default)
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from _setup import ECHO_SERVER, django_on_temp_db, pctl, rss_kib

AGENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 5
SECONDS = float(sys.argv[3]) if len(sys.argv) > 3 else 60
os.environ.update(
    HOST_CONNECTS_PER_TOKEN="100000", HOST_HEARTBEAT_INTERVAL="30", HOST_HEARTBEAT_TIMEOUT="600"
)
django_on_temp_db()

import websockets  # noqa: E402

from accounts.models import Team  # noqa: E402
from devices.models import HostStream  # noqa: E402
from projects.models import Entry  # noqa: E402
from tests.helpers import make_host  # noqa: E402
from tests.processes import Hub, free_port, hub_env  # noqa: E402
from tests.projects.mirror import file_change  # noqa: E402


def batch(seq: int) -> str:
    payload = {"project": "load", "reset": False, "changes": [file_change("load.txt", f"edit {seq}\n")]}
    return json.dumps({"type": "mirror.batch", "stream": "mirror", "seq": seq, "payload": payload})


class Agent:
    """One simulated agent: sends on a schedule, records each ack."""

    def __init__(self, url: str, token: str | None):
        self.url, self.token = url, token
        self.sent: dict[int, float] = {}
        self.acks: Counter[int] = Counter()
        self.latencies: list[float] = []

    async def run(self, start_at: float, stop_at: float):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with websockets.connect(self.url, additional_headers=headers, max_queue=None) as ws:
            reader = asyncio.create_task(self._read(ws))
            if self.token:
                await ws.send(json.dumps({"type": "mirror.projects", "stream": "mirror", "seq": 1,
                                          "payload": {"projects": [{"name": "load"}]}}))  # fmt: skip
                self.sent[1] = time.perf_counter()
            seq = len(self.sent)
            await asyncio.sleep(max(0, start_at - time.perf_counter()))
            while time.perf_counter() < stop_at:
                seq += 1
                self.sent[seq] = time.perf_counter()
                await ws.send(batch(seq) if self.token else json.dumps({"seq": seq, "echo": batch(seq)}))
                await asyncio.sleep(1 / RATE)
            deadline = time.perf_counter() + 300  # let a backlog drain: slow is not lost
            while len(self.acks) < len(self.sent) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            reader.cancel()

    async def _read(self, ws):
        async for raw in ws:
            message = json.loads(raw)
            seq = message.get("seq")
            if message.get("type") == "ack" or (not self.token and seq):
                self.acks[seq] += 1
                if self.acks[seq] == 1 and seq in self.sent:
                    self.latencies.append((time.perf_counter() - self.sent[seq]) * 1000)


async def drive(url: str, tokens: list[str | None], pid: int) -> tuple[list[Agent], int]:
    agents = [Agent(url, token) for token in tokens]
    start_at = time.perf_counter() + 2 + AGENTS * 0.01
    stop_at = start_at + SECONDS
    tasks = [asyncio.create_task(agent.run(start_at, stop_at)) for agent in agents]
    await asyncio.sleep(max(0, start_at + SECONDS / 2 - time.perf_counter()))
    rss = rss_kib(pid)
    await asyncio.gather(*tasks)
    return agents, rss


def summarize(agents: list[Agent]) -> dict:
    sent = sum(len(a.sent) for a in agents)
    acked = sum(len(a.acks) for a in agents)
    twice = sum(1 for a in agents for count in a.acks.values() if count > 1)
    latencies = [ms for a in agents for ms in a.latencies]
    return {"sent": sent, "lost": sent - acked, "acked twice": twice,
            "p50": pctl(latencies, 0.5), "p95": pctl(latencies, 0.95)}  # fmt: skip


def main() -> None:
    team = Team.objects.create(name="Load")
    hosts = [make_host(team, f"load-{n}") for n in range(AGENTS)]
    env = hub_env(HOST_CONNECTS_PER_TOKEN="100000", HOST_LINK_RATE="1000", HOST_HEARTBEAT_TIMEOUT="600")
    hub = Hub(env, Path(os.environ["CODEXHUB_DATA_DIR"]))
    echo_port = free_port()
    echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(echo_port)], stdout=subprocess.PIPE)
    assert echo.stdout.readline().strip() == b"ready"
    try:
        hub_idle = rss_kib(hub.popen.pid)
        hub_agents, hub_rss = asyncio.run(
            drive(hub.url.replace("http", "ws") + "/ws/host/", [t for _, t in hosts], hub.popen.pid)
        )
        echo_idle = rss_kib(echo.pid)
        echo_agents, echo_rss = asyncio.run(drive(f"ws://127.0.0.1:{echo_port}/", [None] * AGENTS, echo.pid))
    finally:
        hub.stop()
        echo.terminate()
        echo.wait(10)

    hub_summary, echo_summary = summarize(hub_agents), summarize(echo_agents)
    applied = dict(HostStream.objects.filter(name="mirror").values_list("host_id", "last_seq"))
    mismatched = sum(1 for (host, _), agent in zip(hosts, hub_agents, strict=True)
                     if applied.get(host.id) != len(agent.sent))  # fmt: skip
    database = "Postgres" if os.environ.get("BENCH_DATABASE_URL") else "SQLite"
    print(f"{AGENTS} agents x {RATE:g} msg/s x {SECONDS:g} s, one daphne ({database}, in-memory layer)")
    print(f"{'':26}{'hub':>12}{'bare echo':>12}")
    for key in ("sent", "lost", "acked twice"):
        print(f"{key:26}{hub_summary[key]:>12}{echo_summary[key]:>12}")
    print(f"{'ack latency p50 (ms)':26}{hub_summary['p50']:>12.1f}{echo_summary['p50']:>12.2f}")
    print(f"{'ack latency p95 (ms)':26}{hub_summary['p95']:>12.1f}{echo_summary['p95']:>12.2f}")
    per_hub, per_echo = (hub_rss - hub_idle) / AGENTS, (echo_rss - echo_idle) / AGENTS
    print(f"{'memory per link (KiB)':26}{per_hub:>12.0f}{per_echo:>12.0f}")
    print(f"audit by (host, seq): {mismatched} of {AGENTS} hosts' applied seq differs from what they sent")
    print(f"entries: {Entry.objects.count()} (one file per host, rewritten {int(RATE * SECONDS)} times)")


if __name__ == "__main__":
    main()
