"""The hub as the README's Deploy section runs it, for the soak and outage tests.

The environment and the commands are read from that section itself, so a
setting a user copies from it is the setting these tests run. Only what a test
must change is changed: where Postgres and Redis are, the port, a private Celery
queue and schedule file, and a short heartbeat so that a minute holds many.
The test then talks to it as the TLS proxy in front of it would: the public
host name, `X-Forwarded-Proto: https`, the public origin on /ws/ui/.
"""

import asyncio
import contextlib
import hashlib
import json
import secrets
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import websockets
from django.conf import settings

from tests.kits.processes import ROOT, Process, child_database_url, free_port, wait_until

SOAK_HEARTBEAT = 2.0  # seconds between a host's heartbeats in these tests


def readme_deploy() -> tuple[dict[str, str], list[list[str]]]:
    """The exported variables and the commands of the README's Deploy block."""
    section = (ROOT / "README.md").read_text().split("\n## Deploy\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    env: dict[str, str] = {}
    commands: list[list[str]] = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "export":
            env.update(word.split("=", 1) for word in words[1:])
        else:
            commands.append(words)
    return env, commands


def command(commands: list[list[str]], *words: str) -> list[str]:
    """The README command that contains these words, with its program made absolute."""
    for argv in commands:
        if all(any(arg == word or arg.endswith("/" + word) for arg in argv) for word in words):
            return [str(ROOT / argv[0]), *argv[1:]]
    raise LookupError(f"the README's Deploy section has no command with {words}")


class Deployment:
    """daphne, a Celery worker and beat started with the README's settings."""

    def __init__(self, *, redis_url: str, logs: Path):
        readme_env, self.commands = readme_deploy()
        self.public_host = readme_env["ALLOWED_HOSTS"].split(",")[0]
        self.origin = readme_env["CSRF_TRUSTED_ORIGINS"].split(",")[0]
        secret_file = logs / "secret_key"
        secret_file.write_text(settings.SECRET_KEY)  # the test signs sessions the hub must read
        secret_file.chmod(0o600)
        self.env = {key: value for key, value in _base_env().items()}
        self.env.update(readme_env)
        self.env.update(
            DATABASE_URL=child_database_url(),
            REDIS_URL=redis_url,
            SECRET_KEY_FILE=str(secret_file),
            CELERY_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
            HOST_HEARTBEAT_INTERVAL=str(SOAK_HEARTBEAT),
            HOST_HEARTBEAT_TIMEOUT=str(3 * SOAK_HEARTBEAT),
            TASK_SWEEP_INTERVAL="2",
            PYTHONUNBUFFERED="1",
        )
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[Process] = []

    def start(self) -> "Deployment":
        self.check_deploy()
        daphne = command(self.commands, "daphne")
        daphne[daphne.index("--port") + 1] = str(self.port)
        self.daphne = self._start(daphne, "daphne")
        wait_until(self.healthy, timeout=30, what="the deployed daphne's /healthz")
        worker = command(self.commands, "celery", "worker")
        self.worker = self._start(worker, "worker")
        wait_until(lambda: " ready." in self.worker.output(), timeout=30, what="the Celery worker")
        beat = command(self.commands, "celery", "beat") + ["--schedule", str(self.logs / "beat-schedule")]
        self.beat = self._start(beat, "beat")
        return self

    def check_deploy(self) -> None:
        """`manage.py check --deploy` prints no issue with the README's settings."""
        import subprocess

        argv = command(self.commands, "check", "--deploy")
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "no issues" in done.stdout, done.stdout + done.stderr

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def __enter__(self) -> "Deployment":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _start(self, argv: list[str], name: str) -> Process:
        process = Process(argv, self.env, self.logs / f"{name}-{time.monotonic_ns()}.log")
        self.processes.append(process)
        return process

    # Talking to it as its proxy would ----------------------------------------------

    def proxy_headers(self) -> dict[str, str]:
        return {"Host": self.public_host, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}

    def get(self, path: str, cookies: dict[str, str] | None = None) -> tuple[int, str]:
        return self.request("GET", path, cookies=cookies)

    def request(self, method: str, path: str, *, cookies=None, form: dict | None = None) -> tuple[int, str]:
        headers = self.proxy_headers()
        cookies = dict(cookies or {})
        data = None
        if form is not None:
            csrf = secrets.token_hex(16)  # a 32-character CSRF secret, as Django's cookie holds
            cookies["csrftoken"] = csrf
            headers.update({"X-CSRFToken": csrf, "Origin": self.origin, "Referer": self.origin + path})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            data = urllib.parse.urlencode(form).encode()
        if cookies:
            headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in cookies.items())
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def healthy(self) -> bool:
        for process in self.processes:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.log_path.name} exited:\n{process.output()}")
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def health(self) -> dict:
        return json.loads(self.get("/healthz")[1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _base_env() -> dict[str, str]:
    import os

    drop = ("PYTEST", "DJANGO", "DATABASE", "REDIS", "CELERY", "HOST_", "TASK_")
    return {key: value for key, value in os.environ.items() if not key.startswith(drop)}


# Simulated links ---------------------------------------------------------------------


class HostLink:
    """One host's agent, as far as the link goes: hello, projects, heartbeats,
    a mirror batch now and then, and tasks run at once. Records every ack and
    every close it did not ask for."""

    def __init__(self, url: str, token: str, project: str):
        self.url, self.token, self.project = url, token, project
        self.seq: Counter[str] = Counter()
        self.acks: Counter[tuple[str, int]] = Counter()
        self.heartbeat_acks = 0
        self.batches = 0
        self.batch_times: list[float] = []
        self.heartbeat_ack_times: list[float] = []
        self.tasks_done: list[int] = []
        self.errors: list[dict] = []
        self.closed_by_hub: list[int | None] = []
        self.sent: set[tuple[str, int]] = set()
        self.ws = None

    async def run(self, until: float, batch_every: float, busy=None) -> None:
        """Heartbeat until `until`, with a batch every `batch_every` s while `busy()` (always if None)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with websockets.connect(self.url, additional_headers=headers, max_queue=None) as ws:
            self.ws = ws
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome", welcome
            self.seq.update(welcome["streams"])
            executors = [{"name": "echo", "label": "Echo", "kind": "command"}]
            hello = {"agent_version": "soak", "platform": "linux", "capabilities": ["agent"]}
            await self._send("host", "hello", {**hello, "executors": executors})
            await self._send("mirror", "mirror.projects", {"projects": [{"name": self.project}]})
            reader = asyncio.create_task(self._read())
            next_batch = time.monotonic() + batch_every * (hash(self.token) % 100) / 100
            try:
                while time.monotonic() < until and not reader.done():
                    await ws.send(json.dumps({"type": "heartbeat"}))
                    if time.monotonic() >= next_batch:
                        if busy is None or busy():
                            await self.send_batch()
                        next_batch += batch_every
                    await asyncio.sleep(min(SOAK_HEARTBEAT, max(0, until - time.monotonic())))
                await wait_for(lambda: self.sent <= self.acks.keys() or reader.done(), "the last acks")
            finally:
                reader.cancel()

    @property
    def ready(self) -> bool:
        """The hub applied its hello and project list."""
        return self.acks[("host", 1)] > 0 and self.acks[("mirror", 1)] > 0

    async def send_batch(self) -> None:
        self.batches += 1
        self.batch_times.append(time.monotonic())
        text = f"edit {self.batches}\n"
        digest = hashlib.sha256(text.encode()).hexdigest()
        change = {"op": "upsert", "path": "soak.md", "kind": "file", "size": len(text), "mtime": 1.0,
                  "hash": digest, "text": text, "binary": False}  # fmt: skip
        batch = {"project": self.project, "reset": False, "changes": [change]}
        await self._send("mirror", "mirror.batch", batch)

    async def _send(self, stream: str, kind: str, payload: dict) -> None:
        self.seq[stream] += 1
        self.sent.add((stream, self.seq[stream]))
        message = {"type": kind, "stream": stream, "seq": self.seq[stream], "payload": payload}
        await self.ws.send(json.dumps(message))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                await self._handle(json.loads(raw))
        except websockets.ConnectionClosed as closed:
            self.closed_by_hub.append(closed.rcvd.code if closed.rcvd else None)
            return
        self.closed_by_hub.append(self.ws.close_code)

    async def _handle(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "ack":
            self.acks[(message["stream"], message["seq"])] += 1
        elif kind == "heartbeat_ack":
            self.heartbeat_acks += 1
            self.heartbeat_ack_times.append(time.monotonic())
        elif kind == "task.assign":
            task_id = message["task"]["id"]
            if task_id in self.tasks_done:
                return
            self.tasks_done.append(task_id)
            for event, payload in (
                ("task.received", {}),
                ("task.started", {}),
                ("task.log", {"seq": 1, "text": "done\n"}),
                ("task.finished", {"outcome": "succeeded", "exit_code": 0, "duration": 0.1, "changes": []}),
            ):
                await self._send("tasks", event, {"task_id": task_id, **payload})
        elif kind == "error":
            self.errors.append(message)


class PhoneSocket:
    """One open page's /ws/ui/: subscribed to some projects, pinging as pages do."""

    def __init__(self, url: str, origin: str, session_key: str, projects: list[int]):
        self.url, self.origin, self.session_key, self.projects = url, origin, session_key, projects
        self.events: Counter[str] = Counter()
        self.mirror_events: Counter[int] = Counter()
        self.mirror_times: list[float] = []
        self.pong_times: list[float] = []
        self.presence: list[dict] = []
        self.hello: dict | None = None
        self.closed_by_hub: list[int | None] = []

    async def run(self, stop: asyncio.Event, ping_every: float) -> None:
        """Ping every `ping_every` seconds until the test sets `stop`."""
        headers = {"Origin": self.origin, "Cookie": f"sessionid={self.session_key}"}
        async with websockets.connect(self.url, additional_headers=headers, max_queue=None) as ws:
            self.hello = json.loads(await ws.recv())
            for project in self.projects:
                await ws.send(json.dumps({"type": "subscribe", "project": project}))
            reader = asyncio.create_task(self._read(ws))
            try:
                while not stop.is_set() and not reader.done():
                    await ws.send(json.dumps({"type": "ping"}))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), ping_every)
            finally:
                reader.cancel()  # before this side closes: a close the test makes is not the hub's

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                self.events[message["type"]] += 1
                if message["type"] == "mirror.changed":
                    self.mirror_events[message["project"]] += 1
                    self.mirror_times.append(time.monotonic())
                elif message["type"] == "pong":
                    self.pong_times.append(time.monotonic())
                elif message["type"] == "host.presence":
                    self.presence.append((time.monotonic(), message["host"]))
        except websockets.ConnectionClosed as closed:
            self.closed_by_hub.append(closed.rcvd.code if closed.rcvd else None)


