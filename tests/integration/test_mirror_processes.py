"""The mirror's delivery with real processes (SECURITY.md 93): changes queued
while the hub is down sit in the agent's outbox; the agent is killed before
any ack; after both restart, each change is applied exactly once."""

import signal

from accounts.models import Team
from devices.models import HostStream
from projects.models import Change, Entry, Project
from tests.kits.common import make_host
from tests.kits.processes import Agent, Hub, hub_env, wait_until, write_agent_config

FAST_LINK = {"HOST_HEARTBEAT_INTERVAL": "0.5", "HOST_HEARTBEAT_TIMEOUT": "2"}


def test_a_killed_agent_resends_its_outbox_and_the_hub_applies_it_once(transactional_db, tmp_path, logs):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.md").write_text("first\n")
    host, token = make_host(Team.objects.create(name="T"), "box")
    hub = Hub(hub_env(**FAST_LINK), logs)
    config = write_agent_config(
        tmp_path / "agent" / "agent.toml", hub=hub.url, host_id=host.id, name="box", token=token
    )
    added = Agent(config, "project", "add", str(root), "--name", "docs", log_dir=logs)
    assert added.exit_code(timeout=20) == 0
    added.stop()
    agent = Agent(config, "run", log_dir=logs)
    try:
        wait_until(lambda: Entry.objects.filter(path="a.md").exists(), timeout=15, what="the first sync")
        hub.stop()
        wait_until(lambda: "disconnected" in agent.output(), timeout=10, what="the agent to see the hub go")
        # Written while the hub is down: the watcher queues them in the outbox.
        (root / "a.md").write_text("second\n")
        (root / "b.md").write_text("new\n")
        outbox = config.parent / "outbox.sqlite3"
        wait_until(lambda: _pending(outbox) >= 1, timeout=10, what="the changes in the outbox")
        agent.popen.send_signal(signal.SIGKILL)
        agent.popen.wait(10)
        hub = Hub(hub.env, logs, port=hub.port)
        agent = Agent(config, "run", log_dir=logs)
        project = Project.objects.get(name="docs")
        wait_until(
            lambda: project.entries.filter(path="b.md").exists()
            and project.entries.get(path="a.md").text == "second\n",
            timeout=15,
            what="the queued changes applied",
        )
        wait_until(lambda: _pending(outbox) == 0, timeout=10, what="the outbox to empty")
        assert Change.objects.filter(project=project, path="b.md", op="created").count() == 1
        assert Change.objects.filter(project=project, path="a.md", op="modified").count() == 1
        stream = HostStream.objects.get(host=host, name="mirror")
        assert stream.last_seq >= 3
    finally:
        agent.stop()
        hub.stop()


def _pending(outbox) -> int:
    import sqlite3

    if not outbox.exists():
        return 0
    with sqlite3.connect(outbox) as db:
        return db.execute("SELECT count(*) FROM messages WHERE stream = 'mirror'").fetchone()[0]
