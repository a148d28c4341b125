"""Computer tasks a model drives, on the hub: the form offers the executor for a goal in words, the
task is a session without steps or follow-ups, and its page shows each action the model asked
for with the screenshot after it, the permission requests, and the model's last words."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from tasks.messages import assignment
from tasks.models import SessionState, Task, TaskState
from tasks.services import GOAL_NOT_STEPS
from tasks.sessions import NO_MESSAGES
from tests.kits.common import login, make_host, page_text
from tests.kits.task_stream import TaskStream, make_task, offering, shared_project

pytestmark = pytest.mark.django_db

PILOT = {
    "name": "pilot",
    "label": "Desktop pilot",
    "kind": "computer",
    "needs_file": False,
    "actions": ["screenshot", "click", "type", "key"],
    "goal": True,
}
DESK = {**PILOT, "name": "desk", "label": "Desktop", "goal": False}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GOAL = "Open the Notes window and write milk in it"
# An action the person refused on the phone, as the agent reports it.
DENIED = {"title": 'type "milk"', "tool_kind": "computer", "status": "failed", "text": "Denied: not done."}


@pytest.fixture
def host(team_a):
    host, token = make_host(team_a, "studio")
    offering(host, PILOT, DESK)
    host.token = token
    return host


@pytest.fixture
def project(host):
    return shared_project(host)


def send(client, project, executor="pilot", prompt=GOAL, **fields):
    data = {"project": project.id, "executor": executor, "prompt": prompt, **fields}
    return client.post(reverse("task_new"), data)


def test_a_goal_goes_to_the_host_as_the_prompt_of_a_session_without_steps(alice_client, project):
    response = send(alice_client, project)
    task = Task.objects.get()
    assert response.status_code == 302
    assert (task.prompt, task.steps, task.executor_kind) == (GOAL, [], "computer")
    assert (
        task.session_state == SessionState.WORKING and task.model_drives and task.workspace == "working_copy"
    )
    message = assignment(task)
    assert message["prompt"] == GOAL and "computer_steps" not in message and "steps" not in message


def test_a_goal_executor_takes_no_steps_and_needs_a_goal(alice_client, project):
    steps = send(alice_client, project, steps=json.dumps([{"action": "screenshot"}]))
    assert steps.status_code == 400
    assert GOAL_NOT_STEPS.format(label="Desktop pilot") in page_text(steps)
    empty = send(alice_client, project, prompt="  ")
    assert empty.status_code == 400 and "Write what the task should do." in page_text(empty)
    assert not Task.objects.exists()


def test_the_form_marks_the_goal_executor(alice_client, project):
    page = alice_client.get(reverse("task_new"), {"project": project.id}).content.decode()
    assert 'value="pilot" data-kind="computer" data-goal="1" data-actions="screenshot click type key"' in page
    assert 'value="desk" data-kind="computer" data-actions=' in page
    assert "A model drives the host's desktop toward this goal, action by action" in page


def test_the_page_shows_each_action_with_its_screen_and_the_permission_request(
    alice_client, alice, host, project
):
    task = make_task(
        project,
        alice,
        executor="pilot",
        executor_label="Desktop pilot",
        executor_kind="computer",
        prompt=GOAL,
        state=TaskState.RUNNING,
        session_state=SessionState.WORKING,
    )
    put = Client().put(
        reverse("api_task_artifact", args=[task.id, "action-1.png"]),
        PNG,
        content_type="image/png",
        HTTP_AUTHORIZATION=f"Bearer {host.token}",
    )
    assert put.status_code == 201
    stream = TaskStream(host.id)
    stream.send("task.item", item(task, "user:prompt", "user", {"text": GOAL, "message_id": None}))
    click = {
        "title": "click 120,45",
        "tool_kind": "computer",
        "status": "completed",
        "artifact": "action-1.png",
    }
    stream.send("task.item", item(task, "action:1", "tool", click))
    stream.send("task.item", item(task, "action:2", "tool", DENIED))
    stream.send(
        "task.permission",
        {
            "task_id": task.id,
            "request_id": "p1",
            "title": 'key ctrl+s: the first action on "Notes", class Toplevel in this task',
            "tool_kind": "computer",
            "options": [
                {"option_id": "allow", "name": "Allow", "kind": "allow_once"},
                {"option_id": "deny", "name": "Deny", "kind": "reject_once"},
            ],
            "on_timeout": "reject",
            "timeout": 600,
        },
    )
    stream.send("task.item", item(task, "agent:1", "agent", {"text": "Wrote milk in Notes."}))
    response = alice_client.get(reverse("task_detail", args=[task.id]))
    page, html = page_text(response), response.content.decode()
    assert "Desktop" in page and "click 120,45" in page and 'type "milk"' in page
    assert "Denied: not done." in page and "Wrote milk in Notes." in page
    shot = reverse("task_artifact", args=[task.id, "action-1.png"])
    assert f'<img src="{shot}" alt="The screen after: click 120,45"' in html
    assert 'key ctrl+s: the first action on "Notes", class Toplevel in this task' in page
    assert "Allow" in page and "Deny" in page and "Waiting for your answer" in page
    # No follow-ups, no Stop turn or End session: Cancel on the status card stops it.
    assert 'id="followup"' not in html and 'id="end-session"' not in html and 'id="stop-turn"' not in html
    refused = alice_client.post(reverse("task_message", args=[task.id]), {"text": "and eggs"})
    assert refused.status_code == 409 and NO_MESSAGES in refused.content.decode()
    assert alice_client.get(shot).content == PNG


def item(task, key, kind, data):
    return {"task_id": task.id, "key": key, "kind": kind, "data": data}


def test_action_screenshots_are_named_so_and_the_teams_only(alice, charlie, host, project):
    task = make_task(project, alice, executor="pilot", executor_kind="computer", state=TaskState.RUNNING)

    def put(name):
        return Client().put(
            reverse("api_task_artifact", args=[task.id, name]),
            PNG,
            content_type="image/png",
            HTTP_AUTHORIZATION=f"Bearer {host.token}",
        )

    assert put("action-1000.png").status_code == 201
    refused = put("action-10000.png")
    assert refused.status_code == 400
    assert "An artifact is named step-<n>.png, step-<n>.pdf or action-<n>.png." in refused.content.decode()
    url = reverse("task_artifact", args=[task.id, "action-1000.png"])
    assert login(Client(), charlie).get(url).status_code == 404
    assert login(Client(), alice).get(url).status_code == 200


def test_each_action_the_model_took_is_in_the_audit_trail_once(alice, host, project):
    from accounts.models import AuditEvent

    task = make_task(
        project,
        alice,
        executor="pilot",
        executor_kind="computer",
        prompt=GOAL,
        state=TaskState.RUNNING,
        session_state=SessionState.WORKING,
    )
    stream = TaskStream(host.id)
    click = {"title": "click 120,45", "tool_kind": "computer", "status": "in_progress"}
    stream.send("task.item", item(task, "action:1", "tool", click))  # not done yet: not audited
    stream.send("task.item", item(task, "action:1", "tool", {**click, "status": "completed"}))
    stream.send("task.item", item(task, "action:1", "tool", {**click, "status": "completed"}))
    stream.send("task.item", item(task, "action:2", "tool", DENIED))
    stream.send(
        "task.item",
        item(task, "edit:1", "tool", {"title": "Edit x", "tool_kind": "edit", "status": "completed"}),
    )
    audited = AuditEvent.objects.filter(action="computer.action").order_by("id")
    assert [(e.detail["title"], e.detail["status"]) for e in audited] == [
        ("click 120,45", "completed"),
        ('type "milk"', "failed"),
    ]
