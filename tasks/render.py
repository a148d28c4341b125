"""What the task page shows, ready for a template: an agent session's timeline.
Everything a host sent stays text for the template to escape, except diffs,
escaped by tasks.diffview, agent Markdown, sanitized by projects.render, and
tool output, its colours turned into classes and the rest escaped by tasks.ansi."""

import heapq
from datetime import timedelta
from types import SimpleNamespace

from projects.render import markdown_render_many
from protocol.computer import step_subject
from tasks import ansi
from tasks.diffview import FileDiff, file_diffs


def step_label(step: dict, kind: str = "browser") -> str:
    """`fill #qty = 3`, `open https://...`: a browser step in a line; `click 120,45`,
    `key ctrl+s`: a computer step."""
    if kind == "computer":
        return f"{step.get('action', '?')} {step_subject(step)}".strip()
    target = step.get("url") or step.get("selector") or step.get("text") or step.get("key") or ""
    value = f" = {step['value']}" if "value" in step else ""
    return f"{step.get('action', '?')} {target}{value}".strip()


# Agent sessions ------------------------------------------------------------------------

TOOL_KINDS = {
    "read": ("≡", "Read"),
    "edit": ("✎", "Edit"),
    "delete": ("✕", "Delete"),
    "move": ("⇄", "Move"),
    "search": ("⌕", "Search"),
    "execute": (">_", "Run"),
    "think": ("…", "Think"),
    "fetch": ("↓", "Fetch"),
    "switch_mode": ("⇆", "Mode"),
    "other": ("•", "Tool"),
    "computer": ("▣", "Desktop"),  # an action a model asked for on a computer task
}
TOOL_STATUSES = {
    "pending": "Pending",
    "in_progress": "In progress",
    "completed": "Completed",
    "failed": "Failed",
}
PLAN_MARKS = {"completed": ("✓", "done"), "in_progress": ("→", "in progress"), "pending": ("○", "to do")}


def duration_words(seconds: int) -> str:
    return f"{seconds} s" if seconds < 60 else f"{round(seconds / 60)} min"


def permission_verdict(request) -> str:
    """What became of a permission request, in words: "" while it waits."""
    if request.outcome == "timed_out":
        waited = (
            f"No answer in {duration_words(request.timeout_seconds)}"
            if request.timeout_seconds
            else "No answer"
        )
        return f"{waited}: rejected" if request.option_id else waited
    if request.outcome == "cancelled":
        return "Cancelled with the turn"
    option = request.option(request.option_id) if request.option_id else None
    if option is None:
        return ""
    if request.answered_by_id and request.answered_by:
        return f"{request.answered_by.email} chose {option['name']}"
    return f"Answered: {option['name']}"


def _diffs(raw: list[dict]) -> list[FileDiff]:
    """An agent's proposed or made edits, shown like a task's changes."""
    edit = {"op": "modified", "binary": False, "too_large": False}
    return file_diffs([SimpleNamespace(path=d["path"], diff=d["diff"], **edit) for d in raw])


def _item_entry(item) -> dict:
    entry = {"kind": item.kind, "key": item.key, "at": item.created_at, "data": item.data}
    if item.kind == "tool":
        entry["icon"], entry["label"] = TOOL_KINDS.get(item.data.get("tool_kind"), TOOL_KINDS["other"])
        entry["status"] = TOOL_STATUSES.get(item.data.get("status"), "")
        entry["diffs"] = _diffs(item.data.get("diffs", []))
        entry["output_html"] = ansi.render(str(item.data.get("text") or ""))[0]  # colours as classes
    elif item.kind == "plan":
        entry["entries"] = [
            {**e, "mark": PLAN_MARKS[e["status"]][0], "status_words": PLAN_MARKS[e["status"]][1]}
            for e in item.data.get("entries", [])
            if e.get("status") in PLAN_MARKS
        ]
    return entry


def _permission_entry(request) -> dict:
    deadline = None
    if request.on_timeout == "reject" and request.timeout_seconds:
        deadline = request.created_at + timedelta(seconds=request.timeout_seconds)
    return {
        "kind": "permission",
        "key": f"permission-{request.id}",
        "at": request.created_at,
        "request": request,
        "icon": TOOL_KINDS.get(request.tool_kind, TOOL_KINDS["other"])[0],
        "diffs": _diffs(request.diffs),
        "deadline": deadline,
        "verdict": permission_verdict(request),
    }


def _render_agent_text(entries: list[dict]) -> None:
    """Agent Markdown, all of a page's at once: one cache round trip, and only
    texts never seen before are rendered."""
    agent = [entry for entry in entries if entry["kind"] == "agent"]
    texts = [str(entry["data"].get("text", "")) for entry in agent]
    for entry, rendered in zip(agent, markdown_render_many(texts=texts), strict=True):
        entry["html"], entry["notice"] = rendered.html, rendered.notice


def timeline_entries(items: list, permissions: list) -> list[dict]:
    """Entries in the order they came: each permission request among the items
    that came before and after it; an item that changes keeps its place."""
    entries = [_item_entry(item) for item in items]
    _render_agent_text(entries)
    requests = [_permission_entry(request) for request in permissions]
    return list(heapq.merge(entries, requests, key=lambda entry: entry["at"]))
