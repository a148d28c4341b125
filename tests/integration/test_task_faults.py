"""Tasks through real processes when things go wrong (SECURITY.md 71, 89-92,
94): daphne, a Celery worker with beat (on Redis), the agent and its
executors, on loopback. No task is lost, run twice or left running."""

import os
import signal
import sqlite3
from datetime import timedelta

import psutil
import pytest
from django.db import connection
from django.utils import timezone

from devices.models import Host, HostStream
from hostagent.config import outbox_path
from hostagent.outbox import count_pending
from projects.models import Project
from tasks import jobs
from tasks.housekeeping import HOST_LOST
from tasks.models import Task
from tests.kits.agent_toml import executor_toml, task_agent_config
from tests.kits.common import make_host, make_owner
from tests.kits.processes import Agent, Hub, RedisServer, Worker, hub_env, publish_job, wait_until
from tests.kits.task_stream import make_task

FAST = {
    "HOST_HEARTBEAT_INTERVAL": "0.5",
    "HOST_HEARTBEAT_TIMEOUT": "2",
    "TASK_SWEEP_INTERVAL": "0.5",
    "TASK_ACK_TIMEOUT": "2",
    "TASK_HOST_LOST_GRACE": "2",
}
SH = "/bin/sh"
EXECUTORS = "".join(
    [
        executor_toml("ran", command=[SH, "-c", "echo ran >> ran.txt; echo done"]),
        executor_toml("slow", command=[SH, "-c", "echo ran >> slow.txt; echo started; exec sleep 60"]),
        executor_toml("order", command=[SH, "-c", 'printf "%s\\n" "$1" >> order.txt', "sh", "{prompt}"]),
        executor_toml(
            "count",
            command=[
                SH,
                "-c",
                'i=1; while [ $i -le 1000 ]; do echo "line $i"; i=$((i+1)); sleep 0.004; done',
            ],
        ),
    ]
)


class World:
    """One team's hub, worker and host; the agent is started by the test."""

    def __init__(self, tmp_path, logs, **env):
        self.logs = logs
        self.env = hub_env(**{**FAST, **env})
        self.worker = Worker(self.env, logs) if self.env.get("REDIS_URL") else None
        self.hub = Hub(self.env, logs)
        self.user, team = make_owner("mia@example.com", "Mia's")
        self.host, token = make_host(team, "studio")
        self.root = tmp_path / "work"
        self.root.mkdir()
        self.config = task_agent_config(
            tmp_path / "agent" / "agent.toml",
            hub=self.hub.url,
            host=self.host,
            token=token,
            projects={"work": self.root},
            executors=EXECUTORS,
            tasks="concurrency = 1\n",
        )
        self.agent: Agent | None = None

    def start_agent(self) -> Agent:
        self.agent = Agent(self.config, "run", log_dir=self.logs)
        wait_until(lambda: Host.objects.get(id=self.host.id).online, timeout=20, what="the host online")
        wait_until(lambda: self.host.projects.filter(name="work").exists(), timeout=20, what="the project")
        return self.agent

    def task(self, executor: str, prompt: str = "go", **fields) -> Task:
        """A task committed as the web process would, without its dispatch job
        (as if the process died between the commit and the publish)."""
        project, _ = Project.objects.get_or_create(host=self.host, name="work")
        return make_task(project, self.user, executor=executor, prompt=prompt, **fields)

    def tasks_stream_position(self) -> int:
        stream = HostStream.objects.filter(host=self.host, name="tasks").first()
        return stream.last_seq if stream else 0

    def stop(self):
        for process in (self.agent, self.hub, self.worker):
            if process is not None:
                process.stop()
        # A task's process outlives an agent killed with SIGKILL (its own session).
        for leftover in psutil.process_iter(["cwd"]):
            if leftover.info["cwd"] == str(self.root.resolve()):
                leftover.kill()


@pytest.fixture
def world(transactional_db, tmp_path, logs):
    world = World(tmp_path, logs)
    yield world
    world.stop()


def state(task: Task) -> str:
    task.refresh_from_db()
    return task.state


def finished(task: Task, timeout: float = 20) -> Task:
    wait_until(
        lambda: state(task) in ("succeeded", "failed", "cancelled", "expired"),
        timeout=timeout,
        what="the end",
    )
    return task


def test_a_task_whose_dispatch_job_never_ran_is_swept_out_and_runs_once(world):
    """SECURITY.md 89: the commit happened, the dispatch did not."""
    world.start_agent()
    task = finished(world.task("ran"))
    assert task.state == "succeeded", task.error
    assert (world.root / "ran.txt").read_text() == "ran\n"
    # Later sweeps find nothing to send again: the agent ran it once.
    second = finished(world.task("ran"))
    assert second.state == "succeeded"
    assert (world.root / "ran.txt").read_text() == "ran\nran\n"


def test_a_celery_worker_killed_before_dispatch_still_gets_the_task_out_once(
    transactional_db, tmp_path, logs, redis_url
):
    """SECURITY.md 89 with the worker SIGKILLed: the job waits in Redis for the next worker."""
    world = World(tmp_path, logs, REDIS_URL=redis_url)
    try:
        _the_job_outlives_its_worker(world)
    finally:
        world.stop()


