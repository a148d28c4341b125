"""Structured output of command templates (docs/protocol.md, "Structured output of command
tasks"): `codex exec --json` (the real pinned Codex CLI against a scripted Responses API) and
Claude Code's stream-json (documented lines, printed by a fake `claude`) on the task's timeline,
their stderr the task log, the final answer once."""

import json
import os

from hostagent.tasks import cli_output
from tests.kits.agent_tasks import finished, load_config, log_text, running_agent, timeline
from tests.kits.agent_toml import executor_toml
from tests.kits.claude_stream import ANSWER, OUT_OF_TURNS, RUN, fake_cli, jsonl
from tests.kits.gitrepo import make_repo
from tests.kits.responses_api import (
    CODEX,
    REFUSE,
    REFUSED,
    ResponsesApi,
    codex_project,
    exec_command,
    message,
    reasoning,
)

# What a user writes for `codex exec` in a folder that is not a git repository, letting its
# commands write in the project (codex exec asks nobody: without a writable sandbox it refuses).
USER_CODEX = [str(CODEX), "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", "-"]


def codex_template(tmp_path, monkeypatch, api, command=USER_CODEX):
    """An agent config whose `cx` executor is a generic template running codex exec --json."""
    _, root = codex_project(tmp_path, monkeypatch, api)  # CODEX_HOME talking to `api` only, proj/
    toml = executor_toml(
        "cx", template="generic", command=command, stdin="prompt", output="codex-jsonl", env=["CODEX_HOME"]
    )
    return load_config(tmp_path, "[tasks]\nbuiltins = false\n" + toml), root


async def test_codex_exec_shows_its_reasoning_command_and_answer_once(tmp_path, monkeypatch):
    script = [
        [reasoning("The note goes in note.txt."), exec_command("printf hi > note.txt; echo wrote it")],
        [message("Wrote **note.txt**.")],
    ]
    with ResponsesApi(script) as api:
        cfg, root = codex_template(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "cx", "Write hi to note.txt")
            done = await finished(hub, 1, timeout=30)

    assert (done["outcome"], done["exit_code"], done["error"]) == ("succeeded", 0, None)
    assert (root / "note.txt").read_text() == "hi"
    assert [(c["path"], c["op"]) for c in done["changes"]] == [("note.txt", "created")]
    items = timeline(hub, 1)
    shown = [(key.split(":")[0], item["kind"]) for key, item in items.items()]
    assert shown == [
        ("user", "user"),
        ("thought", "thought"),
        ("tool", "tool"),
        ("agent", "agent"),
        ("notice", "notice"),
    ]
    by_kind = {item["kind"]: item for item in items.values()}
    assert by_kind["user"] == {"kind": "user", "text": "Write hi to note.txt", "message_id": None}
    assert by_kind["thought"]["text"] == "The note goes in note.txt."
    assert by_kind["tool"] == {
        "kind": "tool",
        "title": "printf hi > note.txt; echo wrote it",
        "tool_kind": "execute",
        "status": "completed",
        "locations": [],
        "text": "wrote it\nexit code 0",
        "diffs": [],
    }
    assert by_kind["agent"]["text"] == "Wrote **note.txt**."
    assert by_kind["notice"] == {"kind": "notice", "text": "Tokens: 240 in, 60 out.", "level": "info"}
    log = log_text(hub, 1)
    assert "note.txt**" not in log  # the answer is on the timeline, once, and not in the log
    assert '"type"' not in log  # no JSON event reached the log


async def test_the_built_in_codex_template_runs_codex_exec_json_in_a_git_project(tmp_path, monkeypatch):
    with ResponsesApi([[message("Eggs and bread.")]]) as api:
        _, folder = codex_project(tmp_path, monkeypatch, api)
        root = make_repo(tmp_path / "repo", {"notes.md": "Eggs\nBread\n"})
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "codex").symlink_to(CODEX)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        cfg = load_config(tmp_path, "[tasks]\nbuiltins = false\n" + executor_toml("codex", template="codex"))
        async with running_agent(tmp_path, cfg, {"repo": root}) as (hub, agent):
            await agent.assign(1, "repo", "codex", "What is on the list?")
            done = await finished(hub, 1, timeout=30)

    assert done["outcome"] == "succeeded"
    agents = [item["text"] for item in timeline(hub, 1).values() if item["kind"] == "agent"]
    assert agents == ["Eggs and bread."]
    assert "Eggs and bread." not in log_text(hub, 1)
    assert api.requests()[0]["model"] == "tiny"


