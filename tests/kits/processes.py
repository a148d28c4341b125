"""Real processes for tests: daphne serving the hub, a Celery worker, Redis and
HAProxy in front of several hubs, on loopback, against the test database. Each
waits for its readiness with a timeout and is stopped (process group and all)
when the test ends."""

import contextlib
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_database_url() -> str:
    """The URL of the database pytest-django created, for child processes."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def hub_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ALLOW"))}
    env.update(
        DJANGO_SETTINGS_MODULE="codexhub.test_settings",
        DATABASE_URL=child_database_url(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        # A queue of this test's own: no other worker on the shared Redis takes its jobs.
        CELERY_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
    )
    env.update(extra)
    if not env.get("REDIS_URL"):
        env.setdefault("TASK_IN_PROCESS_BEAT", "true")  # no beat process without Redis: daphne sweeps
    return env


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class Process:
    # Every process a test started and has not stopped yet: the root conftest
    # stops them after each test, even when a fixture failed half-way.
    running: set["Process"] = set()

    def __init__(
        self, args: list[str], env: dict[str, str], log_path: Path, stdin: bytes = b"", cwd: Path = ROOT
    ):
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        Process.running.add(self)
        # What a person would type at the prompts, then end of input.
        self.popen.stdin.write(stdin)
        self.popen.stdin.close()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10) -> None:
        Process.running.discard(self)
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        # A test may have killed the leader alone: what it started (Celery's beat) lives on in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.log.close()


class Hub(Process):
    """daphne serving codexhub.asgi on a loopback port (a free one by default).
    `proxy_headers`: behind a Proxy, daphne takes the client's address from
    X-Forwarded-For, as the README's Deploy command does (`--proxy-headers`)."""

    def __init__(
        self, env: dict[str, str], log_dir: Path, port: int | None = None, proxy_headers: bool = False
    ):
        self.env, self.log_dir, self.proxy_headers = env, log_dir, proxy_headers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), "codexhub.asgi:application"]
        if proxy_headers:
            args.insert(-1, "--proxy-headers")
        log_path = log_dir / f"daphne-{self.port}-{time.monotonic_ns()}.log"
        super().__init__(args, env, log_path)
        wait_until(self._healthy, timeout=30, what=f"daphne on {self.url}")

    def restarted(self) -> "Hub":
        """Stop this daphne and start another on the same port."""
        self.stop()
        return Hub(self.env, self.log_dir, port=self.port, proxy_headers=self.proxy_headers)

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: nothing closes cleanly."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def _healthy(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False


