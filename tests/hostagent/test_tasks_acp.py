"""Agent sessions over ACP (docs/protocol.md, "Agent sessions (ACP)"): turns, the timeline,
permission requests, follow-ups, interrupts and how a session ends, with tests/bin/acp_agent.py
as the coding agent."""

import json

from tests.kits.agent_tasks import (
    ACP_NOTES,
    acp_project,
    applied,
    finished,
    permission,
    prompts,
    running_agent,
    timeline,
    turn_count,
    turns,
)
from tests.kits.fakehub import wait_for

NOTES = ACP_NOTES
ADD_MILK = "plan: Read the list | Add milk\nread notes.md\nedit notes.md += Milk\nplan-done\nsay Added milk."


def order(hub, task_id):
    """The task's messages as (type, key), repeats of the same item in a row counted once."""
    seen = []
    for m in hub.applied_messages:
        if m.get("stream") != "tasks" or m["payload"]["task_id"] != task_id or m["type"] == "task.log":
            continue
        entry = (m["type"], m["payload"].get("key") or m["payload"].get("state"))
        if not seen or seen[-1] != entry:
            seen.append(entry)
    return seen


async def test_a_session_plans_reads_asks_edits_and_ends_when_the_user_ends_it(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", ADD_MILK, target="notes.md")
        asked = await permission(hub, 1)
        assert (root / "notes.md").read_text() == NOTES  # nothing written before the answer
        await agent.tell("task.answer", 1, request_id="p1", option_id="nope")  # not offered: ignored
        await agent.tell("task.answer", 1, request_id="p9", option_id="allow")  # not open: ignored
        await agent.tell("task.answer", 1, request_id="p1", option_id="allow")
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)

    assert (root / "notes.md").read_text() == NOTES + "Milk\n"
    assert (done["outcome"], done["error"], done["exit_code"]) == ("succeeded", None, None)
    assert [(c["path"], c["op"]) for c in done["changes"]] == [("notes.md", "modified")]
    diff = "--- a/notes.md\n+++ b/notes.md\n@@ -1,2 +1,3 @@\n Eggs\n Bread\n+Milk\n"
    assert asked == {
        "task_id": 1,
        "request_id": "p1",
        "title": "Edit notes.md",
        "tool_kind": "edit",
        "locations": ["notes.md"],
        "diffs": [{"path": "notes.md", "diff": diff}],
        "options": [
            {"option_id": "allow", "name": "Allow once", "kind": "allow_once"},
            {"option_id": "always", "name": "Always allow", "kind": "allow_always"},
            {"option_id": "reject", "name": "Reject", "kind": "reject_once"},
        ],
        "on_timeout": "reject",
        "timeout": 600,
    }
    closed = applied(hub, "task.permission_closed", 1)
    assert closed == [{"task_id": 1, "request_id": "p1", "outcome": "selected", "option_id": "allow"}]
    items = timeline(hub, 1)
    assert list(items) == ["user:prompt", "plan", "tool:call_1", "tool:call_2", "agent:1"]
    assert items["user:prompt"] == {"kind": "user", "text": ADD_MILK, "message_id": None}
    assert items["plan"]["entries"] == [
        {"content": "Read the list", "status": "completed", "priority": "medium"},
        {"content": "Add milk", "status": "completed", "priority": "medium"},
    ]
    read = {"kind": "tool", "title": "Read notes.md", "tool_kind": "read", "status": "completed"}
    assert items["tool:call_1"] == {**read, "locations": ["notes.md"], "text": "Eggs", "diffs": []}
    assert items["tool:call_2"]["status"] == "completed"
    assert items["tool:call_2"]["diffs"] == [{"path": "notes.md", "diff": diff}]
    assert items["agent:1"] == {"kind": "agent", "text": "Added milk."}
    assert turns(hub, 1) == [("working", None, None), ("waiting", None, "end_turn")]
    assert order(hub, 1) == [
        ("task.received", None),
        ("task.started", None),
        ("task.turn", "working"),
        ("task.item", "user:prompt"),
        ("task.item", "plan"),
        ("task.item", "tool:call_1"),
        ("task.item", "tool:call_2"),
        ("task.permission", None),
        ("task.permission_closed", None),
        ("task.item", "tool:call_2"),
        ("task.item", "plan"),
        ("task.item", "agent:1"),
        ("task.turn", "waiting"),
        ("task.finished", None),
    ]
    log = [json.loads(line) for line in (tmp_path / "acp.log").read_text().splitlines()]
    assert log[0]["prompt"] == f"{ADD_MILK}\n\nTarget file: {root / 'notes.md'}"
    assert log[1:] == [{"closed": log[1]["closed"]}]  # the session was closed before the kill


