"""A team's fleet on the host link (issue: the host message path at a team's
scale). N agents each send R sequenced messages a second for T seconds, a
realistic mix: mirror batches, task output frames and task state changes
(received, started, finished), plus a heartbeat a second each. Then an audit
by (host, stream, seq): nothing lost, nothing applied twice, no host offline.
Beside a bare websockets echo server under the same frames in the same run.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/5 \\
        python bench/load.py [AGENTS] [RATE] [SECONDS] [HUBS]    (200 5 60 1)

Without BENCH_DATABASE_URL and BENCH_REDIS_URL: SQLite and the in-memory
layer (one hub only). HUBS=2 runs two daphnes behind HAProxy.
"""

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from _setup import ECHO_SERVER, django_on_temp_db, pctl, rss_kib

AGENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 5
SECONDS = float(sys.argv[3]) if len(sys.argv) > 3 else 60
HUBS = int(sys.argv[4]) if len(sys.argv) > 4 else 1
LOGS_PER_TASK = 20
DAY = timedelta(days=1)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
django_on_temp_db()

import websockets  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Team  # noqa: E402
from devices.models import Host, HostStream  # noqa: E402
from projects.models import Project  # noqa: E402
from tasks.models import Task, TaskState  # noqa: E402
from tests.kits.common import make_host  # noqa: E402
from tests.kits.mirror_stream import file_change  # noqa: E402
from tests.kits.processes import Hub, free_port, hub_env  # noqa: E402

# Ten slots, repeated: 3 mirror batches and 7 task messages (of which about 1
# in 8 changes a task's state, the rest are output).
MIX = "MTTMTTMTTT"


def task_messages(task_ids: list[int]):
    """What an agent reports on stream "tasks" for each of its tasks in turn."""
    for task_id in itertools.cycle(task_ids):  # a task seen again: its reports are duplicates in effect
        yield "task.received", {"task_id": task_id}
        yield "task.started", {"task_id": task_id}
        for n in range(1, LOGS_PER_TASK + 1):
            yield "task.log", {"task_id": task_id, "seq": n, "text": f"line {n} of the build output\n" * 3}
        yield "task.finished", {"task_id": task_id, "outcome": "succeeded", "exit_code": 0, "duration": 4.0}


class Agent:
    """One simulated agent: sends on a schedule, records each ack and heartbeat ack."""

    def __init__(self, url: str, token: str | None, task_ids: list[int]):
        self.url, self.token = url, token
        self.tasks = task_messages(task_ids)
        self.seqs = Counter()
        self.sent: dict[tuple[str, int], float] = {}
        self.acks: Counter[tuple[str, int]] = Counter()
        self.latencies: list[float] = []
        self.beats: list[float] = []  # heartbeat send times not answered yet
        self.beat_latencies: list[float] = []
        self.last_ack = self.started_at = self.last_sent = 0.0

    def frame(self, slot: int) -> tuple[str, str]:
        if MIX[slot % len(MIX)] == "M":
            stream, kind = "mirror", "mirror.batch"
            text = f"edit {self.seqs[stream]}\n"
            payload = {"project": "load", "changes": [file_change(f"notes/{slot % 7}.md", text)]}
        else:
            stream, (kind, payload) = "tasks", next(self.tasks)
        return stream, self.sequenced(stream, kind, payload)

    def sequenced(self, stream: str, kind: str, payload: dict) -> str:
        self.seqs[stream] += 1
        self.sent[(stream, self.seqs[stream])] = time.perf_counter()
        return json.dumps({"type": kind, "stream": stream, "seq": self.seqs[stream], "payload": payload})

    async def run(self, start_at: float, stop_at: float):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with websockets.connect(self.url, additional_headers=headers, max_queue=None) as ws:
            reader = asyncio.create_task(self._read(ws))
            projects = {"projects": [{"name": "load"}]}
            await ws.send(self.sequenced("mirror", "mirror.projects", projects))
            await asyncio.sleep(max(0, start_at - time.perf_counter()))
            self.started_at = time.perf_counter()
            beating = asyncio.create_task(self._beat(ws))
            for slot in itertools.count():
                if time.perf_counter() >= stop_at:
                    break
                await ws.send(self.frame(slot)[1])
                self.last_sent = time.perf_counter()
                await asyncio.sleep(1 / RATE)
            beating.cancel()
            deadline = time.perf_counter() + 300  # let a backlog drain: slow is not lost
            while len(self.acks) < len(self.sent) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            reader.cancel()

    async def _beat(self, ws):
        while True:
            self.beats.append(time.perf_counter())
            await ws.send('{"type": "heartbeat"}')
            await asyncio.sleep(1)

    async def _read(self, ws):
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "heartbeat_ack":
                self.beat_latencies.append((time.perf_counter() - self.beats.pop(0)) * 1000)
            elif message.get("type") == "ack":
                key = (message["stream"], message["seq"])
                self.acks[key] += 1
                self.last_ack = time.perf_counter()
                if self.acks[key] == 1 and key in self.sent:
                    self.latencies.append((time.perf_counter() - self.sent[key]) * 1000)


