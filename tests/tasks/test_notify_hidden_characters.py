"""Push titles and bodies show hidden characters in host and agent text (a file
name in a permission title, a failed task's error) as ⟨U+202E⟩, never raw."""

import pytest

from tasks import notify
from tasks.models import PermissionRequest, TaskState
from tests.kits.common import make_host
from tests.kits.task_stream import make_task, offering, shared_project

pytestmark = pytest.mark.django_db

SPOOF = "invoice\u202egnp.exe"
ACP = {"name": "codex", "label": "Codex", "kind": "acp", "needs_file": False}


@pytest.fixture
def task(team_a, alice):
    host, _ = make_host(team_a, "studio")
    project = shared_project(offering(host, ACP), name="bills\u200b")
    return make_task(project, alice, executor="codex", state=TaskState.RUNNING, session_state="waiting")


def test_a_permission_push_shows_the_markers(alice, task):
    request = PermissionRequest.objects.create(
        task=task, request_id="p1", title=f"Edit {SPOOF}", tool_kind="edit"
    )
    message = notify.permission_message(request, alice)
    assert message.title == "Agent asks: Edit invoice⟨U+202E⟩gnp.exe"
    assert message.body.startswith("bills⟨U+200B⟩ on studio")


def test_a_failed_task_push_shows_the_markers(task):
    task.state, task.error = TaskState.FAILED, f"could not write {SPOOF}"
    message = notify.task_message(task)
    assert "invoice⟨U+202E⟩gnp.exe" in message.title and "\u202e" not in message.title
    assert message.body == "bills⟨U+200B⟩ on studio"
