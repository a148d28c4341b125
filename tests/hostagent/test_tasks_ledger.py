"""A task starts at most once (the ledger), restarts report or resume tasks, slots order the runs."""

import asyncio
import json
import os
import signal
import stat

from hostagent import config
from hostagent.tasks.ledger import CANCELLED, FINISHED, RECEIVED, RUNNING, Ledger
from tests.kits.agent_tasks import (
    ARGV_DUMP,
    NO_ENV,
    PY,
    Agent,
    applied,
    dumped,
    dumps,
    events,
    finished,
    group_alive,
    load_config,
    log_text,
    running_agent,
    toml_list,
)
from tests.kits.fakehub import TOKEN, FakeHub, finish, start_agent, wait_for

INTERRUPTED = "interrupted: the agent stopped during the task"


def executors_toml(tasks=""):
    return f"""
[tasks]
{tasks}

[executors.dump]
command = {toml_list([PY, ARGV_DUMP])}
env = ["ARGV_DUMP_MODE"]

[executors.quick]
command = {toml_list([PY, ARGV_DUMP])}
"""


def projects(tmp_path, *names):
    roots = {}
    for name in names:
        roots[name] = tmp_path / name
        roots[name].mkdir()
    return roots


async def test_it_runs_a_task_assigned_three_times_and_again_after_a_reconnect_once(tmp_path):
    roots = projects(tmp_path, "docs")
    cfg = load_config(tmp_path, executors_toml())
    task = {"id": 1, "project": "docs", "executor": "quick", "prompt": "once", "target": ""}

    async def first(conn):
        await conn.welcome()
        serving = asyncio.ensure_future(conn.serve())
        for _ in range(3):
            await conn.send({"type": "task.assign", "task": task})
        await wait_for(lambda: applied(conn.hub, "task.finished"), what="the run")
        serving.cancel()
        conn.abort()

    async def second(conn):
        await conn.welcome()
        await conn.send({"type": "task.assign", "task": task})  # as if the ack had been lost
        await conn.send({"type": "task.assign", "task": {**task, "id": 2}})
        await conn.serve()

    async with FakeHub(scripts=[first, second]) as hub:
        agent = Agent(hub, tmp_path, cfg, roots)
        await finished(hub, 2)
        await agent.stop()
    assert events(hub, 1) == [
        ("task.received", 1),
        ("task.started", 1),
        ("task.log", 1),
        ("task.finished", 1),
    ]
    assert len(dumps(log_text(hub, 1))) == 1
    assert len(hub.connections) == 2


async def test_after_a_restart_it_reports_a_running_task_interrupted_and_runs_a_received_one(tmp_path):
    roots = projects(tmp_path, "docs")
    cfg = load_config(tmp_path, executors_toml())
    with Ledger(tmp_path / "tasks.sqlite3", owner="test") as ledger:
        ledger.add(
            5, RECEIVED, {"project": "docs", "executor": "quick", "prompt": "was running", "target": ""}
        )
        ledger.mark_acked(5)
        assert ledger.start(5)
        assert not ledger.start(5)
        ledger.add(
            6, RECEIVED, {"project": "docs", "executor": "quick", "prompt": "never started", "target": ""}
        )
    async with running_agent(tmp_path, cfg, roots) as (hub, agent):
        interrupted = await finished(hub, 5)
        resumed = await finished(hub, 6)
        await agent.assign(5, "docs", "quick", "a late copy")
        await agent.assign(7, "docs", "quick", "barrier")
        await finished(hub, 7)
        state = agent.ledger.state
        assert (state(5), state(6), state(7)) == (FINISHED, FINISHED, FINISHED)
    assert (interrupted["outcome"], interrupted["error"]) == ("failed", INTERRUPTED)
    assert events(hub, 5) == [("task.finished", 5)]
    assert resumed["outcome"] == "succeeded"
    assert events(hub, 6)[:2] == [("task.received", 6), ("task.started", 6)]  # its ack had not been queued