async def drive(url: str, agents: list[Agent], pids: list[int], host_ids=()) -> tuple[int, float]:
    """Run the agents; the hub's memory at half time, and at the end of the
    sending how far behind the oldest last_seen_at is (seconds)."""
    start_at = time.perf_counter() + 2 + len(agents) * 0.01
    stop_at = start_at + SECONDS
    runs = [asyncio.create_task(agent.run(start_at, stop_at)) for agent in agents]
    await asyncio.sleep(max(0, start_at + SECONDS / 2 - time.perf_counter()))
    rss = sum(rss_kib(pid) for pid in pids)
    await asyncio.sleep(max(0, stop_at - time.perf_counter()))
    lag = await asyncio.to_thread(_presence_lag, host_ids) if host_ids else 0.0
    await asyncio.gather(*runs)
    return rss, lag


def _presence_lag(host_ids: list[int]) -> float:
    seen = Host.objects.filter(id__in=host_ids).values_list("last_seen_at", flat=True)
    return (timezone.now() - min(seen)).total_seconds()


def summarize(agents: list[Agent]) -> dict:
    """The figures of a run; the rate over the time from the first message sent to the last ack."""
    sent = sum(len(a.sent) for a in agents)
    seconds = max(a.last_ack for a in agents) - min(a.started_at for a in agents)
    acked = sum(len(a.acks) for a in agents)
    latencies = [ms for a in agents for ms in a.latencies]
    beats = [ms for a in agents for ms in a.beat_latencies]
    return {
        "sent": sent,
        "lost": sent - acked,
        "acked twice": sum(1 for a in agents for count in a.acks.values() if count > 1),
        "applied a second": acked / seconds,
        "p50": pctl(latencies, 0.5),
        "p95": pctl(latencies, 0.95),
        "p99": pctl(latencies, 0.99),
        "beat max": max(beats, default=0),
        "sending seconds": max(a.last_sent for a in agents) - min(a.started_at for a in agents),
        "seconds": seconds,
    }


def fleet(count: int = AGENTS) -> list[tuple[Host, str, list[int]]]:
    team = Team.objects.create(name="Load")
    now = timezone.now()
    hosts = []
    for n in range(count):
        host, token = make_host(team, f"load-{n}")
        project = Project.objects.create(host=host, name="load")
        tasks = Task.objects.bulk_create(
            Task(team=team, host=host, project=project, executor="codex", prompt="build it",
                 state=TaskState.ASSIGNED, assigned_at=now, received_at=now, expires_at=now + DAY)
            for _ in range(int(SECONDS * RATE * 0.7 / (LOGS_PER_TASK + 3)) + 1)
        )  # fmt: skip
        hosts.append((host, token, [task.id for task in tasks]))
    return hosts


def echo_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(port)], stdout=subprocess.PIPE)
    assert process.stdout.readline().strip() == b"ready"
    return process, f"ws://127.0.0.1:{port}/"


class EchoAgent(Agent):
    """The same frames to a server that sends each back: its "ack" is the echo."""

    async def _read(self, ws):
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "heartbeat":
                self.beat_latencies.append((time.perf_counter() - self.beats.pop(0)) * 1000)
            elif "seq" in message:
                key = (message["stream"], message["seq"])
                self.acks[key] += 1
                self.last_ack = time.perf_counter()
                if self.acks[key] == 1:
                    self.latencies.append((time.perf_counter() - self.sent[key]) * 1000)


class Run:
    """One shape under the load: its agents and what the hub processes spent."""

    def __init__(self, name: str, agents: list[Agent], hosts, cpu: float, kib_per_link: float, lag: float):
        self.name, self.agents, self.hosts = name, agents, hosts
        self.cpu, self.kib_per_link, self.lag = cpu, kib_per_link, lag


