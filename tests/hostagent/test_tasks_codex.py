"""Codex threads (docs/protocol.md, "Codex threads"): the real Codex CLI (`codex app-server`,
pinned in tests/agents) against a scripted Responses API on loopback, driven through the
agent's TaskService and a FakeHub."""

import json
import os

import psutil

from hostagent.tasks import codex_session
from tests.kits.agent_tasks import (
    applied,
    finished,
    group_alive,
    log_text,
    permission,
    running_agent,
    timeline,
    turn_count,
    turns,
)
from tests.kits.fakehub import wait_for
from tests.kits.responses_api import (
    CODEX_VERSION,
    HOLD,
    REFUSE,
    REFUSED,
    ResponsesApi,
    apply_patch,
    codex_project,
    exec_command,
    message,
    reasoning,
    update_plan,
)


def outputs(request):
    """The function_call_output items a /responses request carries, by call id."""
    return {i["call_id"]: i["output"] for i in request["input"] if i.get("type") == "function_call_output"}


def said(request):
    """The user and assistant texts a /responses request carries, in order (not codex's own context)."""
    texts = []
    for item in request["input"]:
        if item.get("type") == "message" and item.get("role") in ("user", "assistant"):
            for part in item["content"]:
                text = part.get("text", "")
                if not text.startswith("<"):  # environment context and instructions codex adds
                    texts.append((item["role"], text))
    return texts


async def test_a_thread_answers_and_ends_when_the_user_ends_it(tmp_path, monkeypatch):
    with ResponsesApi([[reasoning("Looking at the list"), message("Eggs and bread.")]]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "What is on the list?")
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            done = await finished(hub, 1)

    assert (done["outcome"], done["error"], done["changes"]) == ("succeeded", None, [])
    items = timeline(hub, 1)
    assert list(items) == ["user:prompt", "thought:1.rs_1", "agent:1.msg_1", "notice:1"]
    assert items["user:prompt"] == {"kind": "user", "text": "What is on the list?", "message_id": None}
    assert items["thought:1.rs_1"] == {"kind": "thought", "text": "Looking at the list"}
    assert items["agent:1.msg_1"] == {"kind": "agent", "text": "Eggs and bread."}
    assert items["notice:1"] == {
        "kind": "notice",
        "text": "Tokens: 150 this turn (120 in, 30 out), 150 in the thread.",
        "level": "info",
    }
    assert turns(hub, 1) == [("working", None, None), ("waiting", None, "end_turn")]
    assert said(api.requests()[0])[-1] == ("user", "What is on the list?")
    assert "codex thread " in log_text(hub, 1)


async def test_the_plan_codex_makes_shows_as_a_checklist_that_it_updates(tmp_path, monkeypatch):
    first = [("Read the list", "completed"), ("Add milk", "in_progress"), ("Check the spelling", "pending")]
    second = [("Read the list", "completed"), ("Add milk", "completed"), ("Check the spelling", "completed")]
    script = [[update_plan(first, "call_p1")], [update_plan(second, "call_p2")], [message("All done.")]]
    with ResponsesApi(script) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        with (tmp_path / "codex-home" / "config.toml").open("a") as config:
            config.write("[tools.update_plan]\nenabled = true\n")  # codex offers it to known models only
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Add milk, with a plan")
            await wait_for(lambda: "plan" in timeline(hub, 1), 20, "the first plan")
            seen_first = timeline(hub, 1)["plan"]
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            await finished(hub, 1)

    def checklist(item):
        return [(entry["content"], entry["status"]) for entry in item["entries"]]

    assert checklist(seen_first) in (first, second)  # the first update, unless the second overtook it
    items = timeline(hub, 1)
    assert items["plan"]["kind"] == "plan"
    assert checklist(items["plan"]) == second  # one checklist, updated in place
    assert [key for key in items if key.startswith("plan")] == ["plan"]
    assert items["agent:1.msg_1"]["text"] == "All done."
    assert len(api.requests()) == 3