async def test_a_codex_turn_the_model_refuses_fails_with_one_error_notice(tmp_path, monkeypatch):
    with ResponsesApi([REFUSE]) as api:
        cfg, root = codex_template(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "cx", "Hello")
            done = await finished(hub, 1, timeout=30)

    assert (done["outcome"], done["exit_code"]) == ("failed", 1)
    notices = [item for item in timeline(hub, 1).values() if item["kind"] == "notice"]
    assert notices == [{"kind": "notice", "text": REFUSED, "level": "error"}]


# Claude Code: documented lines (tests/kits/claude_stream.py) ---------------------------------


def claude_host(tmp_path, monkeypatch, events):
    """A project proj/ and a fake `claude` on PATH printing `events`; the built-in claude template."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.md").write_text("Eggs\nBread\n")
    lines = tmp_path / "claude.jsonl"
    lines.write_text(jsonl(events, root))
    fake_cli(tmp_path / "bin", "claude", lines)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    cfg = load_config(tmp_path, "[tasks]\nbuiltins = false\n" + executor_toml("claude", template="claude"))
    return cfg, root


async def test_claude_stream_json_shows_thinking_plan_tools_and_the_answer_once(tmp_path, monkeypatch):
    cfg, root = claude_host(tmp_path, monkeypatch, RUN)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "claude", "Add milk to the list")
        done = await finished(hub, 1)

    assert done["outcome"] == "succeeded"
    items = timeline(hub, 1)
    assert list(items) == [
        "user:prompt",
        "thought:1",
        "plan",
        "tool:toolu_02",
        "tool:toolu_03",
        "agent:1",
        "notice:1",
    ]
    assert items["thought:1"]["text"] == "The list is in notes.md."
    assert items["plan"]["entries"] == [
        {"content": "Read the list", "status": "completed", "priority": "medium"},
        {"content": "Add milk", "status": "in_progress", "priority": "medium"},
    ]
    assert items["tool:toolu_02"] == {
        "kind": "tool",
        "title": "cat notes.md",
        "tool_kind": "execute",
        "status": "completed",
        "locations": [],
        "text": "Eggs\nBread",
        "diffs": [],
    }
    assert items["tool:toolu_03"]["title"] == "Edit notes.md"
    assert (items["tool:toolu_03"]["tool_kind"], items["tool:toolu_03"]["status"]) == ("edit", "completed")
    assert items["tool:toolu_03"]["locations"] == ["notes.md"]
    assert items["agent:1"]["text"] == ANSWER  # the result repeats it: shown once
    assert items["notice:1"] == {"kind": "notice", "text": "Done: 4 turns, 5.1 s, $0.0123.", "level": "info"}
    log = log_text(hub, 1)
    called = json.loads(log.splitlines()[0])
    assert called == {
        "argv": ["-p", "--output-format", "stream-json", "--verbose"],
        "stdin": "Add milk to the list",
    }
    assert log.splitlines()[1:] == ["done"]  # its stderr only


async def test_a_claude_run_out_of_turns_shows_why_and_the_failed_tool(tmp_path, monkeypatch):
    cfg, root = claude_host(tmp_path, monkeypatch, OUT_OF_TURNS)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "claude", "Read missing.md")
        await finished(hub, 1)

    items = timeline(hub, 1)
    assert items["tool:toolu_01"]["title"] == "Read missing.md"
    assert (items["tool:toolu_01"]["status"], items["tool:toolu_01"]["text"]) == (
        "failed",
        "File does not exist.",
    )
    assert items["notice:1"] == {
        "kind": "notice",
        "text": "Claude Code stopped: it reached its limit of turns",
        "level": "error",
    }
    assert not [item for item in items.values() if item["kind"] == "agent"]


# Whatever else stdout holds -------------------------------------------------------------------


async def test_lines_that_are_no_event_go_to_the_log_and_the_rest_still_shows(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_output, "MAX_LINE", 4096)
    long_line = "x" * 10_000
    events = [
        "Reading prompt from stdin...",
        "[1, 2, 3]",
        json.dumps({"type": "item.completed", "item": {"type": "agent_message"}}),  # no id
        json.dumps({"type": "session.configured", "model": "tiny"}),  # a type it does not know
        "{not json",
        long_line,
        json.dumps(
            {
                "type": "item.completed",
                "item": {"id": "item_9", "type": "agent_message", "text": "Still here."},
            }
        ),
    ]
    lines = tmp_path / "out.jsonl"
    lines.write_text("\n".join(events) + "\n" + json.dumps({"type": "turn.started"}))  # the last without \n
    root = tmp_path / "proj"
    root.mkdir()
    printer = fake_cli(tmp_path / "bin", "printer", lines)
    toml = executor_toml("p", template="generic", command=[str(printer)], output="codex-jsonl")
    cfg = load_config(tmp_path, "[tasks]\nbuiltins = false\n" + toml)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "p", "Go")
        done = await finished(hub, 1)

    assert done["outcome"] == "succeeded"
    assert [(k, i.get("text")) for k, i in timeline(hub, 1).items()] == [
        ("user:prompt", "Go"),
        ("agent:item_9", "Still here."),
    ]
    log = log_text(hub, 1)
    for kept in (events[0], events[1], events[2], events[4], long_line):
        assert f"{kept}\n" in log
    assert "session.configured" not in log


# Lines written after codex-rs/exec/src/exec_events.rs (0.171), for the items the scripted model
# cannot make codex emit here: a file change, an MCP tool call, a web search, the to-do list.
CODEX_ITEMS = [
    {
        "type": "item.completed",
        "item": {
            "id": "item_1",
            "type": "todo_list",
            "items": [{"text": "Read the list", "completed": True}, {"text": "Add milk", "completed": False}],
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_2",
            "type": "file_change",
            "status": "completed",
            "changes": [
                {"path": "{root}/notes.md", "kind": "update"},
                {"path": "{root}/milk.md", "kind": "add"},
            ],
        },
    },
    {
        "type": "item.started",
        "item": {
            "id": "item_3",
            "type": "mcp_tool_call",
            "server": "docs",
            "tool": "search",
            "arguments": {"q": "milk"},
            "result": None,
            "error": None,
            "status": "in_progress",
        },
    },
    {
        "type": "item.completed",
        "item": {
            "id": "item_3",
            "type": "mcp_tool_call",
            "server": "docs",
            "tool": "search",
            "arguments": {"q": "milk"},
            "result": {"content": [{"type": "text", "text": "2 hits"}], "structured_content": None},
            "error": None,
            "status": "completed",
        },
    },
    {"type": "item.completed", "item": {"id": "item_4", "type": "web_search", "query": "milk prices"}},
    {"type": "item.completed", "item": {"id": "item_5", "type": "collab_tool_call", "tool": "wait"}},
]


async def test_codex_file_changes_tool_calls_searches_and_the_todo_list(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    lines = tmp_path / "out.jsonl"
    lines.write_text(jsonl(CODEX_ITEMS, root))
    printer = fake_cli(tmp_path / "bin", "printer", lines)
    toml = executor_toml("p", template="generic", command=[str(printer)], output="codex-jsonl")
    cfg = load_config(tmp_path, "[tasks]\nbuiltins = false\n" + toml)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "p", "Go")
        await finished(hub, 1)

    items = timeline(hub, 1)
    assert list(items) == ["user:prompt", "plan", "tool:item_2", "tool:item_3", "tool:item_4"]
    assert [(e["content"], e["status"]) for e in items["plan"]["entries"]] == [
        ("Read the list", "completed"),
        ("Add milk", "pending"),
    ]
    edit = items["tool:item_2"]
    assert (edit["title"], edit["tool_kind"], edit["status"]) == (
        "Edit notes.md, milk.md",
        "edit",
        "completed",
    )
    assert edit["locations"] == ["notes.md", "milk.md"]
    assert {k: items["tool:item_3"][k] for k in ("title", "status", "text")} == {
        "title": "docs: search",
        "status": "completed",
        "text": "2 hits",
    }
    assert (items["tool:item_4"]["title"], items["tool:item_4"]["tool_kind"]) == (
        "Search the web: milk prices",
        "search",
    )