class Worker(Process):
    """A Celery worker consuming the hub's queue from Redis, with the beat
    scheduler inside it (housekeeping) unless `beat` is False."""

    def __init__(self, env: dict[str, str], log_dir: Path, beat: bool = True):
        args = [
            str(BIN / "celery"), "--app", "codexhub", "worker", "--pool", "solo",
            "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]  # fmt: skip
        name = f"celery-{time.monotonic_ns()}"
        if beat:
            args += ["--beat", "--schedule", str(log_dir / f"{name}-beat-schedule")]
        super().__init__(args, env, log_dir / f"{name}.log")
        wait_until(self._ready, timeout=30, what="the Celery worker")

    def _ready(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"celery exited:\n{self.output()}")
        return " ready." in self.output()


@contextlib.contextmanager
def hub_with_worker(env: dict[str, str], log_dir: Path):
    """daphne serving the hub and, when `env` names a Redis, a Celery worker
    started before it; both stopped afterwards, the hub first."""
    started: list[Process] = []
    try:
        if env.get("REDIS_URL"):
            started.append(Worker(env, log_dir))
        started.append(Hub(env, log_dir))
        yield started[-1]
    finally:
        for process in reversed(started):
            process.stop()


def agent_env(**extra: str) -> dict[str, str]:
    """What a workstation's shell would have: no Django, no hub secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTEST", "DATABASE", "REDIS"))}
    env.update(
        PYTHONUNBUFFERED="1",
        CODEXHUB_AGENT_BACKOFF_BASE="0.2",
        CODEXHUB_AGENT_BACKOFF_CAP="1",
    )
    env.update(extra)
    return env


class Agent(Process):
    """`python -m hostagent <args>` with its own config file."""

    def __init__(
        self, config: Path, *args: str, log_dir: Path, stdin: bytes = b"", env: dict[str, str] | None = None
    ):
        self.config = config
        command = [sys.executable, "-m", "hostagent", *args, "--config", str(config)]
        name = f"agent-{config.parent.name}-{args[0]}-{time.monotonic_ns()}.log"
        super().__init__(command, agent_env(**(env or {})), log_dir / name, stdin=stdin)

    def exit_code(self, timeout: float) -> int:
        return self.popen.wait(timeout)


def write_agent_config(path: Path, *, hub: str, host_id: int, name: str, token: str) -> Path:
    """A config as `hostagent pair` writes it, for hosts made directly in the database."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(f'hub = "{hub}"\nhost_id = {host_id}\nname = "{name}"\ntoken = "{token}"\n')
    path.chmod(0o600)
    return path


class RedisServer(Process):
    """A private redis-server on a spare port, for tests that stop or restart it."""

    def __init__(self, log_dir: Path, port: int | None = None):
        self.log_dir = log_dir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        super().__init__(args, dict(os.environ), log_dir / f"redis-{self.port}-{time.monotonic_ns()}.log")
        wait_until(lambda: "Ready to accept connections" in self.output(), timeout=10, what="redis-server")

    def restarted(self) -> "RedisServer":
        """SHUTDOWN NOSAVE (every key and group membership is gone), then a new
        redis-server on the same port."""
        import redis

        try:
            redis.Redis(port=self.port).shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # it closes the connection as it goes
        self.popen.wait(10)
        self.stop()
        return RedisServer(self.log_dir, port=self.port)


def haproxy_config(
    backends: list[str],
    *,
    port: int,
    admin_port: int,
    check_host: str = "127.0.0.1",
    forwarded_proto: str = "http",
    check_interval: str = "500ms",
) -> str:
    """An HAProxy config that balances HTTP and WebSockets round-robin over the
    hubs at `backends` (http://127.0.0.1:PORT), as README.md's "Scale out"
    paragraph shows it (there with TLS on the bind line and slower checks).

    WebSockets need nothing special in http mode: an upgraded connection is a
    tunnel, idle up to `timeout tunnel` (a host link is quiet between
    heartbeats, a phone between pings). A hub is taken out of the rotation when
    /healthz fails twice, and a connect refused by a dead one is retried on
    another (`option redispatch 1`). The client address goes to the hubs in
    X-Forwarded-For, with any copy the client sent removed: daphne's
    --proxy-headers takes the first address of the header. The runtime API
    (statistics, draining a hub) answers on `admin_port`, on loopback."""
    servers = "\n".join(
        f"    server hub{n} {url.split('://', 1)[1]}" for n, url in enumerate(backends, start=1)
    )
    check = "http-check send meth GET uri /healthz ver HTTP/1.1 "
    check += f"hdr Host {check_host} hdr X-Forwarded-Proto {forwarded_proto}"
    return f"""\
global
    log stdout format raw local0 info
    stats socket ipv4@127.0.0.1:{admin_port} level admin

defaults
    mode http
    log global
    option httplog
    option dontlognull
    option redispatch 1
    retries 3
    timeout connect 5s
    timeout client 30s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 30s
    timeout tunnel 1h
    timeout client-fin 30s

frontend hub
    bind 127.0.0.1:{port}
    http-request del-header X-Forwarded-For
    http-request set-header X-Forwarded-Proto {forwarded_proto}
    option forwardfor
    default_backend daphnes

backend daphnes
    balance roundrobin
    option httpchk
    {check}
    http-check expect status 200
    default-server check inter {check_interval} fall 2 rise 1
{servers}
"""


class Proxy(Process):
    """HAProxy in front of several hubs (`haproxy -f cfg -db`: in the
    foreground, its own process), on a free loopback port; ready once every hub
    passed its health check. Its runtime API tells each hub's state and
    connections (`servers()`) and drains a hub or brings it back (`set_state()`).

    `check_host` and `forwarded_proto` are what the proxy tells the hubs: for
    hubs run with the README's Deploy settings (HTTPS=true), pass the public
    host name and "https", as a TLS-terminating proxy would."""

    def __init__(
        self,
        backends: list[str],
        log_dir: Path,
        *,
        port: int | None = None,
        check_host: str = "127.0.0.1",
        forwarded_proto: str = "http",
        check_interval: str = "500ms",
    ):
        self.backends = list(backends)
        self.port = port or free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = log_dir / f"haproxy-{self.port}.cfg"
        self.config_path.write_text(
            haproxy_config(
                self.backends,
                port=self.port,
                admin_port=self.admin_port,
                check_host=check_host,
                forwarded_proto=forwarded_proto,
                check_interval=check_interval,
            )
        )
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        args = [binary, "-f", str(self.config_path), "-db"]
        log_path = log_dir / f"haproxy-{self.port}-{time.monotonic_ns()}.log"
        super().__init__(args, dict(os.environ), log_path)
        wait_until(self._all_up, timeout=15, what=f"HAProxy on {self.url} with every hub up")

    def command(self, line: str) -> str:
        """One command of HAProxy's runtime API, and its answer."""
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=2) as sock:
            sock.sendall(line.encode() + b"\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer.decode()

    def server_name(self, backend_url: str) -> str:
        return f"hub{self.backends.index(backend_url) + 1}"

    def servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's statistics row of each hub by server name (hub1, hub2, ...):
        `status` (UP, DOWN, DRAIN, MAINT), `scur` (connections now, WebSockets
        included), `stot` (connections taken so far)."""
        rows = csv.DictReader(io.StringIO(self.command("show stat").removeprefix("# ")))
        return {
            row["svname"]: row for row in rows if row["pxname"] == "daphnes" and row["svname"] != "BACKEND"
        }

    def set_state(self, backend_url: str, state: str) -> None:
        """ "drain": the hub keeps its connections and gets no new one (a rolling
        deploy); "maint": out of the rotation; "ready": back in it."""
        answer = self.command(f"set server daphnes/{self.server_name(backend_url)} state {state}")
        assert answer.strip() == "", answer

    def wait_for_status(self, backend_url: str, status: str, timeout: float = 15) -> None:
        name = self.server_name(backend_url)
        wait_until(
            lambda: self.servers()[name]["status"].startswith(status),
            timeout=timeout,
            what=f"HAProxy to see {name} ({backend_url}) {status}",
        )

    def _all_up(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"haproxy exited:\n{self.output()}")
        try:
            servers = self.servers()
            if len(servers) != len(self.backends) or any(s["status"] != "UP" for s in servers.values()):
                return False
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False


def publish_job(env: dict[str, str], name: str, *args) -> None:
    """Put a Celery job on the queue that the workers started with `env` read,
    through their broker (the test process itself may run jobs eagerly)."""
    from celery import Celery

    app = Celery(broker=env["REDIS_URL"])
    try:
        app.send_task(name, args=list(args), queue=env["CELERY_QUEUE"])
    finally:
        app.close()
