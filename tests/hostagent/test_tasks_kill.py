"""SECURITY.md 67 and 68: cancel and timeout kill the whole process group; how runs end."""

import time

import psutil

from tests.kits.agent_tasks import (
    ARGV_DUMP,
    PY,
    applied,
    dumped,
    events,
    finished,
    group_alive,
    load_config,
    running_agent,
    toml_list,
)
from tests.kits.fakehub import wait_for


def setup(tmp_path, monkeypatch, mode, timeout=None):
    monkeypatch.setenv("ARGV_DUMP_MODE", mode)
    root = tmp_path / "proj"
    root.mkdir()
    extra = f"timeout = {timeout}\n" if timeout else ""
    cfg = load_config(
        tmp_path,
        f"""
[tasks]
concurrency = 4

[executors.dump]
command = {toml_list([PY, ARGV_DUMP])}
env = ["ARGV_DUMP_MODE"]
{extra}
[executors.quick]
command = {toml_list([PY, ARGV_DUMP])}
""",
    )
    return cfg, root


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def sleepers_running(hub, task_id):
    """The pgid of the task's group, once argv-dump, sh and both sleeps run in it."""
    pgid = (await dumped(hub, task_id))["pgid"]
    await wait_for(lambda: sum(p.name() == "sleep" for p in group_alive(pgid)) == 2, what="both sleeps")
    return pgid


async def test_it_kills_the_whole_group_on_cancel_and_finishes_once(tmp_path, monkeypatch):
    cfg, root = setup(tmp_path, monkeypatch, "spawn-sleepers")
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "dump", "sleep a lot")
        pgid = await sleepers_running(hub, 1)
        assert len(group_alive(pgid)) == 4  # argv-dump, sh, sleep, sleep
        await agent.cancel(1)
        await agent.cancel(1)
        cancelled_at = time.monotonic()
        done = await finished(hub, 1)
        await wait_for(lambda: not group_alive(pgid), timeout=2, what="the group to die")
        assert time.monotonic() - cancelled_at < 2
        await agent.cancel(1)  # already finished: ignored
        # A later task, as a barrier: whatever the cancels caused was applied before it.
        await agent.assign(2, "docs", "quick", "after")
        await finished(hub, 2)
    assert done["outcome"] == "cancelled" and done["exit_code"] is None
    assert events(hub, 1) == [
        ("task.received", 1),
        ("task.started", 1),
        ("task.log", 1),
        ("task.finished", 1),
    ]


async def test_it_kills_the_group_on_timeout(tmp_path, monkeypatch):
    cfg, root = setup(tmp_path, monkeypatch, "spawn-sleepers", timeout=2)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        started = time.monotonic()
        await agent.assign(1, "docs", "dump", "sleep past the timeout")
        pgid = await sleepers_running(hub, 1)
        done = await finished(hub, 1)
        assert 2 <= time.monotonic() - started < 5
        await wait_for(lambda: not group_alive(pgid), timeout=2, what="the group to die")
    assert (done["outcome"], done["error"], done["exit_code"]) == ("failed", "timed out after 2 s", None)


async def test_it_sigkills_a_child_that_ignores_sigterm(tmp_path, monkeypatch):
    cfg, root = setup(tmp_path, monkeypatch, "stubborn")
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "dump", "ignore SIGTERM")
        pgid = (await dumped(hub, 1))["pgid"]
        await agent.cancel(1)
        done = await finished(hub, 1, timeout=5)
        await wait_for(lambda: not group_alive(pgid), timeout=2, what="the group to die")
    assert done["outcome"] == "cancelled"


async def test_it_kills_background_children_when_the_main_process_exits(tmp_path, monkeypatch):
    monkeypatch.setenv("ARGV_DUMP_MODE", "")
    root = tmp_path / "proj"
    root.mkdir()
    # The child leaves a sleeper behind holding its stdout: the task must still end, and the sleeper die.
    script = "echo started; sleep 600 & echo $! > sleeper.pid"
    cfg = load_config(tmp_path, f"[executors.bg]\ncommand = {toml_list(['sh', '-c', script])}\n")
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "bg", "leave a sleeper")
        done = await finished(hub, 1, timeout=5)
        pid = int((root / "sleeper.pid").read_text())
        await wait_for(lambda: not alive(pid), timeout=2, what="the sleeper to die")
    assert done["outcome"] == "succeeded" and done["duration"] < 2
    assert done["changes"][0]["path"] == "sleeper.pid"


async def test_it_reports_exit_codes_and_programs_that_cannot_run(tmp_path, monkeypatch):
    cfg, root = setup(tmp_path, monkeypatch, "fail")
    missing = tmp_path / "no-such-program"
    cfg2 = load_config(tmp_path, f"[executors.missing]\ncommand = {toml_list([str(missing)])}\n")
    cfg.executors.update(cfg2.executors)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "dump", "fail")
        await agent.assign(2, "docs", "quick", "succeed")
        await agent.assign(3, "docs", "missing", "cannot start")
        results = [await finished(hub, task_id) for task_id in (1, 2, 3)]
    assert [(r["outcome"], r["exit_code"], r["error"]) for r in results] == [
        ("failed", 3, "exit code 3"),
        ("succeeded", 0, None),
        ("failed", None, f"cannot run {missing}: No such file or directory"),
    ]
    assert all(isinstance(r["duration"], float) and r["duration"] >= 0 for r in results)
    assert applied(hub, "task.log", 3) == []


async def test_it_never_starts_a_waiting_task_that_was_cancelled(tmp_path, monkeypatch):
    cfg, root = setup(tmp_path, monkeypatch, "spawn-sleepers")
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "dump", "hold the project")
        await agent.assign(2, "docs", "quick", "wait for it")
        pgid = await sleepers_running(hub, 1)
        await agent.cancel(2)
        await agent.cancel(2)  # twice: one effect
        second = await finished(hub, 2)
        assert applied(hub, "task.finished", 1) == []  # the first still runs
        await agent.cancel(1)
        await finished(hub, 1)
        await agent.cancel(99)  # unknown: recorded as cancelled and answered
        unknown = await finished(hub, 99)
        await agent.assign(99, "docs", "quick", "too late")  # never runs
        await agent.assign(3, "docs", "quick", "barrier")
        await finished(hub, 3)
    assert not group_alive(pgid)
    assert second["outcome"] == "cancelled"
    assert events(hub, 2) == [("task.received", 2), ("task.finished", 2)]
    assert unknown["outcome"] == "cancelled"
    assert events(hub, 99) == [("task.received", 99), ("task.finished", 99)]
