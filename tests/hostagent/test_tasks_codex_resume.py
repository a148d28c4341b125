"""Codex threads resumed and listed (docs/protocol.md, "Codex threads"): the real pinned codex
against a scripted Responses API, the agent's TaskService and a FakeHub; a restart is a new
agent on the same ledger and outbox."""

import pytest

from tests.kits.agent_tasks import Agent, applied, finished, turn_count
from tests.kits.fakehub import FakeHub, wait_for
from tests.kits.responses_api import ResponsesApi, codex_project, message

UNKNOWN_THREAD = "01a24ce8-0000-7000-8000-000000000000"


def said(request):
    """The user and assistant texts of a /responses request, without codex's own context."""
    texts = []
    for item in request["input"]:
        if item.get("type") == "message" and item.get("role") in ("user", "assistant"):
            texts += [(item["role"], p["text"]) for p in item["content"] if not p["text"].startswith("<")]
    return texts


async def resume(agent: Agent, task_id: int, project: str, prompt: str, thread: str, executor="codex"):
    task = {"id": task_id, "project": project, "executor": executor, "prompt": prompt, "target": ""}
    await agent.hub.connections[-1].send({"type": "task.assign", "task": {**task, "resume_thread": thread}})


async def one_turn(hub: FakeHub, agent: Agent, task_id: int, project: str, prompt: str) -> str:
    """Run a codex task of one turn, end it; its thread id."""
    await agent.assign(task_id, project, "codex", prompt)
    await turn_count(hub, task_id, "waiting", 1, timeout=20)
    await agent.tell("task.end", task_id)
    await finished(hub, task_id, timeout=20)
    [reported] = applied(hub, "task.thread", task_id)
    return reported["thread_id"]


def listed(hub: FakeHub, request: str) -> list[dict]:
    return [
        m["payload"]
        for m in hub.applied_messages
        if (m["stream"], m["type"]) == ("codex", "codex.threads") and m["payload"]["request"] == request
    ]


async def ask_threads(hub: FakeHub, request: str, executor: str = "codex") -> dict:
    await hub.connections[-1].send({"type": "codex.threads", "request": request, "executor": executor})
    found = await wait_for(lambda: listed(hub, request), 30, "the threads")
    return found[0]


@pytest.fixture
def restart(tmp_path):
    """Start an agent on the same ledger and outbox as the one before (stopped first)."""
    agents: list[Agent] = []

    async def start(hub: FakeHub, cfg, projects) -> Agent:
        if agents:
            await agents[-1].stop()
        agent = Agent(hub, tmp_path, cfg, projects)
        agents.append(agent)
        await agent.ready()
        return agent

    yield start
    # the last agent is stopped by the test, inside its hub


async def test_a_thread_resumed_after_a_restart_carries_its_history(tmp_path, monkeypatch, restart):
    with ResponsesApi([[message("Eggs and bread.")], [message("Milk added.")]]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with FakeHub() as hub:
            agent = await restart(hub, cfg, {"docs": root})
            thread = await one_turn(hub, agent, 1, "docs", "What is on the list?")
            agent = await restart(hub, cfg, {"docs": root})
            await resume(agent, 2, "docs", "Add milk", thread)
            await turn_count(hub, 2, "waiting", 1, timeout=20)
            await agent.tell("task.end", 2)
            done = await finished(hub, 2, timeout=20)
            await agent.stop()

    assert done["outcome"] == "succeeded"
    assert applied(hub, "task.thread", 2) == [{"task_id": 2, "thread_id": thread}]
    first, second = api.requests()
    assert said(second)[-3:] == [
        ("user", "What is on the list?"),
        ("assistant", "Eggs and bread."),
        ("user", "Add milk"),
    ]
    assert second["prompt_cache_key"] == first["prompt_cache_key"]  # codex's same thread


async def test_the_hosts_threads_are_listed_newest_first_with_their_projects(tmp_path, monkeypatch, restart):
    with ResponsesApi([[message("One.")], [message("Two.")]]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        other = tmp_path / "other"
        other.mkdir()
        async with FakeHub() as hub:
            agent = await restart(hub, cfg, {"docs": root, "other": other})
            docs_thread = await one_turn(hub, agent, 1, "docs", "First in docs")
            other_thread = await one_turn(hub, agent, 2, "other", "Then in other")
            agent = await restart(hub, cfg, {"docs": root})  # other is shared no more
            answer = await ask_threads(hub, "list-threads-0001")
            refused = await ask_threads(hub, "list-threads-0002", executor="nope")
            await agent.stop()

    assert answer["ok"] is True and answer["error"] is None
    threads = [(t["id"], t["project"], t["preview"], t["cwd"]) for t in answer["threads"]]
    assert threads == [
        (other_thread, None, "Then in other", str(other)),
        (docs_thread, "docs", "First in docs", str(root)),
    ]
    assert all(t["updated_at"] > 1_700_000_000 for t in answer["threads"])
    assert refused == {
        "request": "list-threads-0002",
        "ok": False,
        "error": "executor 'nope' is not a codex executor of this host",
        "threads": [],
    }


async def test_a_thread_of_a_folder_outside_the_project_is_not_resumed(tmp_path, monkeypatch, restart):
    with ResponsesApi([[message("One.")]]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        other = tmp_path / "other"
        other.mkdir()
        async with FakeHub() as hub:
            agent = await restart(hub, cfg, {"docs": root, "other": other})
            thread = await one_turn(hub, agent, 1, "other", "Secret plans")
            await resume(agent, 2, "docs", "Tell me the plans", thread)
            done = await finished(hub, 2, timeout=20)
            await agent.stop()

    assert done["outcome"] == "failed"
    assert done["error"] == (
        f"thread {thread} ran in {other}, which is not inside project 'docs' on this host"
    )
    assert len(api.requests()) == 1  # the model never saw the second prompt
    assert applied(hub, "task.thread", 2) == []


async def test_a_thread_codex_cannot_find_fails_the_task_with_its_reason(tmp_path, monkeypatch, restart):
    with ResponsesApi([]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with FakeHub() as hub:
            agent = await restart(hub, cfg, {"docs": root})
            await resume(agent, 1, "docs", "Go on", UNKNOWN_THREAD)
            done = await finished(hub, 1, timeout=20)
            await resume(agent, 2, "docs", "Go on", "../../etc")
            refused = await finished(hub, 2)
            await agent.stop()

    assert done["outcome"] == "failed"
    assert done["error"].startswith(f"codex cannot resume thread {UNKNOWN_THREAD}: ")
    assert UNKNOWN_THREAD in done["error"].partition(": ")[2]  # codex's own words name it
    assert (refused["outcome"], refused["error"]) == ("failed", "resume_thread is not a Codex thread id")
    assert api.requests() == []