def hub_run(name: str, hubs: int, behind_proxy: bool, log_dir: Path) -> Run:
    """Fresh hosts on `hubs` daphne processes (behind HAProxy if asked), under the load."""
    hosts = fleet()
    extra = dict(
        HOST_CONNECTS_PER_TOKEN="100000", HOST_LINK_RATE="1000", HOST_PRESENCE_INTERVAL="5",
        TEST_DB_CONN_MAX_AGE="600", LOG_LEVEL="WARNING", TRUST_PROXY_HEADERS=str(behind_proxy).lower(),
    )  # fmt: skip
    if REDIS_URL:
        extra["REDIS_URL"] = REDIS_URL
    processes = [Hub(hub_env(**extra), log_dir, proxy_headers=behind_proxy) for _ in range(hubs)]
    proxy = None
    if behind_proxy:
        from tests.kits.processes import Proxy

        proxy = Proxy([hub.url for hub in processes], log_dir)
    url = (proxy.url if proxy else processes[0].url).replace("http", "ws") + "/ws/host/"
    pids = [hub.popen.pid for hub in processes]
    try:
        idle, cpu_before = sum(rss_kib(pid) for pid in pids), [_cpu_seconds(pid) for pid in pids]
        if os.environ.get("BENCH_PROFILE"):
            for pid in pids:
                _profile(pid)
        agents = [Agent(url, token, ids) for _, token, ids in hosts]
        started = time.perf_counter()
        rss, lag = asyncio.run(drive(url, agents, pids, [h.id for h, _, _ in hosts]))
        cpu = sum(_cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True))
        cpu /= time.perf_counter() - started
    finally:
        for hub in processes:
            hub.stop()
        if proxy:
            proxy.stop()
    return Run(name, agents, hosts, cpu, (rss - idle) / AGENTS, lag)


def echo_run() -> Run:
    echo, echo_url = echo_server()
    try:
        agents = [EchoAgent(echo_url, None, list(range(1, 11))) for _ in range(AGENTS)]
        asyncio.run(drive(echo_url, agents, [echo.pid]))
    finally:
        echo.terminate()
        echo.wait(10)
    return Run("bare echo", agents, [], 0, 0, 0)


def main() -> None:
    if HUBS > 1 and not REDIS_URL:
        sys.exit("two hubs need BENCH_DATABASE_URL and BENCH_REDIS_URL (shared Postgres and Redis)")
    log_dir = Path(os.environ["CODEXHUB_DATA_DIR"])
    if HUBS == 1:
        runs = [hub_run("1 daphne", 1, False, log_dir)]
    else:  # the same hop for both: one process behind the proxy, then HUBS
        runs = [hub_run("1 behind HAProxy", 1, True, log_dir)]
        runs.append(hub_run(f"{HUBS} behind HAProxy", HUBS, True, log_dir))
    report([*runs, echo_run()])


def _profile(pid: int) -> subprocess.Popen:
    """py-spy on a hub for the run (BENCH_PROFILE=dir): collapsed stacks, for
    finding where the time goes (pip install py-spy)."""
    out = Path(os.environ["BENCH_PROFILE"]) / f"hub-{pid}.txt"
    args = ["py-spy", "record", "-p", str(pid), "-d", str(int(SECONDS + 2)), "-r", "200", "-f", "raw"]
    args += ["-o", str(out)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(runs: list[Run]) -> None:
    figures = [summarize(run.agents) for run in runs]
    shape = "Postgres, channels-redis" if REDIS_URL else "SQLite, in-memory layer"
    print(f"{AGENTS} agents x {RATE:g} msg/s x {SECONDS:g} s + 1 heartbeat/s each ({shape})")
    print(f"{'':28}" + "".join(f"{run.name:>20}" for run in runs) + f"{'ratio':>8}")
    for key in ("sent", "lost", "acked twice"):
        print(f"{key:28}" + "".join(f"{figure[key]:>20}" for figure in figures))
    for key, label in (("sending seconds", "seconds of sending"), ("seconds", "seconds to the last ack"),
                       ("applied a second", "acked messages a second"), ("p50", "ack latency p50 (ms)"),
                       ("p95", "ack latency p95 (ms)"), ("p99", "ack latency p99 (ms)"),
                       ("beat max", "heartbeat ack max (ms)")):  # fmt: skip
        bare, first = figures[-1][key], figures[0][key]
        ratio = first / bare if bare else float("nan")
        print(f"{label:28}" + "".join(f"{figure[key]:>20.1f}" for figure in figures) + f"{ratio:>8.1f}")
    print("(ratio: the first column over the bare echo server's)")
    for run in runs[:-1]:
        print(f"{run.name}: memory per link {run.kib_per_link:.0f} KiB, hub CPU {run.cpu:.2f} s per s, "
              f"oldest last_seen_at {run.lag:.1f} s behind at the end of the sending, "
              f"{audit(run)} streams' applied seq differing from what was sent")  # fmt: skip
    if len(runs) > 2:
        print(f"throughput {runs[1].name} / {runs[0].name}: "
              f"{figures[1]['applied a second'] / figures[0]['applied a second']:.2f}")  # fmt: skip


def audit(run: Run) -> int:
    applied = {(h, s): seq for h, s, seq in HostStream.objects.values_list("host_id", "name", "last_seq")}
    return sum(
        1
        for (host, _, _), agent in zip(run.hosts, run.agents, strict=True)
        for stream, seq in agent.seqs.items()
        if applied.get((host.id, stream)) != seq
    )


if __name__ == "__main__":
    main()
