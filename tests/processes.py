"""Real processes for tests: daphne serving the hub and a Celery worker, on
loopback, against the test database. Each waits for its readiness with a
timeout and is stopped (process group and all) when the test ends."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
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
    )
    env.update(extra)
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
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        self.log.close()


class Hub(Process):
    """daphne serving codexhub.asgi on a free loopback port."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.port), "codexhub.asgi:application"]
        super().__init__(args, env, log_dir / f"daphne-{self.port}.log")
        wait_until(self._healthy, timeout=30, what=f"daphne on {self.url}")

    def _healthy(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False


class Worker(Process):
    """A Celery worker consuming the hub's queue from Redis."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        args = [
            str(BIN / "celery"), "--app", "codexhub", "worker", "--pool", "solo",
            "--without-gossip", "--without-mingle", "--loglevel", "INFO",
        ]  # fmt: skip
        super().__init__(args, env, log_dir / f"celery-{os.getpid()}.log")
        wait_until(self._ready, timeout=30, what="the Celery worker")

    def _ready(self) -> bool:
        if self.popen.poll() is not None:
            raise RuntimeError(f"celery exited:\n{self.output()}")
        return " ready." in self.output()