async def test_a_rejected_edit_leaves_the_file_alone_and_the_session_idles_out(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch, idle_timeout=1)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "edit notes.md := Only milk")
        await permission(hub, 1)
        await agent.tell("task.answer", 1, request_id="p1", option_id="reject")
        done = await finished(hub, 1)
    assert (root / "notes.md").read_text() == NOTES
    assert (done["outcome"], done["changes"]) == ("succeeded", [])
    assert applied(hub, "task.permission_closed", 1)[0]["option_id"] == "reject"
    items = timeline(hub, 1)
    assert items["tool:call_1"]["status"] == "failed"
    assert items["agent:1"]["text"] == "Left notes.md unchanged."
    assert list(items)[-1] == "notice:1"
    assert items["notice:1"] == {
        "kind": "notice",
        "text": "The session ended after 1 s without a message.",
        "level": "info",
    }
    assert turns(hub, 1)[-1] == ("waiting", None, "end_turn")


async def test_follow_ups_wait_for_the_turn_and_are_delivered_once_in_order(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    go = tmp_path / "go"
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", f"hold {go}\nsay first")
        await wait_for(lambda: prompts(tmp_path / "acp.log"), what="the first turn")
        await agent.tell("task.message", 1, message_id=7, text="say seventh")
        await agent.tell("task.message", 1, message_id=5, text="say fifth")
        await agent.tell("task.message", 1, message_id=7, text="say seventh")  # a copy
        await agent.tell("task.message", 2, message_id=8, text="say to nobody")  # no such session
        await agent.tell("task.message", 1, message_id=0, text="bad id")  # refused
        session = agent.service.jobs[1].session
        await wait_for(lambda: sorted(session.followups) == [5, 7], what="both follow-ups queued")
        assert turns(hub, 1) == [("working", None, None)]  # the turn is still busy
        go.touch()
        await turn_count(hub, 1, "waiting", 3)
        await agent.tell("task.message", 1, message_id=5, text="say fifth")  # delivered already
        await agent.tell("task.message", 1, message_id=9, text="say ninth")
        await turn_count(hub, 1, "waiting", 4)
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)
    assert done["outcome"] == "succeeded"
    assert prompts(tmp_path / "acp.log") == [f"hold {go}\nsay first", "say fifth", "say seventh", "say ninth"]
    assert turns(hub, 1) == [
        ("working", None, None),
        ("waiting", None, "end_turn"),
        ("working", 5, None),
        ("waiting", None, "end_turn"),
        ("working", 7, None),
        ("waiting", None, "end_turn"),
        ("working", 9, None),
        ("waiting", None, "end_turn"),
    ]
    items = timeline(hub, 1)
    assert [key for key in items if key.startswith("user:")] == ["user:prompt", "user:5", "user:7", "user:9"]
    assert items["user:7"] == {"kind": "user", "text": "say seventh", "message_id": 7}
    assert [items[f"agent:{n}"]["text"] for n in (1, 2, 3, 4)] == ["first", "fifth", "seventh", "ninth"]


async def test_an_interrupt_cancels_the_turn_and_the_session_goes_on(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.tell("task.interrupt", 1)  # no such session yet: ignored
        await agent.assign(1, "docs", "agent", f"hold {tmp_path / 'never'}\nsay never said")
        await wait_for(lambda: prompts(tmp_path / "acp.log"), what="the first turn")
        await agent.tell("task.interrupt", 1)
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.interrupt", 1)  # no turn running: ignored
        await agent.tell("task.message", 1, message_id=3, text="say still here")
        await turn_count(hub, 1, "waiting", 2)
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)
    assert done["outcome"] == "succeeded"
    assert turns(hub, 1) == [
        ("working", None, None),
        ("waiting", None, "cancelled"),
        ("working", 3, None),
        ("waiting", None, "end_turn"),
    ]
    assert [e["text"] for k, e in timeline(hub, 1).items() if e["kind"] == "agent"] == ["still here"]


async def test_an_interrupt_closes_an_open_permission_request_cancelled(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "edit notes.md := Only milk\nsay never said")
        await permission(hub, 1)
        await agent.tell("task.interrupt", 1)
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.answer", 1, request_id="p1", option_id="allow")  # too late: ignored
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)
    assert (root / "notes.md").read_text() == NOTES
    assert (done["outcome"], done["error"]) == ("cancelled", "the last turn was interrupted")
    closed = applied(hub, "task.permission_closed", 1)
    assert closed == [{"task_id": 1, "request_id": "p1", "outcome": "cancelled", "option_id": None}]
    assert turns(hub, 1)[-1] == ("waiting", None, "cancelled")
    assert timeline(hub, 1)["tool:call_1"]["status"] == "failed"


async def test_ending_during_a_turn_cancels_it_and_drops_queued_follow_ups(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", f"hold {tmp_path / 'never'}")
        await wait_for(lambda: prompts(tmp_path / "acp.log"), what="the first turn")
        await agent.tell("task.message", 1, message_id=4, text="say too late")
        await agent.tell("task.end", 1)
        await agent.tell("task.end", 1)  # re-sent: one effect
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"]) == ("cancelled", None)
    assert turns(hub, 1) == [("working", None, None), ("waiting", None, "cancelled")]
    assert prompts(tmp_path / "acp.log") == [f"hold {tmp_path / 'never'}"]
