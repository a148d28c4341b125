"""SECURITY.md 87: tasks through one daphne on the embedded default (SQLite,
in-memory layer, jobs in-process). AGENTS fake agents hold their links; a few
HTTP clients post TASKS trivial tasks round-robin over the hosts through
`/tasks/new/`; each agent dedupes assignments by id in its ledger and reports
received, started and finished (succeeded) on the `tasks` stream.

Dispatch latency (POST starts -> the agent reads `task.assign`) beside the
link's bare round trip (heartbeat -> heartbeat_ack) in the same run; create
and finish throughput; and the audit: every task in exactly one ledger,
started once, every row `succeeded`.

    python bench/tasks.py [AGENTS] [TASKS] [CLIENTS]     (50 1000 4 by default)

With BENCH_DATABASE_URL and BENCH_REDIS_URL: Postgres, channels-redis and a
Celery worker for the dispatch job, as deployed.
"""

import asyncio
import http.client
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from _setup import ROOT, django_on_temp_db, hub_healthy, pctl

AGENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
TASKS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
CLIENTS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")  # with BENCH_DATABASE_URL: the production shape
PINGS = 500
NOOP = {"name": "noop", "label": "No-op", "kind": "command", "needs_file": False}
# Limits that would otherwise throttle the bench, not what it measures.
os.environ.update(
    TASK_CREATE_RATE="100000/m",
    TASK_QUEUE_PER_HOST="100000",
    HOST_CONNECTS_PER_TOKEN="100000",
    HOST_LINK_RATE="100000",
    HOST_LINK_BURST="100000",
    HOST_HEARTBEAT_INTERVAL="600",
)
django_on_temp_db()
logging.getLogger("projects.services").setLevel(logging.WARNING)  # one line per project made

import websockets  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import Membership, Role, Team  # noqa: E402
from devices.models import HostStream  # noqa: E402
from tasks.models import Task  # noqa: E402
from tests.kits.common import login, make_host, make_user  # noqa: E402
from tests.kits.processes import free_port, wait_until  # noqa: E402
from tests.kits.task_stream import offering, shared_project  # noqa: E402

BIN = Path(sys.executable).parent