# A fleet for these tests --------------------------------------------------------------


def signed_in_fleet(client, prefix: str, hosts: int, phones: int):
    """A team with active hosts, one project each, and signed-in phone sessions.
    Returns (team, [(host, token)], [project], [(user, session key)])."""
    from accounts.models import Membership, Role, Team
    from projects.models import Project
    from tests.kits.common import login, make_host, make_user

    team = Team.objects.create(name="Fleet")
    linked = [make_host(team, f"{prefix}-{n:02}") for n in range(hosts)]
    projects = [Project.objects.create(host=host, name="soak") for host, _ in linked]
    sessions = []
    for n in range(phones):
        user = make_user(f"phone{n}@example.com")
        Membership.objects.create(team=team, user=user, role=Role.OWNER if n == 0 else Role.MEMBER)
        client.cookies.clear()
        sessions.append((user, login(client, user).cookies["sessionid"].value))
    return team, linked, projects, sessions


def links_and_phones(deployed: Deployment, hosts, projects, sessions):
    """A link per host, and a page per session watching every n-th project."""
    ws = deployed.url.replace("http", "ws")
    links = [HostLink(f"{ws}/ws/host/", token, "soak") for _, token in hosts]
    count = len(sessions)
    phones = [
        PhoneSocket(f"{ws}/ws/ui/", deployed.origin, key, [p.id for p in projects[n::count]])
        for n, (_, key) in enumerate(sessions)
    ]
    return links, phones


