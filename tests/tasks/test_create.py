"""Sending a task from the phone, and every way it is refused (SECURITY.md
29, 62-66, 72): a clear 4xx, no Task row, nothing dispatched."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from devices.models import Host
from tasks.models import Task, TaskState
from tasks.services import MAX_PROMPT
from tests.kits.common import login, make_host, make_user, page_text
from tests.kits.mirror_stream import Stream
from tests.kits.task_stream import BULLETS, CLAUDE, make_task, offering, shared_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(team_a):
    host, _ = make_host(team_a, "Studio")
    return offering(host, BULLETS, CLAUDE)


@pytest.fixture
def project(host):
    project = shared_project(host, files=("README.md", "notes/plan.md"))
    Stream(host.id).send(
        "mirror.batch",
        {"project": "docs", "changes": [{"op": "upsert", "path": "key", "kind": "symlink"}]},
        seq=3,
    )
    return project


def send(client, project, **fields):
    data = {"project": project.id, "executor": "claude", "prompt": "Make a list", "target": ""}
    data.update(fields)
    return client.post(reverse("task_new"), data)


def test_a_task_is_queued_audited_and_dispatched(alice_client, alice, project, dispatched):
    response = send(alice_client, project, executor="bullets", target="README.md", prompt="Bullets, please")
    task = Task.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("task_detail", args=[task.id])
    assert (task.state, task.executor, task.target, task.created_by) == (
        "queued",
        "bullets",
        "README.md",
        alice,
    )
    assert task.team_id == project.host.team_id and task.executor_label == "Bulletize"
    assert dispatched == [project.host_id]
    audit = AuditEvent.objects.get(action="task.created")
    assert audit.actor == alice and "Studio" in audit.target
    assert audit.detail["prompt"] == "Bullets, please" and audit.detail["file"] == "README.md"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": "   "}, "Write what the task should do."),
        ({"prompt": "x" * (MAX_PROMPT + 1)}, "The prompt is too long"),
        ({"prompt": "bad\x00prompt"}, "NUL"),
        ({"target": "../x"}, "There is no file '../x' in this project."),
        ({"target": "/etc/passwd"}, "There is no file '/etc/passwd'"),
        ({"target": "-rf"}, "There is no file '-rf'"),
        ({"target": "--output=/etc/passwd"}, "There is no file '--output=/etc/passwd'"),
        ({"target": "notes/missing.md"}, "There is no file 'notes/missing.md'"),
        ({"target": "notes"}, "There is no file 'notes'"),
        ({"target": "key"}, "There is no file 'key'"),  # a symlink in the mirror
        ({"target": "a\\b"}, "There is no file"),
        ({"executor": "shell"}, "Studio does not offer 'shell'. It offers: bullets, claude."),
        ({"executor": "bullets"}, "Bulletize works on one file: choose the file first."),
    ],
)
def test_bad_input_is_refused_with_a_message(alice_client, project, dispatched, fields, message):
    response = send(alice_client, project, **fields)
    assert response.status_code == 400
    assert message in page_text(response)
    assert not Task.objects.exists() and dispatched == []


def test_a_host_without_executors_says_how_to_add_one(alice_client, project, dispatched):
    Host.objects.filter(id=project.host_id).update(executors=[])
    response = send(alice_client, project)
    assert response.status_code == 400
    assert "offers no executors yet: configure one in its agent.toml" in page_text(response)
    assert not Task.objects.exists()


def test_another_teams_project_is_404(alice_client, team_b, dispatched):
    foreign, _ = make_host(team_b, "Charlie's box")
    offering(foreign)
    project = shared_project(foreign)
    response = send(alice_client, project)
    assert response.status_code == 404
    missing = alice_client.post(
        reverse("task_new"), {"project": 987654321, "prompt": "x", "executor": "claude"}
    )
    assert missing.status_code == 404
    assert not Task.objects.exists() and dispatched == []


def test_without_a_verified_second_factor_it_is_403(client, alice, project, dispatched):
    login(client, alice, verified=False)
    response = send(client, project)
    assert response.status_code == 403
    assert "Enter your two-factor code first" in page_text(response)
    no_otp = make_user("nootp@example.com", otp=False)
    project.host.team.memberships.create(user=no_otp, role="member")
    other = login(Client(), no_otp, verified=False)
    assert send(other, project).status_code == 403
    assert not Task.objects.exists() and dispatched == []


def test_the_101st_waiting_task_of_a_host_is_429(alice_client, alice, project, settings, dispatched):
    settings.TASK_QUEUE_PER_HOST = 3
    for _ in range(3):
        make_task(project, alice)
    response = send(alice_client, project)
    assert response.status_code == 429
    assert "already has 3 tasks waiting" in page_text(response)
    assert Task.objects.count() == 3 and dispatched == []


def test_sending_too_fast_is_429(alice_client, project, settings, dispatched):
    settings.TASK_CREATE_RATE = "2/m"
    assert [send(alice_client, project).status_code for _ in range(3)] == [302, 302, 429]
    assert Task.objects.count() == 2


def test_cancel_a_queued_task_at_once(alice_client, alice, project):
    task = make_task(project, alice)
    response = alice_client.post(reverse("task_cancel", args=[task.id]))
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.state == TaskState.CANCELLED and task.cancelled_by == alice


def test_cancel_a_finished_task_is_409_and_changes_nothing(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.SUCCEEDED)
    response = alice_client.post(reverse("task_cancel", args=[task.id]))
    assert response.status_code == 409
    assert "This task already finished." in page_text(response)
    task.refresh_from_db()
    assert task.state == TaskState.SUCCEEDED and task.cancel_requested_at is None


def test_cancel_twice_while_running_asks_the_host_once(alice_client, alice, project):
    from unittest import mock

    task = make_task(project, alice, state=TaskState.RUNNING)
    with mock.patch("codexhub.events.group_send") as group_send:
        for _ in range(2):
            with mock.patch("django.db.transaction.on_commit", lambda f: f()):
                assert alice_client.post(reverse("task_cancel", args=[task.id])).status_code == 302
    to_host = [args for args, _ in group_send.call_args_list if args[0] == f"host.{project.host_id}"]
    assert to_host == [(f"host.{project.host_id}", {"type": "task.cancel", "task_id": task.id})]
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING and task.cancel_requested_at is not None
    assert AuditEvent.objects.filter(action="task.cancel_requested").count() == 1


def test_run_again_makes_a_new_task_with_the_same_input(alice_client, alice, project, dispatched):
    first = make_task(project, alice, state=TaskState.FAILED, target="README.md", prompt="Again")
    response = alice_client.post(reverse("task_rerun", args=[first.id]))
    second = Task.objects.exclude(id=first.id).get()
    assert response["Location"] == reverse("task_detail", args=[second.id])
    assert (second.prompt, second.target, second.executor, second.rerun_of) == (
        "Again",
        "README.md",
        "claude",
        first,
    )
    assert dispatched == [project.host_id]


def test_a_hostile_prompt_is_shown_as_text(alice_client, alice, project):
    task = make_task(project, alice, prompt="<script>window.__pwned=1</script> $(touch PWNED)")
    body = alice_client.get(reverse("task_detail", args=[task.id])).content.decode()
    assert "<script>window.__pwned" not in body
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt; $(touch PWNED)" in body