class FakeAgent:
    """One host's link: a ledger of task ids, its own `tasks` seq counter."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.ledger: dict[int, float] = {}  # task id -> when the first assign was read
        self.copies: Counter[int] = Counter()  # task.assign frames read per id
        self.started: Counter[int] = Counter()
        self.finished_acked: dict[int, float] = {}
        self.pending: dict[int, tuple[str, int]] = {}  # seq -> (type, task id) until acked
        self.errors: list[dict] = []
        self.pong: asyncio.Future | None = None
        self.dropped = ""
        self.seq = 0

    async def connect(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        self.ws = await websockets.connect(self.url, additional_headers=headers, max_queue=None)
        welcome = json.loads(await self.ws.recv())
        assert welcome["type"] == "welcome", welcome
        self.seq = welcome["streams"].get("tasks", 0)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "task.assign":
                    await self._assigned(message["task"]["id"], time.perf_counter())
                elif kind == "ack" and message.get("stream") == "tasks":
                    sent = self.pending.pop(message["seq"], None)
                    if sent and sent[0] == "task.finished":
                        self.finished_acked[sent[1]] = time.perf_counter()
                elif kind == "heartbeat_ack" and self.pong and not self.pong.done():
                    self.pong.set_result(time.perf_counter())
                elif kind == "error":
                    self.errors.append(message)
        except websockets.ConnectionClosed as exc:
            self.dropped = str(exc)  # reported; what it had not finished shows as missing

    async def _assigned(self, task_id: int, at: float) -> None:
        self.copies[task_id] += 1
        if task_id in self.ledger:
            return  # a copy: started at most once
        self.ledger[task_id] = at
        await self._send("task.received", {"task_id": task_id})
        self.started[task_id] += 1
        await self._send("task.started", {"task_id": task_id})
        done = {"task_id": task_id, "outcome": "succeeded", "exit_code": 0, "duration": 0, "changes": []}
        await self._send("task.finished", done)

    async def _send(self, kind: str, payload: dict) -> None:
        self.seq += 1
        self.pending[self.seq] = (kind, payload["task_id"])
        await self.ws.send(json.dumps({"type": kind, "stream": "tasks", "seq": self.seq, "payload": payload}))

    async def heartbeat(self) -> float:
        """Milliseconds from sending a heartbeat to reading its ack."""
        self.pong = asyncio.get_running_loop().create_future()
        begin = time.perf_counter()
        await self.ws.send('{"type": "heartbeat"}')
        return (await asyncio.wait_for(self.pong, 300) - begin) * 1000

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


class Poster:
    """A keep-alive HTTP client posting the task form as the signed-in owner."""

    def __init__(self, port: int, session: str, csrf: str):
        self.port = port
        self.headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"sessionid={session}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "Origin": f"http://127.0.0.1:{port}",
        }

    def run(self, jobs: list[int]) -> list[tuple[int, float, float, int]]:
        """(task id or -HTTP status, POST start, response end, project) for each project id."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        done = []
        for project_id in jobs:
            body = urlencode(
                {"project": project_id, "executor": "noop", "prompt": "Do nothing", "target": ""}
            )
            headers = dict(
                self.headers, Referer=f"http://127.0.0.1:{self.port}/tasks/new/?project={project_id}"
            )
            begin = time.perf_counter()
            try:
                connection.request("POST", "/tasks/new/", body, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                connection.close()  # reopened on the next request
                done.append((0, begin, time.perf_counter(), project_id))  # no answer: "refused" 0
                continue
            end = time.perf_counter()
            location = response.getheader("Location") or ""
            task_id = (
                int(location.rstrip("/").rsplit("/", 1)[1]) if response.status == 302 else -response.status
            )
            done.append((task_id, begin, end, project_id))
        connection.close()
        return done


def csrf_token(port: int, session: str, project_id: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", f"/tasks/new/?project={project_id}", headers={"Cookie": f"sessionid={session}"})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, f"GET /tasks/new/ answered {response.status}"
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        if name.strip() == "csrftoken":
            return rest.split(";", 1)[0]
    raise RuntimeError("no csrftoken cookie")


async def drive(port: int, tokens: list[str], projects: list[int], session: str, csrf: str) -> dict:
    url = f"ws://127.0.0.1:{port}/ws/host/"
    agents = [FakeAgent(url, token) for token in tokens]
    await asyncio.gather(*(agent.connect() for agent in agents))

    idle = [await agents[n % AGENTS].heartbeat() for n in range(PINGS)]

    loaded: list[float] = []
    stop = asyncio.Event()

    async def pinger():
        n = 0
        while not stop.is_set() and not agents[n % AGENTS].dropped:
            try:
                loaded.append(await agents[n % AGENTS].heartbeat())
            except (TimeoutError, websockets.ConnectionClosed):
                return
            n += 1
            await asyncio.sleep(0.05)

    jobs = [[projects[n % AGENTS] for n in range(start, TASKS, CLIENTS)] for start in range(CLIENTS)]
    loop = asyncio.get_running_loop()
    pinging = asyncio.create_task(pinger())
    with ThreadPoolExecutor(CLIENTS) as pool:
        poster = Poster(port, session, csrf)
        results = await asyncio.gather(*(loop.run_in_executor(pool, poster.run, job) for job in jobs))
    posts = sorted((post for result in results for post in result), key=lambda post: post[1])
    created = [post for post in posts if post[0] > 0]
    deadline = time.perf_counter() + 300
    while sum(len(a.finished_acked) for a in agents) < len(created) and time.perf_counter() < deadline:
        if all(agent.dropped for agent in agents):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await pinging
    await asyncio.gather(*(agent.close() for agent in agents), return_exceptions=True)
    return {"agents": agents, "posts": posts, "idle": idle, "loaded": loaded}


def setup() -> tuple[list[tuple[int, str]], list[int], str]:
    """The owner's session (second factor passed) and AGENTS hosts, each with a
    project and the no-op executor."""
    team = Team.objects.create(name="Bench")
    user = make_user("bench@example.com")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    client = login(Client(), user, verified=True)
    hosts, projects = [], []
    for n in range(AGENTS):
        host, token = make_host(team, f"bench-{n}")
        offering(host, NOOP)
        projects.append(shared_project(host, name=f"project-{n}").id)
        hosts.append((host.id, token))
    return hosts, projects, client.cookies["sessionid"].value


def audit(agents: list[FakeAgent], posts: list, hosts: list[tuple[int, str]], projects: list[int]) -> dict:
    created = {post[0]: post for post in posts if post[0] > 0}
    owner = {project: n for n, project in enumerate(projects)}  # project -> agent index
    in_ledgers: Counter[int] = Counter()
    started: Counter[int] = Counter()
    wrong_host = unknown = 0
    for n, agent in enumerate(agents):
        in_ledgers.update(agent.ledger.keys())
        started.update(agent.started)
        unknown += sum(1 for task_id in agent.ledger if task_id not in created)
        wrong_host += sum(
            1 for task_id in agent.ledger if task_id in created and owner[created[task_id][3]] != n
        )
    states = Counter(Task.objects.values_list("state", flat=True))
    positions = dict(HostStream.objects.filter(name="tasks").values_list("host_id", "last_seq"))
    return {
        "created": len(created),
        "refused": Counter(-post[0] for post in posts if post[0] <= 0),  # HTTP status, 0: no answer
        "missing": sum(1 for task_id in created if in_ledgers[task_id] == 0),
        "in two ledgers": sum(1 for task_id in created if in_ledgers[task_id] > 1),
        "started twice": sum(1 for task_id in created if started[task_id] > 1),
        "wrong host": wrong_host,
        "unknown": unknown,
        "copies": sum(sum(agent.copies.values()) for agent in agents) - sum(in_ledgers.values()),
        "errors": [error for agent in agents for error in agent.errors],
        "states": states,
        "seq mismatches": sum(
            1
            for (host_id, _), agent in zip(hosts, agents, strict=True)
            if positions.get(host_id, 0) != agent.seq
        ),
    }


def hub_env() -> dict[str, str]:
    """The bench's settings; with BENCH_REDIS_URL, Redis carries the layer and the jobs."""
    env = dict(os.environ)
    if REDIS_URL:
        env.update(REDIS_URL=REDIS_URL, CELERY_QUEUE=f"bench-{os.getpid()}")
    return env


def main() -> None:
    hosts, projects, session = setup()
    port = free_port()
    log = open(os.environ.get("BENCH_HUB_LOG", os.devnull), "wb")  # noqa: SIM115
    args = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "codexhub.asgi:application"]
    hub = subprocess.Popen(args, cwd=ROOT, env=hub_env(), stdout=log, stderr=subprocess.STDOUT)
    # With Redis the dispatch job runs in a Celery worker, as deployed.
    worker_args = [str(BIN / "celery"), "--app", "codexhub", "worker", "--pool", "solo", "--without-gossip",
                   "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
    worker = None
    if REDIS_URL:
        worker = subprocess.Popen(worker_args, cwd=ROOT, env=hub_env(), stdout=log, stderr=subprocess.STDOUT)
    begin = time.perf_counter()
    try:
        wait_until(lambda: hub_healthy(port), timeout=30, what="daphne")
        csrf = csrf_token(port, session, projects[0])
        run = asyncio.run(drive(port, [token for _, token in hosts], projects, session, csrf))
        died = hub.poll()  # None: still serving, as it should be
        wall = time.perf_counter() - begin
    finally:
        for process in (hub, worker):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    agents, posts = run["agents"], run["posts"]
    result = audit(agents, posts, hosts, projects)

    received = {task_id: at for agent in agents for task_id, at in agent.ledger.items()}
    created = [post for post in posts if post[0] > 0]
    dispatch = [(received[post[0]] - post[1]) * 1000 for post in created if post[0] in received]
    post_ms = [(end - start) * 1000 for _, start, end, _ in posts]
    before_302 = sum(1 for task_id, _, end, _ in created if received.get(task_id, end) < end)
    first = posts[0][1]
    last_post = max(end for _, _, end, _ in posts)
    finished = [at for agent in agents for at in agent.finished_acked.values()]
    last_finished = max(finished) if finished else float("nan")

    shape = (
        "Postgres, channels-redis, jobs in a Celery worker"
        if REDIS_URL
        else "SQLite, in-memory layer, jobs in-process"
    )
    print(f"{AGENTS} agents, {TASKS} tasks from {CLIENTS} HTTP clients, one daphne ({shape});")
    print("dispatch = POST /tasks/new/ starts -> the agent reads task.assign")
    print(f"{'':26}{'task dispatch':>15}{'link round trip':>17}{'ratio':>8}")
    for label, q in (("p50 (ms)", 0.5), ("p95 (ms)", 0.95)):
        ours, base = pctl(dispatch or [float("nan")], q), pctl(run["idle"], q)
        print(f"{label:26}{ours:>15.1f}{base:>17.2f}{ours / base:>8.1f}")
    print(f"link round trip: heartbeat -> heartbeat_ack, {PINGS} one at a time before the tasks")
    loaded = run["loaded"] or [float("nan")]
    print(
        f"link round trip during the tasks, one every 50 ms: p50 {pctl(loaded, 0.5):.1f} ms, "
        f"p95 {pctl(loaded, 0.95):.1f} ms (n={len(run['loaded'])})"
    )
    print(f"POST /tasks/new/ (302) p50 {pctl(post_ms, 0.5):.1f} ms, p95 {pctl(post_ms, 0.95):.1f} ms")
    print(f"assign read before the POST's 302 came back: {before_302}/{len(created)}")
    print(f"created  {len(created) / (last_post - first):8.1f} tasks/s  ({last_post - first:.2f} s)")
    print(f"finished {len(finished) / (last_finished - first):8.1f} tasks/s  ({last_finished - first:.2f} s)")
    print(
        f"created {result['created']}, refused {dict(result['refused'])}; missing {result['missing']}, "
        f"in two ledgers {result['in two ledgers']}, started twice {result['started twice']}, "
        f"on the wrong host {result['wrong host']}, not created {result['unknown']}; "
        f"extra assign copies {result['copies']}"
    )
    print(f"hub rows: {dict(result['states'])}; hub errors {len(result['errors'])} {result['errors'][:3]}")
    print(f"tasks stream positions differing from what the agent sent: {result['seq mismatches']}")
    dropped = [agent.dropped for agent in agents if agent.dropped]
    print(f"links dropped before the end: {len(dropped)} {dropped[:1]}")
    if died is not None:
        print(f"daphne exited during the run with code {died} (BENCH_HUB_LOG=path keeps its log)")
    print(f"run {wall:.1f} s (daphne start to the last task finished)")
    clean = (
        result["created"] == TASKS
        and not any(
            result[key] for key in ("missing", "in two ledgers", "started twice", "wrong host", "unknown")
        )
        and result["states"] == Counter(succeeded=TASKS)
        and not dropped
        and died is None
    )
    if not clean:
        print("AUDIT FAILED: see the counts above")
        sys.exit(1)


if __name__ == "__main__":
    main()
