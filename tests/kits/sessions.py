"""Helpers for agent-session tests: a host offering an `acp` executor, a running
session, and what its agent sends on the `tasks` stream."""

from contextlib import contextmanager
from unittest import mock

from django.utils import timezone

from projects.models import Project
from tasks.models import PermissionRequest, Task, TaskState
from tests.kits.common import make_host
from tests.kits.task_stream import CLAUDE, TaskStream, make_task, offering, shared_project

CODEX = {"name": "codex", "label": "Codex", "kind": "acp", "needs_file": False}
ALLOW = {"option_id": "allow", "name": "Allow once", "kind": "allow_once"}
ALWAYS = {"option_id": "always", "name": "Always allow", "kind": "allow_always"}
REJECT = {"option_id": "reject", "name": "Reject", "kind": "reject_once"}
DIFF = "--- a/notes.md\n+++ b/notes.md\n@@ -1 +1 @@\n-old line\n+new line\n"
EXECUTORS = (CODEX, CLAUDE)


def session_project(team) -> Project:
    """A project of a host (Studio) of the team that offers an `acp` executor."""
    host, _ = make_host(team, "Studio")
    return shared_project(offering(host, *EXECUTORS))


def make_session(project, user, **fields) -> Task:
    """A session the host started, waiting for a message (its first turn done)."""
    now = timezone.now()
    values = {
        "executor": "codex",
        "executor_label": "Codex",
        "state": TaskState.RUNNING,
        "session_state": "waiting",
        "received_at": now,
        "started_at": now,
    }
    values.update(fields)
    return make_task(project, user, **values)


def ask(task: Task, request_id: str = "p1", **fields) -> PermissionRequest:
    """A pending permission request, as if the host had sent it."""
    values = {"title": "Edit notes.md", "tool_kind": "edit", "options": [ALLOW, ALWAYS, REJECT]}
    values.update(fields)
    return PermissionRequest.objects.create(task=task, request_id=request_id, **values)


class SessionStream(TaskStream):
    """The `tasks` stream of a host running agent sessions."""

    def item(self, task_id: int, key: str, kind: str, **data):
        return self.send("task.item", {"task_id": task_id, "key": key, "kind": kind, "data": data})

    def turn(self, task_id: int, state: str, message_id=None, stop_reason=None):
        payload = {"task_id": task_id, "state": state, "message_id": message_id, "stop_reason": stop_reason}
        return self.send("task.turn", payload)

    def permission(self, task_id: int, request_id: str = "p1", **fields):
        payload = {
            "task_id": task_id,
            "request_id": request_id,
            "title": "Edit notes.md",
            "tool_kind": "edit",
            "locations": ["notes.md"],
            "diffs": [{"path": "notes.md", "diff": DIFF}],
            "options": [ALLOW, ALWAYS, REJECT],
            "on_timeout": "reject",
            "timeout": 600,
        }
        payload.update(fields)
        return self.send("task.permission", payload)

    def permission_closed(self, task_id: int, request_id: str, outcome: str, option_id=None):
        payload = {"task_id": task_id, "request_id": request_id, "outcome": outcome, "option_id": option_id}
        return self.send("task.permission_closed", payload)


@contextmanager
def ringing():
    """The channel-layer messages sent meanwhile, as (group, message), each at once."""
    sent: list[tuple[str, dict]] = []
    with (
        mock.patch(
            "codexhub.events.group_send", side_effect=lambda group, message: sent.append((group, message))
        ),
        mock.patch("django.db.transaction.on_commit", lambda f: f()),
    ):
        yield sent


def to_host(sent: list[tuple[str, dict]], host_id: int) -> list[dict]:
    return [message for group, message in sent if group == f"host.{host_id}"]


# A permission request as it reaches the phones, and a phone subscribed to them.

ACP = {"name": "codex", "label": "Codex", "kind": "acp", "needs_file": False}
OPTIONS = [
    {"option_id": "allow", "name": "Allow once", "kind": "allow_once"},
    {"option_id": "always", "name": "Always allow", "kind": "allow_always"},
    {"option_id": "reject", "name": "Reject", "kind": "reject_once"},
]


def waiting_session(team, user) -> Task:
    """`user`'s running session on the project "notes" of a new host "studio" of `team`."""
    host, _ = make_host(team, "studio")
    project = shared_project(offering(host, ACP), name="notes")
    return make_task(
        project,
        user,
        executor="codex",
        prompt="Add a line to the notes",
        state=TaskState.RUNNING,
        session_state="waiting",
    )


def asking(task, options=OPTIONS, request_id="p1") -> PermissionRequest:
    """The agent of `task` asks to edit notes.md."""
    return PermissionRequest.objects.create(
        task=task, request_id=request_id, title="Edit notes.md", tool_kind="edit", options=options
    )


def subscribed(user, push_service):
    """A Web Push device of `user`, subscribed at the local push service."""
    return push_service.device_for(user)
