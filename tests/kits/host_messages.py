"""A valid message of each type a host sends, for the tests that count
their cost or turn them hostile."""

import hashlib

from projects.models import Project
from tests.kits.sessions import ALLOW, REJECT


def text_file(path: str, n: int) -> dict:
    text = f"edit {n}\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {"op": "upsert", "path": path, "kind": "file", "size": len(text), "mtime": 1.0, "hash": digest,
            "text": text, "binary": False}  # fmt: skip


def payloads(kind: str, project: Project, tasks: list, n: int) -> dict:
    """The n-th message of a type, about the n-th task where it names one."""
    task_id = tasks[n].id
    return {
        "hello": {"agent_version": "0.2.0", "platform": "linux-x86_64", "capabilities": ["agent"],
                  "executors": [{"name": "codex", "label": "Codex", "kind": "acp", "needs_file": False}]},
        "mirror.projects": {"projects": [{"name": project.name}]},
        "mirror.batch": {"project": project.name, "changes": [text_file(f"notes/{n}.md", n)]},
        "task.received": {"task_id": task_id},
        "task.started": {"task_id": task_id},
        "task.log": {"task_id": task_id, "seq": 1, "text": "building\n"},
        "task.finished": {"task_id": task_id, "outcome": "succeeded", "exit_code": 0, "duration": 2.0},
        "task.step": {"task_id": task_id, "step": {"index": 0, "action": "screenshot", "ok": True,
                                                   "artifact": "step-0.png"}},
        "task.item": {"task_id": task_id, "key": "agent:1", "kind": "agent", "data": {"text": "Done."}},
        "task.turn": {"task_id": task_id, "state": "working", "message_id": None, "stop_reason": None},
        "task.permission": {"task_id": task_id, "request_id": "p2", "title": "Edit notes.md",
                            "tool_kind": "edit", "options": [ALLOW, REJECT], "on_timeout": "reject",
                            "timeout": 600},
        "task.permission_closed": {"task_id": task_id, "request_id": "p1", "outcome": "cancelled",
                                   "option_id": None},
        "git.result": {"request": f"request-{n:08d}", "ok": False, "error": "fatal: not a git repository"},
        "task.thread": {"task_id": task_id, "thread_id": f"01a24ce8-9eb6-7943-aa24-0f2a475f{n:04d}"},
        "codex.threads": {"request": f"request-{n:08d}", "ok": False, "error": "codex is not installed"},
        "host.manage_result": {"request": f"request-{n:08d}", "ok": False, "error": "management is off"},
    }[kind]  # fmt: skip


STREAMS = {
    "hello": "host",
    "mirror.projects": "mirror",
    "mirror.batch": "mirror",
    "git.result": "git",
    "codex.threads": "codex",
    "host.manage_result": "manage",
}
