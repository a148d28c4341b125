"""Claude Code's structured output (`claude -p --output-format stream-json --verbose`) for the
tests, and a fake `claude` printing it (tests/bin/print_events.py).

NOT recorded from a real claude: there is no Claude Code binary on this machine. The lines are
written after the message types the Claude Agent SDK documents for this output ("Message
Types": SDKSystemMessage `init`, SDKAssistantMessage carrying a Messages API message with
`text`, `thinking` and `tool_use` blocks, SDKUserMessage carrying `tool_result` blocks,
SDKResultMessage `success` or `error_*`; https://docs.claude.com/en/docs/claude-code/sdk/sdk-headless
and https://docs.claude.com/en/api/agent-sdk/typescript), with made-up ids, paths and numbers.
`{root}` stands for the project folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.kits.agent_tasks import PY
from tests.kits.agent_toml import BIN

PRINT_EVENTS = BIN / "print_events.py"
SESSION = "5f0cbd3e-8a8c-4c5e-9b3d-2a7e1d9c4f10"
ANSWER = "Added **milk** to the list."


def _assistant(message_id: str, *blocks: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "assistant",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": list(blocks),
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 40},
        },
        "parent_tool_use_id": None,
        "session_id": SESSION,
        "uuid": f"a-{message_id}",
    }


def _result(tool_use_id: str, content: Any, is_error: bool = False) -> dict[str, Any]:
    return {
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {"tool_use_id": tool_use_id, "type": "tool_result", "content": content, "is_error": is_error}
            ],
        },
        "parent_tool_use_id": None,
        "session_id": SESSION,
        "uuid": f"u-{tool_use_id}",
    }


INIT = {
    "type": "system",
    "subtype": "init",
    "cwd": "{root}",
    "session_id": SESSION,
    "tools": ["Bash", "Edit", "Read", "TodoWrite"],
    "mcp_servers": [],
    "model": "claude-sonnet-4-5",
    "permissionMode": "acceptEdits",
    "apiKeySource": "ANTHROPIC_API_KEY",
    "uuid": "s-1",
}
TODOS = [
    {"content": "Read the list", "status": "completed", "activeForm": "Reading the list"},
    {"content": "Add milk", "status": "in_progress", "activeForm": "Adding milk"},
]
RUN: list[dict[str, Any]] = [
    INIT,
    _assistant("msg_01", {"type": "thinking", "thinking": "The list is in notes.md.", "signature": "EqQB"}),
    _assistant(
        "msg_01", {"type": "tool_use", "id": "toolu_01", "name": "TodoWrite", "input": {"todos": TODOS}}
    ),
    _result("toolu_01", "Todos have been modified successfully."),
    _assistant(
        "msg_02",
        {
            "type": "tool_use",
            "id": "toolu_02",
            "name": "Bash",
            "input": {"command": "cat notes.md", "description": "Show the list"},
        },
    ),
    _result("toolu_02", "Eggs\nBread"),
    _assistant(
        "msg_03",
        {
            "type": "tool_use",
            "id": "toolu_03",
            "name": "Edit",
            "input": {"file_path": "{root}/notes.md", "old_string": "Bread\n", "new_string": "Bread\nMilk\n"},
        },
    ),
    _result("toolu_03", [{"type": "text", "text": "The file {root}/notes.md has been updated."}]),
    _assistant("msg_04", {"type": "text", "text": ANSWER}),
    {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 5123,
        "duration_api_ms": 4100,
        "num_turns": 4,
        "result": ANSWER,
        "session_id": SESSION,
        "total_cost_usd": 0.0123,
        "usage": {"input_tokens": 48, "output_tokens": 160},
        "permission_denials": [],
        "uuid": "r-1",
    },
]
OUT_OF_TURNS: list[dict[str, Any]] = [
    INIT,
    _assistant(
        "msg_01",
        {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"file_path": "{root}/missing.md"}},
    ),
    _result("toolu_01", "File does not exist.", is_error=True),
    {
        "type": "result",
        "subtype": "error_max_turns",
        "is_error": True,
        "duration_ms": 900,
        "duration_api_ms": 700,
        "num_turns": 1,
        "session_id": SESSION,
        "total_cost_usd": 0.002,
        "usage": {"input_tokens": 10, "output_tokens": 20},
        "permission_denials": [],
        "uuid": "r-2",
    },
]


def jsonl(events: list[dict[str, Any]], root: Path) -> str:
    """The events as the CLI prints them, one JSON object a line, `{root}` filled in."""
    return "".join(json.dumps(event).replace("{root}", str(root)) + "\n" for event in events)


def fake_cli(folder: Path, name: str, lines: Path) -> Path:
    """`folder/name`: prints the file `lines` on stdout, its argv and stdin as JSON on stderr."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\nexec "{PY}" "{PRINT_EVENTS}" "{lines}" "$@"\n')
    path.chmod(0o755)
    return path
