"""An agent session's timeline: ACP session updates turned into `task.item` messages
(docs/protocol.md, "Agent sessions (ACP)"), cut to the hub's sizes.

Every message of a session (`task.item`, `task.turn`, `task.permission`,
`task.permission_closed`) goes out through `post`, which only queues it: one
writer task sends them in the order they were posted. The ACP connection runs
each incoming message in its own task, so posting without awaiting is what
keeps the timeline in the agent's order.

- Agent message and thought chunks accumulate into one item per message
  (`agent:1`, `thought:1`, ...), re-sent whole at most every 0.2 s and at once
  when any other item is posted or the turn ends; a chunk after another item
  starts a new message.
- Tool calls (`tool:<toolCallId>`): the start and its progress updates merged
  into one item, diffs as unified diffs, paths relative to the root when inside.
- The plan is one item (`plan`), replaced whole; notices are the host agent's own words.

A message too big for one frame (the link refuses it with ValueError) loses
its largest diff, then half its text, until it fits: the session never dies of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    ContentToolCallContent,
    FileEditToolCallContent,
    TerminalToolCallContent,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
)

from hostagent.tasks.acp_files import display_path
from hostagent.tasks.changes import unified_diff
from protocol.limits import (
    ITEM_KEY,
    MAX_AGENT_TEXT,
    MAX_DIFFS,
    MAX_ITEMS,
    MAX_LOCATION,
    MAX_LOCATIONS,
    MAX_NOTICE,
    MAX_PLAN_CONTENT,
    MAX_PLAN_ENTRIES,
    MAX_TITLE,
    MAX_TOOL_TEXT,
    MAX_USER_TEXT,
    TOOL_KINDS,
    TOOL_STATUSES,
)

log = logging.getLogger("hostagent.tasks.acp")

FLUSH_EVERY = 0.2
KEY = ITEM_KEY
DIFF_DROPPED = "... diff too large to show\n"

Send = Callable[[str, dict[str, Any]], Awaitable[Any]]
TerminalText = Callable[[str], str | None]


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis where it was cut; NUL (Postgres refuses it) replaced."""
    text = text.replace("\0", "\ufffd")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_tail(text: str, limit: int) -> str:
    """The last `limit` characters (command output: the end matters)."""
    text = text.replace("\0", "\ufffd")
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def block_text(block: Any) -> str:
    """What a content block says, as text (a placeholder for what is not text)."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind == "resource_link":
        return f"[{block.name or block.uri}]"
    if kind == "resource":
        return getattr(block.resource, "text", None) or f"[{block.resource.uri}]"
    return f"[{kind}]"


def tool_key(tool_call_id: str) -> str:
    key = f"tool:{tool_call_id}"
    if KEY.fullmatch(key):
        return key
    return "tool:h" + hashlib.sha256(tool_call_id.encode("utf-8", "replace")).hexdigest()[:32]


class _Stream:
    """The agent message or thought being streamed."""

    def __init__(self, kind: str, key: str):
        self.kind = kind
        self.key = key
        self.text = ""
        self.dirty = False
        self.sent_at = float("-inf")
        self.timer: asyncio.TimerHandle | None = None


class Timeline:
    def __init__(self, task_id: int, root: str, send: Send, terminal_text: TerminalText = lambda _: None):
        self.task_id = task_id
        self.root = root
        self.send = send
        self.terminal_text = terminal_text  # a terminal's output so far, for tool calls showing one
        self.keys: set[str] = set()
        self.counts = {"agent": 0, "thought": 0, "notice": 0}
        self.tools: dict[str, dict[str, Any]] = {}
        self.stream: _Stream | None = None
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.writer = asyncio.create_task(self._write())

    # Sending, in order ------------------------------------------------------------------

    def post(self, type_: str, payload: dict[str, Any]) -> None:
        if type_ != "task.item" or payload["kind"] not in ("agent", "thought"):
            self.end_stream()  # the message being streamed goes first, and a later chunk starts anew
        self.queue.put_nowait((type_, {"task_id": self.task_id, **payload}))

    async def close(self) -> None:
        """Send what is queued, then stop the writer."""
        self.end_stream()
        await self.queue.join()
        self.writer.cancel()

    async def _write(self) -> None:
        while True:
            type_, payload = await self.queue.get()
            try:
                await self._send_fitting(type_, payload)
            except Exception:  # a broken message must not stop the ones after it
                log.exception("task %d: could not send %s", self.task_id, type_)
            finally:
                self.queue.task_done()

    async def _send_fitting(self, type_: str, payload: dict[str, Any]) -> None:
        while True:
            try:
                await self.send(type_, payload)
                return
            except ValueError:
                if not _shrink(payload.get("data", payload)):
                    log.warning("task %d: dropped a %s too large for one frame", self.task_id, type_)
                    return

    # Items ------------------------------------------------------------------------------

    def item(self, key: str, kind: str, data: dict[str, Any]) -> None:
        if key not in self.keys:
            if len(self.keys) >= MAX_ITEMS:
                return  # the hub keeps a task's first entries only
            self.keys.add(key)
        self.post("task.item", {"key": key, "kind": kind, "data": data})

    def user(self, text: str, message_id: int | None) -> None:
        key = "user:prompt" if message_id is None else f"user:{message_id}"
        self.item(key, "user", {"text": clip(text, MAX_USER_TEXT), "message_id": message_id})

    def notice(self, text: str, level: str = "info") -> None:
        self.counts["notice"] += 1
        self.item(
            f"notice:{self.counts['notice']}", "notice", {"text": clip(text, MAX_NOTICE), "level": level}
        )

    def turn(self, state: str, message_id: int | None = None, stop_reason: str | None = None) -> None:
        self.post("task.turn", {"state": state, "message_id": message_id, "stop_reason": stop_reason})

    def update(self, update: Any) -> None:
        """One `session/update` from the agent."""
        if isinstance(update, AgentMessageChunk | AgentThoughtChunk):
            self.chunk(
                "agent" if isinstance(update, AgentMessageChunk) else "thought", block_text(update.content)
            )
        elif isinstance(update, AgentPlanUpdate):
            self.plan(update)
        elif isinstance(update, ToolCallStart | ToolCallProgress):
            self.tool(update)
        else:  # modes, commands, usage, the user's own message: nothing for the timeline
            self.flush()

    def plan(self, update: AgentPlanUpdate) -> None:
        entries = [
            {
                "content": clip(entry.content, MAX_PLAN_CONTENT),
                "status": entry.status,
                "priority": entry.priority,
            }
            for entry in update.entries[:MAX_PLAN_ENTRIES]
        ]
        self.item("plan", "plan", {"entries": entries})

    # Streaming text ---------------------------------------------------------------------

    def chunk(self, kind: str, text: str, key: str | None = None) -> None:
        """More of the message or thought being streamed; `key`: the item it belongs to (else a
        chunk after another item starts the next one)."""
        stream = self.stream
        if stream is None or stream.kind != kind or (key is not None and stream.key != key):
            self.end_stream()
            self.counts[kind] += 1
            stream = self.stream = _Stream(kind, key or f"{kind}:{self.counts[kind]}")
        if len(stream.text) <= MAX_AGENT_TEXT:  # past the cap nothing more can be shown
            stream.text += text
        stream.dirty = True
        loop = asyncio.get_running_loop()
        if loop.time() - stream.sent_at >= FLUSH_EVERY:
            self._send_stream()
        elif stream.timer is None:
            stream.timer = loop.call_at(stream.sent_at + FLUSH_EVERY, self._send_stream)

    def _send_stream(self) -> None:
        stream = self.stream
        if stream is None:
            return
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None
        if stream.dirty:
            stream.dirty = False
            stream.sent_at = asyncio.get_running_loop().time()
            self.item(stream.key, stream.kind, {"text": clip(stream.text, MAX_AGENT_TEXT)})

    def flush(self) -> None:
        self._send_stream()

    def settle(self, kind: str, key: str, text: str) -> None:
        """A streamed item's whole text, once the agent says it is done: sent now unless the
        chunks already said exactly that."""
        stream = self.stream
        if stream is not None and stream.key == key:
            if stream.text != text:
                stream.text, stream.dirty = text, True
            self.end_stream()
        else:
            self.item(key, kind, {"text": clip(text, MAX_AGENT_TEXT)})

    def end_stream(self) -> None:
        if self.stream is not None:
            self._send_stream()
            self.stream = None

    # Tool calls -------------------------------------------------------------------------

    def tool(self, update: ToolCallStart | ToolCallProgress) -> None:
        state = self.tools.get(update.tool_call_id)
        if state is None or isinstance(update, ToolCallStart):
            state = self.tools[update.tool_call_id] = {"status": "pending", "kind": "other", "title": ""}
        fields = _tool_fields(update)
        # An update's content replaces the text, but a diff shown once stays (the phone still sees
        # what changed once "completed" replaced it), unless a new diff of the same path replaces it.
        diffs = {**state.get("diffs", {}), **_diffs(fields.get("content") or [])}
        state.update(fields, diffs=diffs)
        self.item(tool_key(update.tool_call_id), "tool", self.tool_data(state))

    def tool_summary(self, tool_call: ToolCallUpdate) -> dict[str, Any]:
        """What a permission request shows: the tool call as known, with the request's fields over it."""
        known = self.tools.get(tool_call.tool_call_id, {})
        fields = _tool_fields(tool_call)
        diffs = _diffs(fields["content"]) if "content" in fields else known.get("diffs", {})
        data = self.tool_data({**known, **fields, "diffs": diffs})
        return {
            "title": data["title"] or "The agent asks for permission",
            "tool_kind": data["tool_kind"],
            "locations": data["locations"],
            "diffs": data["diffs"],
        }

    def tool_data(self, state: dict[str, Any]) -> dict[str, Any]:
        content = state.get("content") or []
        return {
            "title": clip(state.get("title") or "", MAX_TITLE),
            "tool_kind": state.get("kind") if state.get("kind") in TOOL_KINDS else "other",
            "status": state.get("status") if state.get("status") in TOOL_STATUSES else "pending",
            "locations": [
                clip(display_path(self.root, location.path), MAX_LOCATION)
                for location in (state.get("locations") or [])[:MAX_LOCATIONS]
            ],
            "text": self._tool_text(content),
            "diffs": [
                {
                    "path": clip(display_path(self.root, part.path), MAX_LOCATION),
                    "diff": unified_diff(
                        display_path(self.root, part.path), part.old_text or "", part.new_text
                    ),
                }
                for part in list(state.get("diffs", {}).values())[:MAX_DIFFS]
            ],
        }

    def _tool_text(self, content: list[Any]) -> str:
        parts = []
        for part in content:
            if isinstance(part, ContentToolCallContent):
                parts.append(block_text(part.content))
            elif isinstance(part, TerminalToolCallContent):
                output = self.terminal_text(part.terminal_id)
                if output:
                    parts.append(clip_tail(output, MAX_TOOL_TEXT))
        return clip("\n".join(parts), MAX_TOOL_TEXT)


def _tool_fields(update: ToolCallUpdate | ToolCallStart) -> dict[str, Any]:
    """The fields an update sets (None: left as they were)."""
    fields = {
        "title": update.title,
        "kind": update.kind,
        "status": update.status,
        "content": update.content,
        "locations": update.locations,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _diffs(content: list[Any]) -> dict[str, FileEditToolCallContent]:
    return {part.path: part for part in content if isinstance(part, FileEditToolCallContent)}


def _shrink(data: dict[str, Any]) -> bool:
    """Make a message smaller: its largest diff goes, then half of its longest text. False if it cannot."""
    diffs = [d for d in data.get("diffs") or [] if d.get("diff") and d["diff"] != DIFF_DROPPED]
    if diffs:
        max(diffs, key=lambda d: len(d["diff"]))["diff"] = DIFF_DROPPED
        return True
    if len(data.get("text") or "") > 1:
        data["text"] = clip(data["text"], len(data["text"]) // 2)
        return True
    return False