def _the_job_outlives_its_worker(world) -> None:
    world.start_agent()
    killed = world.worker
    killed.popen.send_signal(signal.SIGKILL)
    killed.popen.wait(10)
    killed.stop()
    wait_until(
        lambda: not _group_alive(killed.popen.pid), timeout=10, what="the killed worker's beat to go too"
    )
    task = world.task("ran")
    publish_job(world.env, jobs.dispatch_job.name, world.host.id)
    assert state(task) == "queued"
    world.worker = Worker(world.env, world.logs)
    assert finished(task).state == "succeeded"
    assert (world.root / "ran.txt").read_text() == "ran\n"


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_an_agent_killed_mid_task_ends_host_lost_and_is_not_run_again(world):
    """SECURITY.md 90, under the documented policy: a task that ran is never re-run."""
    agent = world.start_agent()
    task = world.task("slow")
    wait_until(lambda: state(task) == "running", timeout=20, what="the task to run")
    agent.popen.send_signal(signal.SIGKILL)
    agent.popen.wait(10)
    assert finished(task, timeout=15).state == "failed"
    assert task.error == HOST_LOST
    position = world.tasks_stream_position()
    world.start_agent()
    # The restarted agent reports the task it had started as interrupted; the hub keeps its verdict.
    wait_until(lambda: world.tasks_stream_position() > position, timeout=15, what="the agent's report")
    assert state(task) == "failed" and task.error == HOST_LOST
    assert (world.root / "slow.txt").read_text() == "ran\n"  # started once, not again


def test_an_offline_hosts_tasks_go_out_in_order_and_an_expired_one_never(world):
    """SECURITY.md 71."""
    late = world.task("order", prompt="never", expires_at=timezone.now() + timedelta(seconds=2))
    wait_until(lambda: state(late) == "expired", timeout=10, what="the short-lived task to expire")
    first, second, third = (world.task("order", prompt=p) for p in ("first", "second", "third"))
    world.start_agent()
    for task in (first, second, third):
        assert finished(task).state == "succeeded"
    assert (world.root / "order.txt").read_text() == "first\nsecond\nthird\n"
    assert state(late) == "expired" and late.assigned_at is None


def test_a_log_stream_cut_by_a_hub_restart_arrives_whole(transactional_db, tmp_path, logs):
    """SECURITY.md 92 and 94: daphne goes down in the middle of 1,000 lines.
    The grace period outlasts the restart: the task is not "host lost"."""
    world = World(tmp_path, logs, TASK_HOST_LOST_GRACE="60")
    try:
        world.start_agent()
        task = world.task("count")
        wait_until(lambda: task.logs.count() >= 3, timeout=20, what="the log to flow")
        world.hub = world.hub.restarted()
        assert finished(task, timeout=30).state == "succeeded", task.error
        text = "".join(task.logs.order_by("seq").values_list("text", flat=True))
        assert text == "".join(f"line {n}\n" for n in range(1, 1001))
    finally:
        world.stop()


def test_everything_recovers_from_a_redis_restart(transactional_db, tmp_path, logs):
    """SECURITY.md 91: the private Redis shuts down (no save) and comes back."""
    redis = RedisServer(logs)
    world = World(tmp_path, logs, REDIS_URL=redis.url)
    try:
        world.start_agent()
        assert finished(world.task("ran")).state == "succeeded"
        redis = redis.restarted()
        Host.objects.filter(id=world.host.id).update(last_seen_at=None)
        wait_until(lambda: Host.objects.get(id=world.host.id).online, timeout=15, what="presence again")
        task = finished(world.task("ran"), timeout=30)
        assert task.state == "succeeded"
        assert (world.root / "ran.txt").read_text() == "ran\nran\n"
        assert world.agent.popen.poll() is None and world.hub.popen.poll() is None
    finally:
        world.stop()
        redis.stop()


def test_the_hub_recovers_when_postgres_drops_every_connection(transactional_db, tmp_path, logs):
    """SECURITY.md 95, as the hub sees a `pg_ctl restart`: every server-side
    connection of the hub's processes (kept open, as in production) is
    terminated mid-task. Django's health checks reconnect and the agent
    resends what was not acked: no task is stuck, no line lost. On the
    embedded SQLite, the nearest fault: another writer holds the database
    until the hub has fallen behind."""
    world = World(tmp_path, logs, TEST_DB_CONN_MAX_AGE="60", TASK_HOST_LOST_GRACE="60")
    try:
        world.start_agent()
        task = world.task("count")
        wait_until(lambda: task.logs.count() >= 3, timeout=20, what="the log to flow")
        if connection.vendor == "postgresql":
            assert wait_until(_terminate_other_connections, timeout=10, what="hub connections to terminate")
        else:
            _hold_the_database_until(lambda: count_pending(outbox_path(world.config)) >= 5)
        assert finished(task, timeout=30).state == "succeeded", task.error
        text = "".join(task.logs.order_by("seq").values_list("text", flat=True))
        assert text == "".join(f"line {n}\n" for n in range(1, 1001))
        assert finished(world.task("ran")).state == "succeeded"
    finally:
        world.stop()


def _hold_the_database_until(condition) -> None:
    """An exclusive lock on the SQLite file: the hub's writes wait behind it."""
    database = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=10)
    try:
        database.execute("BEGIN EXCLUSIVE")
        wait_until(condition, timeout=20, what="the agent's messages to pile up unacked")
        database.execute("COMMIT")
    finally:
        database.close()


def _terminate_other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]
