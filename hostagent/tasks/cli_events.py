"""What a command template's structured stdout shows: one parser per output format, each
turning one JSON event (a line of stdout) into timeline items (docs/protocol.md, "Structured
output of command tasks") through acp_timeline.Timeline, as sessions do.

- "codex-jsonl": `codex exec --json` (codex-rs/exec/src/exec_events.rs of the tested 0.171):
  `item.*` events carry agent messages, reasoning, command executions with their output and
  exit code, file changes, MCP tool calls, web searches and the to-do list; `turn.completed`
  the token usage, `turn.failed` and `error` what went wrong.
- "claude-stream-json": Claude Code's `-p --output-format stream-json --verbose` (the Agent
  SDK's message types): `assistant` messages' text, thinking and tool_use blocks, `user`
  messages' tool_result blocks, and the closing `result`, whose text is shown only when the
  agent's last message did not say it already (the final answer appears once).

An event of a type a parser does not know is ignored (logged at debug); a known one lacking
what the mapping needs raises Malformed, and the caller puts its line in the task log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from hostagent.tasks.acp_files import display_path
from hostagent.tasks.acp_timeline import Timeline, clip, clip_tail, tool_key
from hostagent.tasks.codex_timeline import Malformed, item_key, need, need_text, shown_command
from protocol.limits import (
    MAX_AGENT_TEXT,
    MAX_LOCATION,
    MAX_LOCATIONS,
    MAX_NOTICE,
    MAX_PLAN_CONTENT,
    MAX_PLAN_ENTRIES,
    MAX_TITLE,
    MAX_TOOL_TEXT,
)

log = logging.getLogger("hostagent.tasks.cli")

Note = Callable[[str], None]  # a line for the task log

CODEX_STATUS = {
    "in_progress": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "declined": "failed",
}


class CodexExecEvents:
    """`codex exec --json`'s events onto the timeline."""

    def __init__(self, timeline: Timeline, root: str, note: Note):
        self.timeline = timeline
        self.root = root
        self.note = note
        self.last_error = ""

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("item.started", "item.updated", "item.completed"):
            self._item(need(event, "item", kind=dict))
        elif kind == "turn.completed":
            self._usage(need(event, "usage", kind=dict))
        elif kind == "turn.failed":
            message = need_text(event, "error", "message") or "no reason given"
            if message != self.last_error:  # codex sends its error, then the turn failing with it
                self.timeline.notice(f"The turn failed: {message}", "error")
        elif kind == "error":
            self.last_error = need(event, "message")
            self.timeline.notice(self.last_error, "error")
        elif kind == "thread.started":
            log.debug("codex thread %s", need_text(event, "thread_id")[:64])
        elif kind != "turn.started":
            log.debug("ignoring a codex event of type %r", str(kind)[:64])

    def _item(self, item: dict[str, Any]) -> None:
        kind, item_id = need(item, "type"), need(item, "id")
        if kind in ("agent_message", "plan"):
            self.timeline.item(
                item_key("agent", item_id), "agent", {"text": clip(need(item, "text"), MAX_AGENT_TEXT)}
            )
        elif kind == "reasoning":
            self.timeline.item(
                item_key("thought", item_id), "thought", {"text": clip(need(item, "text"), MAX_AGENT_TEXT)}
            )
        elif kind == "todo_list":
            self._todo(need(item, "items", kind=list))
        elif kind == "error":  # non-fatal (a retry, a fallback): the log's
            self.note(f"codex: {need(item, 'message')}")
        elif kind in TOOLS:
            self.timeline.item(item_key("tool", item_id), "tool", TOOLS[kind](self, item))
        else:
            log.debug("ignoring a codex item of type %r", str(kind)[:64])

    def _command(self, item: dict[str, Any]) -> dict[str, Any]:
        text = need_text(item, "aggregated_output")
        if isinstance(item.get("exit_code"), int):
            text = f"{text.rstrip(chr(10))}\nexit code {item['exit_code']}".lstrip("\n")
        declined = item.get("status") == "declined"
        return tool_data(
            shown_command(need(item, "command")),
            "execute",
            _status(item),
            text="Declined." if declined else clip_tail(text, MAX_TOOL_TEXT),
        )

    def _file_change(self, item: dict[str, Any]) -> dict[str, Any]:
        changes = [c for c in need(item, "changes", kind=list) if isinstance(c, dict)]
        paths = [display_path(self.root, c["path"]) for c in changes if isinstance(c.get("path"), str)]
        deletes = bool(changes) and {c.get("kind") for c in changes} == {"delete"}
        title = ("Delete " if deletes else "Edit ") + ", ".join(paths)
        return tool_data(title, "delete" if deletes else "edit", _status(item), locations=paths)

    def _mcp(self, item: dict[str, Any]) -> dict[str, Any]:
        title = f"{need(item, 'server')}: {need(item, 'tool')}"
        error = need_text(item, "error", "message")
        result = item.get("result")
        text = error or content_text(result.get("content") if isinstance(result, dict) else None)
        return tool_data(title, "other", _status(item), text=clip(text, MAX_TOOL_TEXT))

    def _search(self, item: dict[str, Any]) -> dict[str, Any]:
        query = need_text(item, "query")  # empty until the search is done
        return tool_data(f"Search the web: {query}", "search", "completed" if query else "in_progress")

    def _todo(self, items: list[Any]) -> None:
        entries = [
            {
                "content": clip(need(step, "text"), MAX_PLAN_CONTENT),
                "status": "completed" if step.get("completed") is True else "pending",
                "priority": "medium",
            }
            for step in items[:MAX_PLAN_ENTRIES]
        ]
        self.timeline.item("plan", "plan", {"entries": entries})

    def _usage(self, usage: dict[str, Any]) -> None:
        def count(name: str) -> int:
            value = usage.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        cached = f", {count('cached_input_tokens'):,} of them cached" if count("cached_input_tokens") else ""
        self.timeline.notice(f"Tokens: {count('input_tokens'):,} in{cached}, {count('output_tokens'):,} out.")