async def test_an_allowed_command_runs_and_shows_its_output(tmp_path, monkeypatch):
    script = [[exec_command("printf hi > note.txt; echo wrote it")], [message("Wrote note.txt.")]]
    with ResponsesApi(script) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Write hi to note.txt")
            asked = await permission(hub, 1, timeout=20)
            assert not (root / "note.txt").exists()  # nothing runs before the answer
            await agent.tell("task.answer", 1, request_id="p1", option_id="nope")  # not offered: ignored
            await agent.tell("task.answer", 1, request_id="p1", option_id="accept")
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            done = await finished(hub, 1)

    assert (root / "note.txt").read_text() == "hi"
    assert done["outcome"] == "succeeded"
    assert [(c["path"], c["op"]) for c in done["changes"]] == [("note.txt", "created")]
    assert asked == {
        "task_id": 1,
        "request_id": "p1",
        "title": "Run printf hi > note.txt; echo wrote it",
        "tool_kind": "execute",
        "locations": [],
        "diffs": [],
        "options": [
            {"option_id": "accept", "name": "Allow", "kind": "allow_once"},
            {"option_id": "decline", "name": "Decline", "kind": "reject_once"},
            {"option_id": "cancel", "name": "Decline and stop the turn", "kind": "reject_once"},
        ],
        "on_timeout": "reject",
        "timeout": 600,
    }
    closed = applied(hub, "task.permission_closed", 1)
    assert closed == [{"task_id": 1, "request_id": "p1", "outcome": "selected", "option_id": "accept"}]
    items = timeline(hub, 1)
    assert items["tool:1.call_1"] == {
        "kind": "tool",
        "title": "printf hi > note.txt; echo wrote it",
        "tool_kind": "execute",
        "status": "completed",
        "locations": [],
        "text": "wrote it\nexit code 0",
        "diffs": [],
    }
    assert items["agent:1.msg_1"]["text"] == "Wrote note.txt."
    assert "wrote it" in outputs(api.requests()[1])["call_1"]


ADD_MILK = "*** Update File: notes.md\n@@\n Eggs\n Bread\n+Milk\n"
MILK_DIFF = "--- a/notes.md\n+++ b/notes.md\n@@ -2 +2,2 @@\n Bread\n+Milk\n"


async def test_an_allowed_edit_shows_its_diff_before_and_after(tmp_path, monkeypatch):
    with ResponsesApi([[apply_patch(ADD_MILK)], [message("Added milk.")]]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Add milk to the list")
            asked = await permission(hub, 1, timeout=20)
            assert (root / "notes.md").read_text() == "Eggs\nBread\n"
            await agent.tell("task.answer", 1, request_id="p1", option_id="acceptForSession")
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            done = await finished(hub, 1)

    assert (root / "notes.md").read_text() == "Eggs\nBread\nMilk\n"
    assert done["outcome"] == "succeeded"
    assert (asked["title"], asked["tool_kind"], asked["locations"]) == ("Edit notes.md", "edit", ["notes.md"])
    assert asked["diffs"] == [{"path": "notes.md", "diff": MILK_DIFF}]
    assert [o["option_id"] for o in asked["options"]] == ["accept", "acceptForSession", "decline", "cancel"]
    edit = timeline(hub, 1)["tool:1.call_1"]
    assert (edit["title"], edit["status"], edit["diffs"]) == (
        "Edit notes.md",
        "completed",
        [{"path": "notes.md", "diff": MILK_DIFF}],
    )


async def test_a_declined_command_writes_nothing(tmp_path, monkeypatch):
    script = [[exec_command("printf hi > note.txt")], [message("I left it.")]]
    with ResponsesApi(script) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api, idle_timeout=1)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Write hi to note.txt")
            await permission(hub, 1, timeout=20)
            await agent.tell("task.answer", 1, request_id="p1", option_id="decline")
            done = await finished(hub, 1, timeout=20)

    assert not (root / "note.txt").exists()
    assert (done["outcome"], done["changes"]) == ("succeeded", [])
    items = timeline(hub, 1)
    assert items["tool:1.call_1"]["status"] == "failed"
    assert items["tool:1.call_1"]["text"] == "Declined."
    assert items["agent:1.msg_1"]["text"] == "I left it."
    assert list(items)[-1] == "notice:2"
    assert items["notice:2"]["text"] == "The thread ended after 1 s without a message."
    assert "call_1" in outputs(api.requests()[1])  # codex told the model it was declined


async def test_a_follow_up_continues_the_same_thread(tmp_path, monkeypatch):
    with ResponsesApi([[message("Eggs and bread.")], [message("Milk added.")]]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "What is on the list?")
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.message", 1, message_id=7, text="Add milk")
            await agent.tell("task.message", 1, message_id=7, text="Add milk")  # a copy: once
            await turn_count(hub, 1, "waiting", 2, timeout=20)
            await agent.tell("task.end", 1)
            done = await finished(hub, 1)

    assert done["outcome"] == "succeeded"
    first, second = api.requests()
    assert said(second)[-3:] == [
        ("user", "What is on the list?"),
        ("assistant", "Eggs and bread."),
        ("user", "Add milk"),
    ]
    assert second["prompt_cache_key"] == first["prompt_cache_key"]  # the same thread
    items = timeline(hub, 1)
    assert list(items) == ["user:prompt", "agent:1.msg_1", "notice:1", "user:7", "agent:2.msg_1", "notice:2"]
    assert items["agent:1.msg_1"]["text"] == "Eggs and bread."
    assert items["user:7"] == {"kind": "user", "text": "Add milk", "message_id": 7}
    assert items["agent:2.msg_1"]["text"] == "Milk added."
    assert turns(hub, 1) == [
        ("working", None, None),
        ("waiting", None, "end_turn"),
        ("working", 7, None),
        ("waiting", None, "end_turn"),
    ]