async def test_one_slot_runs_tasks_one_after_the_other(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGV_DUMP_MODE", "trickle")
    roots = projects(tmp_path, "docs")
    cfg = load_config(tmp_path, executors_toml("concurrency = 1\nparallel_per_project = true"))
    async with running_agent(tmp_path, cfg, roots) as (hub, agent):
        await agent.assign(1, "docs", "dump", "first")
        await agent.assign(2, "docs", "dump", "second")
        await finished(hub, 2)
    order = [e for e in events(hub) if e[0] in ("task.started", "task.finished")]
    assert order == [("task.started", 1), ("task.finished", 1), ("task.started", 2), ("task.finished", 2)]


async def test_a_project_runs_one_task_at_a_time_unless_parallel(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGV_DUMP_MODE", "spawn-sleepers")
    roots = projects(tmp_path, "a", "b")
    cfg = load_config(tmp_path, executors_toml("concurrency = 3"))
    async with running_agent(tmp_path, cfg, roots) as (hub, agent):
        await agent.assign(1, "a", "dump", "hold project a")
        pgid = (await dumped(hub, 1))["pgid"]
        await agent.assign(2, "a", "quick", "waits for project a")
        await agent.assign(3, "b", "quick", "runs on project b")
        await finished(hub, 3)
        assert applied(hub, "task.started", 2) == []
        await agent.cancel(1)
        await finished(hub, 2)
    assert not group_alive(pgid)
    order = [e for e in events(hub) if e[0] in ("task.started", "task.finished")]
    assert order.index(("task.started", 2)) > order.index(("task.finished", 1))

    cfg = load_config(tmp_path, executors_toml("concurrency = 3\nparallel_per_project = true"))
    again = tmp_path / "again"  # a fresh outbox and ledger
    again.mkdir()
    async with running_agent(again, cfg, roots) as (hub, agent):
        await agent.assign(1, "a", "dump", "hold project a")
        pgid = (await dumped(hub, 1))["pgid"]
        await agent.assign(2, "a", "quick", "runs beside it")
        await finished(hub, 2)
        assert applied(hub, "task.finished", 1) == []
        await agent.cancel(1)
        await finished(hub, 1)
    assert not group_alive(pgid)


def test_the_ledger_is_private_and_belongs_to_one_host(tmp_path):
    path = tmp_path / "tasks.sqlite3"
    with Ledger(path, owner="https://hub 12") as ledger:
        assert ledger.add(1, RECEIVED, {"prompt": "secret"})
        assert not ledger.add(1, RECEIVED, {"prompt": "again"})
        ledger.add(2, CANCELLED)
        assert ledger.start(1) and not ledger.start(1) and not ledger.start(2)
        ledger.end(1, FINISHED)
        assert ledger.entries(RUNNING) == [] and ledger.state(1) == FINISHED
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with Ledger(path, owner="https://hub 12") as ledger:
        assert ledger.state(2) == CANCELLED
    with Ledger(path, owner="https://hub 13") as ledger:  # re-paired: the new host's ids start over
        assert ledger.state(2) is None


async def test_the_agent_kills_a_running_task_on_sigterm_and_reports_it_at_the_next_start(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ARGV_DUMP_MODE", "spawn-sleepers")
    root = tmp_path / "docs"
    root.mkdir()
    config_path = tmp_path / "cfg" / "agent.toml"
    async with FakeHub() as hub:
        cfg = load_config(tmp_path, executors_toml())
        cfg.hub, cfg.host_id, cfg.token, cfg.projects = hub.url, 12, TOKEN, {"docs": str(root)}
        config.save(config_path, cfg)
        proc = await start_agent(config_path)
        conn = await hub.connection(0, timeout=8)
        hello = await wait_for(
            lambda: next((m for m in conn.received if m.get("type") == "hello"), None), 8, "hello"
        )
        executors = [e for e in hello["payload"]["executors"] if e["name"] in ("dump", "quick")]
        assert executors == [
            {
                "name": "dump",
                "label": "dump",
                "kind": "command",
                "needs_file": False,
                "env": ["ARGV_DUMP_MODE"],
                "env_missing": [],
            },
            {"name": "quick", "label": "quick", "kind": "command", "needs_file": False, **NO_ENV},
        ]
        assert hello["payload"]["capabilities"][0] == "agent"
        task = {"id": 1, "project": "docs", "executor": "dump", "prompt": "sleep", "target": ""}
        await conn.send({"type": "task.assign", "task": task})
        await wait_for(lambda: "pgid" in log_text(hub, 1), 8, "the task's output")
        pgid = dumps(log_text(hub, 1))[0]["pgid"]
        proc.send_signal(signal.SIGTERM)
        code, _, err = await finish(proc, timeout=8)
        assert code == 0, err
        assert not group_alive(pgid)
        assert applied(hub, "task.finished") == []  # the link was closing: it waits in the outbox
        proc = await start_agent(config_path)
        done = await finished(hub, 1, timeout=8)
        proc.send_signal(signal.SIGTERM)
        code, _, err = await finish(proc, timeout=8)
        assert code == 0, err
    assert (done["outcome"], done["error"]) == ("failed", INTERRUPTED)
    assert [e for e in events(hub, 1) if e[0] != "task.log"] == [
        ("task.received", 1),
        ("task.started", 1),
        ("task.finished", 1),
    ]
    assert TOKEN not in json.dumps(hub.applied_messages)
