"""The agent as a workstation gets it (issue 19): the wheel the hub serves, installed with pip into
a fresh virtualenv outside the repository, run from a folder outside it with nothing of this
checkout on any path; then paired with a real hub, started, and given a task.

The virtualenv's pip fetches the agent from the live hub's /agent/ URL and its dependencies from
the package index at the versions constraints.txt pins: about 15-30 s of this test."""

import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from accounts.models import Membership
from devices import pairing as pairing_services
from devices.models import Host
from hostagent import __version__
from tasks.models import Task
from tests.kits.agent_toml import executor_toml
from tests.kits.agent_wheel import WHEEL_NAME, build_wheel, make_venv, pip_install, workstation_env
from tests.kits.common import make_owner, totp_for
from tests.kits.notes_host import FAST
from tests.kits.processes import ROOT, Hub, Process, hub_env, hub_with_worker, wait_until
from tests.kits.task_stream import make_task

HELLO = executor_toml(
    "hello",
    type="command",
    label="Hello",
    command=["/bin/sh", "-c", 'echo "the installed agent says: $1" > hello.txt; echo done', "sh", "{prompt}"],
)


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("agent-dist")
    build_wheel(folder)
    return folder


@pytest.fixture
def hub(transactional_db, logs, wheel_dir):
    """daphne serving the wheel (and, on Redis, the Celery worker that dispatches tasks)."""
    with hub_with_worker(hub_env(AGENT_WHEEL_DIR=str(wheel_dir), PAIRING_INTERVAL="1", **FAST), logs) as hub:
        yield hub


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def workstation_run(workstation: Path, *argv: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(word) for word in argv],
        capture_output=True,
        text=True,
        cwd=workstation,
        env=workstation_env(),
        timeout=60,
    )


def agent(workstation: Path, logs: Path, *argv: str | Path, stdin: bytes = b"") -> Process:
    """The installed console script, started as a person on that workstation would."""
    command = [str(workstation / "venv" / "bin" / "codexhub-agent"), *(str(word) for word in argv)]
    env = workstation_env(CODEXHUB_AGENT_BACKOFF_BASE="0.2", CODEXHUB_AGENT_BACKOFF_CAP="1")
    log = logs / f"installed-agent-{argv[0]}-{time.monotonic_ns()}.log"
    return Process(command, env, log, stdin=stdin, cwd=workstation)


def test_the_hub_serves_the_wheel_and_says_which_when_asked_for_another(hub, wheel_dir):
    status, content_type, body = fetch(f"{hub.url}/agent/{WHEEL_NAME}")
    assert (status, content_type) == (200, "application/zip")
    assert body == (wheel_dir / WHEEL_NAME).read_bytes()
    status, _, body = fetch(f"{hub.url}/agent/codexhub_agent-0.0.1-py3-none-any.whl")
    assert status == 404
    assert body.decode() == f"This hub serves codexhub-agent {__version__} only: {hub.url}/agent/{WHEEL_NAME}"


def test_a_hub_without_the_wheel_says_to_run_make_agent(transactional_db, logs, tmp_path):
    hub = Hub(hub_env(AGENT_WHEEL_DIR=str(tmp_path / "empty")), logs)
    try:
        status, content_type, body = fetch(f"{hub.url}/agent/{WHEEL_NAME}")
    finally:
        hub.stop()
    assert (status, content_type) == (404, "text/plain; charset=utf-8")
    assert "run `make agent` where the hub runs" in body.decode()


def test_the_wheel_from_the_hub_installs_pairs_and_runs_a_task_outside_the_repository(hub, tmp_path, logs):
    owner, _ = make_owner("olga@example.com", "Olga's")
    workstation = tmp_path / "workstation"
    workstation.mkdir()
    assert not workstation.is_relative_to(ROOT)

    bin_dir = make_venv(workstation / "venv")
    installed = pip_install(bin_dir, f"{hub.url}/agent/{WHEEL_NAME}", cwd=workstation)
    assert installed.returncode == 0, installed.stderr

    version = workstation_run(workstation, bin_dir / "codexhub-agent", "--version")
    assert (version.returncode, version.stdout) == (0, f"codexhub-agent {__version__}\n")
    where = workstation_run(
        workstation,
        bin_dir / "python",
        "-c",
        "import hostagent, protocol; print(hostagent.__file__, protocol.__file__)",
    )
    site_packages = str(workstation / "venv" / "lib")
    assert all(path.startswith(site_packages) for path in where.stdout.split()), where.stdout

    # Pairing: the code on the terminal, approved on the hub, trusted with `y` at the prompt.
    config = workstation / "config" / "agent.toml"
    pairing = agent(
        workstation, logs, "pair", "--hub", hub.url, "--name", "laptop", "--config", config, stdin=b"y\n"
    )
    code = wait_until(
        lambda: re.search(r"^Code: (\S+)$", pairing.output(), re.M), timeout=30, what="the code"
    )
    pairing_services.pairing_approve(
        pairing=pairing_services.pairing_lookup(user_code=code.group(1)),
        actor=Membership.objects.get(user=owner),
        otp_code=totp_for(owner).now(),
        ip="127.0.0.1",
    )
    assert pairing.popen.wait(30) == 0, pairing.output()
    assert f'Start the agent with: codexhub-agent run --config "{config}"' in pairing.output()
    pairing.stop()
    host = Host.objects.get(name="laptop")

    # A shared folder and an executor, then `run`: the hub sees it online and its task runs.
    root = workstation / "work"
    root.mkdir()
    shared = workstation_run(
        workstation, bin_dir / "codexhub-agent", "project", "add", root, "--name", "work", "--config", config
    )
    assert shared.returncode == 0, shared.stderr
    config.write_text(config.read_text() + "\n[tasks]\nbuiltins = false\n\n" + HELLO)
    running = agent(workstation, logs, "run", "--config", config)
    wait_until(
        lambda: Host.objects.get(id=host.id).online and host.projects.filter(name="work").exists(),
        timeout=30,
        what="the installed agent online, sharing work",
    )
    task = make_task(
        host.projects.get(name="work"), owner, executor="hello", executor_label="Hello", prompt="hi"
    )
    wait_until(
        lambda: Task.objects.get(id=task.id).state == "succeeded", timeout=30, what="the task to succeed"
    )
    assert (root / "hello.txt").read_text() == "the installed agent says: hi\n"
    running.stop()
    assert "Traceback" not in running.output()