async def test_stop_turn_interrupts_it_and_the_outcome_says_so(tmp_path, monkeypatch):
    with ResponsesApi([HOLD]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Think for a long time")
            await wait_for(lambda: api.requests(), 20, "codex to ask the model")
            await agent.tell("task.interrupt", 1)
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            done = await finished(hub, 1)

    assert turns(hub, 1) == [("working", None, None), ("waiting", None, "cancelled")]
    assert (done["outcome"], done["error"]) == ("cancelled", "the last turn was interrupted")
    notices = [item["text"] for item in timeline(hub, 1).values() if item["kind"] == "notice"]
    assert notices == ["The turn was stopped."]  # and no "Tokens: 0 this turn"


async def test_a_thread_whose_last_turn_failed_does_not_read_succeeded(tmp_path, monkeypatch):
    with ResponsesApi([REFUSE]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Hello")
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            done = await finished(hub, 1)

    assert turns(hub, 1) == [("working", None, None), ("waiting", None, None)]
    assert done["outcome"] == "failed"
    assert done["error"] == f"the last turn failed: {REFUSED}"
    notices = [item for item in timeline(hub, 1).values() if item["kind"] == "notice"]
    assert notices == [{"kind": "notice", "text": f"The turn failed: {REFUSED}", "level": "error"}]
    assert f"codex: error: {REFUSED}" in log_text(hub, 1)


async def test_a_follow_up_during_a_turn_steers_it(tmp_path, monkeypatch):
    script = [[exec_command("printf hi > note.txt")], [message("Done, and noted.")]]
    with ResponsesApi(script) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Write hi to note.txt")
            await permission(hub, 1, timeout=20)
            await agent.tell("task.message", 1, message_id=3, text="Also say so")
            await wait_for(lambda: "user:3" in timeline(hub, 1), 10, "the steer")
            await agent.tell("task.answer", 1, request_id="p1", option_id="accept")
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            await finished(hub, 1)

    # One turn, which says it carries the follow-up (so the hub counts it delivered).
    assert turns(hub, 1) == [("working", None, None), ("working", 3, None), ("waiting", None, "end_turn")]
    assert ("user", "Also say so") in said(api.requests()[1])
    assert timeline(hub, 1)["user:3"] == {"kind": "user", "text": "Also say so", "message_id": 3}


async def test_a_codex_version_it_was_not_tested_with_fails_the_task_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(codex_session, "TESTED_VERSIONS", ("0.170",))
    with ResponsesApi([[message("never")]]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Hello")
            done = await finished(hub, 1, timeout=20)

    assert done["outcome"] == "failed"
    assert done["error"].startswith(f"codex {CODEX_VERSION} is not a version this host agent was tested with")
    assert "(0.170.x)" in done["error"]
    assert api.requests() == []  # no thread was started
    assert json.dumps(timeline(hub, 1)) == "{}"


async def test_an_approval_nobody_answers_is_declined_after_the_permission_timeout(tmp_path, monkeypatch):
    script = [[exec_command("printf hi > note.txt")], [message("I left it.")]]
    with ResponsesApi(script) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api, permission_timeout=1)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Write hi to note.txt")
            asked = await permission(hub, 1, timeout=20)
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            await finished(hub, 1)

    assert not (root / "note.txt").exists()
    assert (asked["on_timeout"], asked["timeout"]) == ("reject", 1)
    closed = applied(hub, "task.permission_closed", 1)
    assert closed == [{"task_id": 1, "request_id": "p1", "outcome": "timed_out", "option_id": "decline"}]
    items = timeline(hub, 1)
    assert items["notice:1"]["text"] == "No answer in 1 s: rejected."
    assert items["tool:1.call_1"]["text"] == "Declined."


async def test_a_cancelled_task_kills_codex_at_once(tmp_path, monkeypatch):
    with ResponsesApi([HOLD]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Think for a long time")
            await wait_for(lambda: api.requests(), 20, "codex to ask the model")
            codex = next(
                p for p in psutil.Process().children(recursive=True) if "codex" in " ".join(p.cmdline())
            )
            group = os.getpgid(codex.pid)
            await agent.cancel(1)
            done = await finished(hub, 1)
            assert group_alive(group) == []

    assert (done["outcome"], done["error"]) == ("cancelled", None)