def assert_links_held(links, phones, hosts) -> None:
    """Nothing closed that the test did not close itself, and each host's
    mirror messages were acked once each, up to the last one it sent."""
    assert [link.closed_by_hub for link in links if link.closed_by_hub] == []
    assert [phone.closed_by_hub for phone in phones if phone.closed_by_hub] == []
    for link, (host, _) in zip(links, hosts, strict=True):
        assert all(count == 1 for count in link.acks.values())
        assert host.streams.get(name="mirror").last_seq == link.seq["mirror"]


async def wait_for(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)


async def linked(links, phones, until: float, stop: asyncio.Event, *, ping_every, batch_every, busy=None):
    """Open the pages (until `stop` is set), subscribe, then the links (until
    `until`); returns the pages' and the links' running tasks."""
    pages = [asyncio.create_task(phone.run(stop, ping_every=ping_every)) for phone in phones]
    expected = sum(len(phone.projects) for phone in phones)
    await wait_for(lambda: sum(p.events["subscribed"] for p in phones) == expected, "the subscriptions")
    hosts = [asyncio.create_task(link.run(until, batch_every=batch_every, busy=busy)) for link in links]
    await wait_for(lambda: all(link.ready for link in links), "every host's hello to be applied")
    return pages, hosts


def closing_connection(function, *args):
    """ORM work on a worker thread, closing that thread's connection after
    (an open one would keep the test database from being dropped)."""
    from django.db import connection

    try:
        return function(*args)
    finally:
        connection.close()
