"""What a Codex thread shows: codex app-server's notifications as the task's timeline
(docs/protocol.md, "Codex threads"), through acp_timeline.Timeline (its streaming, sizes
and order).

Keys are the item's id within its turn (`agent:2.msg_1`): a local model may reuse ids
across turns. A notification without what the mapping needs raises Malformed; the session
fails the task with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
from collections.abc import Callable
from typing import Any

from hostagent.tasks.acp_files import display_path
from hostagent.tasks.acp_timeline import Timeline, clip, clip_tail
from hostagent.tasks.changes import unified_diff
from protocol.limits import (
    ITEM_KEY,
    MAX_LOCATION,
    MAX_PLAN_CONTENT,
    MAX_PLAN_ENTRIES,
    MAX_TITLE,
    MAX_TOOL_TEXT,
)

OUTPUT_EVERY = 0.5  # seconds between re-sends of a running command's output
TOOL_STATUS = {
    "inProgress": "in_progress",
    "completed": "completed",
    "failed": "failed",
    "declined": "failed",
}
PLAN_STATUS = {"pending": "pending", "inProgress": "in_progress", "completed": "completed"}
COMMAND_APPROVAL = "item/commandExecution/requestApproval"


class Malformed(Exception):
    """A message from codex lacks what the agent needs."""


def need(data: Any, *path: str, kind: type = str) -> Any:
    """data[path...] of type `kind`; raises Malformed naming what is missing."""
    value = data
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise Malformed(f"{'.'.join(path)} is not a {kind.__name__}")
    return value


def need_text(data: Any, *path: str) -> str:
    """data[path...] if it is a string, else ""."""
    value = data
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def item_key(prefix: str, item_id: str) -> str:
    key = f"{prefix}:{item_id}"
    if ITEM_KEY.fullmatch(key):
        return key
    return f"{prefix}:h" + hashlib.sha256(item_id.encode("utf-8", "replace")).hexdigest()[:32]


def shown_command(command: str) -> str:
    """`printf hi > x` for codex's `/bin/bash -lc 'printf hi > x'`."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return command
    if len(argv) == 3 and os.path.basename(argv[0]) in ("bash", "sh", "zsh") and argv[1] in ("-lc", "-c"):
        return argv[2]
    return command


def change_diff(path: str, change: dict[str, Any]) -> str:
    """A unified diff of one of codex's changes: an update's hunks get their headers, an added or
    deleted file's text (what codex sends for those) becomes its diff."""
    text, kind = str(change.get("diff") or ""), need_text(change, "kind", "type")
    if kind == "add":
        return unified_diff(path, "", text)
    if kind == "delete":
        return unified_diff(path, text, "")
    if text.startswith("@@"):
        return f"--- a/{path}\n+++ b/{path}\n{text}"
    return text


