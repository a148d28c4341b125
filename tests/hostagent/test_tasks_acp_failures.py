"""Agent sessions that end badly or are cut short: the agent dies, never starts, runs out of time
or leaves a permission request unanswered; task.cancel kills every process it started."""

import os
import signal
import sys

import psutil

from tests.kits.agent_tasks import (
    ACP_NOTES,
    acp_config,
    acp_project,
    alive,
    applied,
    finished,
    group_alive,
    log_text,
    permission,
    prompts,
    running_agent,
    timeline,
    turn_count,
    turns,
)
from tests.kits.fakehub import wait_for

NOTES = ACP_NOTES


def agent_pid():
    """The scripted agent's process (a child of this one)."""
    found = [p.pid for p in psutil.Process().children() if "acp_agent.py" in " ".join(p.cmdline())]
    return found[0] if len(found) == 1 else None


async def test_an_agent_that_dies_mid_turn_fails_the_task_with_its_exit_code_and_stderr(
    tmp_path, monkeypatch
):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "say hello\ndie 3\nsay never said")
        done = await finished(hub, 1)
    assert (done["outcome"], done["exit_code"]) == ("failed", 3)
    assert done["error"] == "the agent exited with code 3 during a turn"
    assert "dying on purpose" in log_text(hub, 1)
    assert turns(hub, 1) == [("working", None, None)]
    assert timeline(hub, 1)["agent:1"]["text"] == "hello"


async def test_an_agent_killed_while_the_session_waits_fails_the_task(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "say hello")
        await turn_count(hub, 1, "waiting", 1)
        os.kill(agent_pid(), signal.SIGKILL)
        done = await finished(hub, 1)
    assert (done["outcome"], done["exit_code"]) == ("failed", None)
    assert done["error"] == "the agent was killed by signal 9 while waiting"


async def test_a_program_that_is_no_acp_agent_fails_while_starting(tmp_path, monkeypatch):
    script = "import sys; sys.stderr.write('no ACP here\\n'); sys.exit(3)"
    cfg, root = acp_project(tmp_path, monkeypatch, command=[sys.executable, "-c", script])
    # Says something that is not JSON-RPC, then nothing until it is killed.
    silent = "import os, signal, sys; open(sys.argv[1], 'w').write(str(os.getpid())); "
    silent += "print('hi', flush=True); signal.pause()"
    pid_file = tmp_path / "silent.pid"
    other = acp_config(tmp_path, command=[sys.executable, "-c", silent, str(pid_file)], timeout=1)
    cfg.executors["silent"] = other.executors["agent"]
    missing = acp_config(tmp_path, command=[str(tmp_path / "no-such-agent")])
    cfg.executors["missing"] = missing.executors["agent"]
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "hello")
        await agent.assign(2, "docs", "silent", "hello")
        await agent.assign(3, "docs", "missing", "hello")
        results = [await finished(hub, task_id) for task_id in (1, 2, 3)]
    assert [(r["outcome"], r["exit_code"], r["error"]) for r in results] == [
        ("failed", 3, "the agent exited with code 3 while starting"),
        ("failed", None, "the agent did not start within 1 s"),
        ("failed", None, f"cannot run {tmp_path / 'no-such-agent'}: No such file or directory"),
    ]
    assert "no ACP here" in log_text(hub, 1)
    assert not alive([int(pid_file.read_text())])
    assert applied(hub, "task.turn") == []


async def test_a_turn_that_runs_out_of_time_is_cancelled_and_fails_the_task(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch, timeout=2)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", f"hold {tmp_path / 'never'}")
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"]) == ("failed", "the turn timed out after 2 s")
    notice = {"kind": "notice", "text": "The turn timed out after 2 s.", "level": "error"}
    assert timeline(hub, 1)["notice:1"] == notice


async def test_an_unanswered_permission_request_is_rejected_after_its_timeout(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch, permission_timeout=1)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "edit notes.md := Only milk")
        asked = await permission(hub, 1)
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.answer", 1, request_id="p1", option_id="allow")  # too late: ignored
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)
    assert (root / "notes.md").read_text() == NOTES
    assert (asked["on_timeout"], asked["timeout"]) == ("reject", 1)
    closed = applied(hub, "task.permission_closed", 1)
    assert closed == [{"task_id": 1, "request_id": "p1", "outcome": "timed_out", "option_id": "reject"}]
    items = timeline(hub, 1)
    assert items["notice:1"] == {"kind": "notice", "text": "No answer in 1 s: rejected.", "level": "info"}
    assert items["agent:1"]["text"] == "Left notes.md unchanged."
    assert (done["outcome"], done["changes"]) == ("succeeded", [])


async def test_a_permission_request_can_wait_for_its_answer_forever(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch, on_permission_timeout="wait", permission_timeout=1)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "edit notes.md := Only milk")
        asked = await permission(hub, 1)
        await agent.tell("task.answer", 1, request_id="p1", option_id="always")
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.end", 1)
        await finished(hub, 1)
    assert (asked["on_timeout"], asked["timeout"]) == ("wait", None)
    assert (root / "notes.md").read_text() == "Only milk\n"


async def test_cancel_kills_the_agent_its_group_and_its_terminals(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "run sleep 600")

        def sleeper():
            found = [p for p in psutil.Process().children() if p.name() == "sleep"]
            return found[0].pid if found else None

        sleep_pid = await wait_for(sleeper, what="the terminal's sleep")
        pid = agent_pid()
        assert group_alive(pid) and group_alive(sleep_pid)  # each leads its own group
        await agent.cancel(1)
        done = await finished(hub, 1)
        await wait_for(lambda: not group_alive(pid) and not group_alive(sleep_pid), 2, "every process to die")
    assert (done["outcome"], done["error"]) == ("cancelled", None)
    assert prompts(tmp_path / "acp.log") == ["run sleep 600"]


async def test_a_stopping_host_agent_reports_a_running_session_interrupted(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "say hello")
        await turn_count(hub, 1, "waiting", 1)
        pid = agent_pid()
        await agent.service.stop()
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"]) == ("failed", "interrupted: the agent stopped during the task")
    assert not group_alive(pid)