TOOLS: dict[str, Callable[[CodexExecEvents, dict[str, Any]], dict[str, Any]]] = {
    "command_execution": CodexExecEvents._command,
    "file_change": CodexExecEvents._file_change,
    "mcp_tool_call": CodexExecEvents._mcp,
    "web_search": CodexExecEvents._search,
}


def _status(item: dict[str, Any]) -> str:
    return CODEX_STATUS.get(str(item.get("status")), "pending")


def tool_data(
    title: str, kind: str, status: str, *, text: str = "", locations: list[str] | None = None
) -> dict[str, Any]:
    return {
        "title": clip(title, MAX_TITLE),
        "tool_kind": kind,
        "status": status,
        "locations": [clip(path, MAX_LOCATION) for path in (locations or [])[:MAX_LOCATIONS]],
        "text": text,
        "diffs": [],
    }


def content_text(content: Any) -> str:
    """A tool result's content as text: a string, or the text of its blocks."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [
        block["text"] if isinstance(block.get("text"), str) else f"[{block.get('type', 'content')}]"
        for block in content
        if isinstance(block, dict)
    ]
    return "\n".join(parts)


# Claude Code ---------------------------------------------------------------------------------

CLAUDE_TOOLS = {  # name: (tool kind, the input field its title shows)
    "Bash": ("execute", "command"),
    "Read": ("read", "file_path"),
    "Write": ("edit", "file_path"),
    "Edit": ("edit", "file_path"),
    "MultiEdit": ("edit", "file_path"),
    "NotebookEdit": ("edit", "notebook_path"),
    "Glob": ("search", "pattern"),
    "Grep": ("search", "pattern"),
    "LS": ("read", "path"),
    "WebFetch": ("fetch", "url"),
    "WebSearch": ("fetch", "query"),
    "Task": ("other", "description"),
    "Agent": ("other", "description"),
}
PATH_FIELDS = ("file_path", "notebook_path", "path")
CLAUDE_STOPS = {
    "error_max_turns": "it reached its limit of turns",
    "error_during_execution": "an error during the run",
    "error_max_budget_usd": "it reached its budget",
}
PLAN_STATUS = {"pending": "pending", "in_progress": "in_progress", "completed": "completed"}


class ClaudeStreamEvents:
    """Claude Code's stream-json messages onto the timeline."""

    def __init__(self, timeline: Timeline, root: str, note: Note):
        self.timeline = timeline
        self.root = root
        self.note = note
        self.counts = {"agent": 0, "thought": 0}
        self.tools: dict[str, dict[str, Any]] = {}  # by tool_use id
        self.last_text = ""  # the agent's last message, to say the result once

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "assistant":
            self._assistant(event)
        elif kind == "user":
            self._results(event)
        elif kind == "result":
            self._result(event)
        elif kind == "system" and event.get("subtype") == "init":
            log.debug("claude session %s", need_text(event, "session_id")[:64])
        else:
            log.debug("ignoring a claude message of type %r", str(kind)[:64])

    def _assistant(self, event: dict[str, Any]) -> None:
        content = need(event, "message", "content", kind=list)
        for block in content:
            if not isinstance(block, dict):
                raise Malformed("a content block is not an object")
            kind = block.get("type")
            if kind == "text" and need(block, "text").strip():
                self._text("agent", block["text"])
                self.last_text = block["text"]
            elif kind == "thinking" and need(block, "thinking").strip():
                self._text("thought", block["thinking"])
            elif kind == "tool_use":
                self._tool_use(block)
        if isinstance(event.get("error"), str):
            self.timeline.notice(f"Claude Code: {event['error']}", "error")

    def _text(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        self.timeline.item(f"{kind}:{self.counts[kind]}", kind, {"text": clip(text, MAX_AGENT_TEXT)})

    def _tool_use(self, block: dict[str, Any]) -> None:
        tool_id, name = need(block, "id"), need(block, "name")
        given = block.get("input")
        arguments: dict[str, Any] = given if isinstance(given, dict) else {}
        if name == "TodoWrite" and isinstance(arguments.get("todos"), list):
            self._todos(arguments["todos"])
            return
        kind, field = CLAUDE_TOOLS.get(name, ("other", ""))
        shown = arguments.get(field)
        path = next((arguments[f] for f in PATH_FIELDS if isinstance(arguments.get(f), str)), None)
        if isinstance(shown, str) and field in PATH_FIELDS:
            shown = display_path(self.root, shown)
        title = name
        if isinstance(shown, str) and shown:
            title = shown if kind == "execute" else f"{name} {shown}"
        locations = [display_path(self.root, path)] if path else []
        self.tools[tool_id] = tool_data(title, kind, "in_progress", locations=locations)
        self.timeline.item(tool_key(tool_id), "tool", self.tools[tool_id])

    def _todos(self, todos: list[Any]) -> None:
        entries = [
            {
                "content": clip(need(todo, "content"), MAX_PLAN_CONTENT),
                "status": PLAN_STATUS.get(str(todo.get("status")), "pending"),
                "priority": "medium",
            }
            for todo in todos[:MAX_PLAN_ENTRIES]
        ]
        self.timeline.item("plan", "plan", {"entries": entries})

    def _results(self, event: dict[str, Any]) -> None:
        content = need(event, "message", "content", kind=object)
        if not isinstance(content, list):
            return  # the prompt as text: the timeline shows it already
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            tool_id = need(block, "tool_use_id")
            data = self.tools.get(tool_id)
            if data is None:
                continue  # a result of a to-do update, or of a tool never announced
            data["status"] = "failed" if block.get("is_error") is True else "completed"
            data["text"] = clip_tail(content_text(block.get("content")), MAX_TOOL_TEXT)
            self.timeline.item(tool_key(tool_id), "tool", data)

    def _result(self, event: dict[str, Any]) -> None:
        subtype = need(event, "subtype")
        text = need_text(event, "result")
        failed = subtype != "success" or event.get("is_error") is True
        if failed:
            errors = [e for e in event.get("errors") or [] if isinstance(e, str)]
            why = CLAUDE_STOPS.get(subtype) or "; ".join(errors) or text or subtype
            self.timeline.notice(clip(f"Claude Code stopped: {why}", MAX_NOTICE), "error")
            return
        if text.strip() and text.strip() != self.last_text.strip():
            self._text("agent", text)
        self.timeline.notice(self._summary(event))

    @staticmethod
    def _summary(event: dict[str, Any]) -> str:
        turns, ms, cost = event.get("num_turns"), event.get("duration_ms"), event.get("total_cost_usd")
        parts = []
        if isinstance(turns, int):
            parts.append(f"{turns} turn{'' if turns == 1 else 's'}")
        if isinstance(ms, int | float):
            parts.append(f"{ms / 1000:.1f} s")
        if isinstance(cost, int | float) and cost:
            parts.append(f"${cost:.4f}")
        return "Done" + (f": {', '.join(parts)}." if parts else ".")


PARSERS: dict[str, type[CodexExecEvents] | type[ClaudeStreamEvents]] = {
    "codex-jsonl": CodexExecEvents,
    "claude-stream-json": ClaudeStreamEvents,
}


def parse_line(line: str) -> dict[str, Any] | None:
    """The event a line holds (a JSON object with a string `type`), or None (text for the log)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("type"), str) else None