class ThreadTimeline:
    def __init__(self, timeline: Timeline, root: str, log: Callable[[str], None]):
        self.timeline = timeline
        self.root = root
        self.log = log  # a line for the task log
        self.turns = 0
        self.tools: dict[str, dict[str, Any]] = {}  # command and file-change items, by key
        self.usage: dict[str, Any] | None = None  # the thread's token usage so far
        self.usage_before: dict[str, Any] | None = None  # as it was when the turn started

    def turn_started(self) -> None:
        self.turns += 1
        self.usage_before = self.usage

    def key(self, prefix: str, item_id: str) -> str:
        return item_key(prefix, f"{self.turns}.{item_id}")

    def notification(self, method: str, params: dict[str, Any]) -> None:
        """One notification (turn/completed is the session's); raises Malformed."""
        if method in ("item/started", "item/completed"):
            item = params.get("item")
            if not isinstance(item, dict):
                raise Malformed("item is not an object")
            self._item(item, done=method == "item/completed")
        elif method == "item/agentMessage/delta":
            self.timeline.chunk("agent", need(params, "delta"), self.key("agent", need(params, "itemId")))
        elif method == "item/reasoning/summaryTextDelta":
            self.timeline.chunk("thought", need(params, "delta"), self.key("thought", need(params, "itemId")))
        elif method == "item/commandExecution/outputDelta":
            self._output(need(params, "itemId"), need(params, "delta"))
        elif method == "turn/plan/updated":
            self._plan(need(params, "plan", kind=list))
        elif method == "thread/tokenUsage/updated":
            self.usage = need(params, "tokenUsage", kind=dict)
        elif method == "error":  # the turn's failure says it on the timeline
            retry = " (retrying)" if params.get("willRetry") else ""
            self.log(f"codex: error{retry}: {need_text(params, 'error', 'message')}")
        elif method in ("warning", "configWarning"):
            self.log(f"codex: {need_text(params, 'message') or need_text(params, 'summary')}")

    def usage_notice(self) -> None:
        """How many tokens the turn took, when codex said."""
        if self.usage is None:
            return
        total = self.usage.get("total") or {}
        before = (self.usage_before or {}).get("total") or {}

        def spent(name: str) -> int:
            return int(total.get(name) or 0) - int(before.get(name) or 0)

        if not spent("totalTokens"):  # an interrupted turn the model never answered
            return
        self.timeline.notice(
            f"Tokens: {spent('totalTokens'):,} this turn ({spent('inputTokens'):,} in, "
            f"{spent('outputTokens'):,} out), {int(total.get('totalTokens') or 0):,} in the thread."
        )

    def approval(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """What a permission request for codex's approval request shows."""
        item_id = params.get("itemId")
        known = self.tools.get(self.key("tool", item_id)) if isinstance(item_id, str) else None
        if method == COMMAND_APPROVAL:
            command = need_text(params, "command")
            title = f"Run {shown_command(command)}" if command else "Run a command"
            summary = {"title": clip(title, MAX_TITLE), "tool_kind": "execute", "locations": [], "diffs": []}
        elif known is not None:
            data = self._tool_data(known)
            summary = {key: data[key] for key in ("title", "tool_kind", "locations", "diffs")}
        else:
            summary = {"title": "Edit files", "tool_kind": "edit", "locations": [], "diffs": []}
        reason = need_text(params, "reason")
        if reason:
            summary["title"] = clip(f"{summary['title']} ({reason})", MAX_TITLE)
        return summary

    def _item(self, item: dict[str, Any], done: bool) -> None:
        kind, item_id = need(item, "type"), need(item, "id")
        if kind == "agentMessage" and done:
            self.timeline.settle("agent", self.key("agent", item_id), need(item, "text"))
        elif kind == "reasoning" and done:
            summary = [part for part in item.get("summary") or [] if isinstance(part, str)]
            if summary:
                self.timeline.settle("thought", self.key("thought", item_id), "\n\n".join(summary))
        elif kind in ("commandExecution", "fileChange"):
            if kind == "commandExecution":
                need(item, "command")
            else:
                need(item, "changes", kind=list)
            key = self.key("tool", item_id)
            state = self.tools.setdefault(key, {"output": ""})
            state.update(item=item)
            if isinstance(item.get("aggregatedOutput"), str):
                state["output"] = item["aggregatedOutput"]
            self._post_tool(key)

    def _output(self, item_id: str, delta: str) -> None:
        key = self.key("tool", item_id)
        state = self.tools.get(key)
        if state is None:
            return
        state["output"] = clip_tail(state["output"] + delta, MAX_TOOL_TEXT)
        if asyncio.get_running_loop().time() - state.get("sent_at", 0.0) >= OUTPUT_EVERY:
            self._post_tool(key)

    def _post_tool(self, key: str) -> None:
        state = self.tools[key]
        state["sent_at"] = asyncio.get_running_loop().time()
        self.timeline.item(key, "tool", self._tool_data(state))

    def _tool_data(self, state: dict[str, Any]) -> dict[str, Any]:
        item = state["item"]
        status = TOOL_STATUS.get(str(item.get("status")), "pending")
        declined = item.get("status") == "declined"
        if item["type"] == "commandExecution":
            text = state["output"]
            if isinstance(item.get("exitCode"), int):
                text = f"{text.rstrip(chr(10))}\nexit code {item['exitCode']}".lstrip("\n")
            return {
                "title": clip(shown_command(item["command"]), MAX_TITLE),
                "tool_kind": "execute",
                "status": status,
                "locations": [],
                "text": "Declined." if declined else clip_tail(text, MAX_TOOL_TEXT),
                "diffs": [],
            }
        changes = [c for c in item["changes"] if isinstance(c, dict) and isinstance(c.get("path"), str)]
        paths = [display_path(self.root, c["path"]) for c in changes]
        deletes = {need_text(c, "kind", "type") for c in changes} == {"delete"}
        return {
            "title": clip(("Delete " if deletes else "Edit ") + ", ".join(paths), MAX_TITLE),
            "tool_kind": "delete" if deletes else "edit",
            "status": status,
            "locations": [clip(p, MAX_LOCATION) for p in paths],
            "text": "Declined." if declined else "",
            "diffs": [
                {"path": clip(p, MAX_LOCATION), "diff": change_diff(p, c)}
                for p, c in zip(paths, changes, strict=True)
            ],
        }

    def _plan(self, plan: list[Any]) -> None:
        entries = [
            {
                "content": clip(need(step, "step"), MAX_PLAN_CONTENT),
                "status": PLAN_STATUS.get(str(step.get("status")), "pending"),
                "priority": "medium",
            }
            for step in plan[:MAX_PLAN_ENTRIES]
        ]
        self.timeline.item("plan", "plan", {"entries": entries})
