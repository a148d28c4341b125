"""Browser tasks on the hub: steps checked before anything is queued, the
agent's artifact uploads, and screenshots served to the team only
(SECURITY.md 35, 29 for browser tasks)."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from tasks.messages import assignment
from tasks.models import Task, TaskArtifact, TaskState
from tests.kits.common import make_host, page_text
from tests.kits.task_stream import TaskStream, make_task, offering, shared_project

pytestmark = pytest.mark.django_db

BROWSER = {"name": "browser", "label": "Chromium", "kind": "browser", "needs_file": False}
CLAUDE = {"name": "claude", "label": "Claude Code", "kind": "command", "needs_file": False}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"x" * 64
STEPS = [
    {"action": "open", "url": "http://127.0.0.1:8000/form"},
    {"action": "fill", "selector": "#name", "value": "Ada"},
    {"action": "click", "selector": "button"},
    {"action": "read", "selector": "#result"},
    {"action": "screenshot", "full_page": True},
]


@pytest.fixture
def host(team_a):
    host, token = make_host(team_a, "studio")
    offering(host, BROWSER, CLAUDE)
    host.token = token
    return host


@pytest.fixture
def project(host):
    return shared_project(host)


def send(client, project, steps, executor="browser", prompt=""):
    data = {"project": project.id, "executor": executor, "prompt": prompt, "steps": steps}
    return client.post(reverse("task_new"), data)


def test_a_browser_task_carries_its_steps(alice_client, project):
    response = send(alice_client, project, json.dumps(STEPS))
    task = Task.objects.get()
    assert response.status_code == 302 and task.steps == STEPS
    assert task.prompt == "Browser: http://127.0.0.1:8000/form (5 steps)"
    assert assignment(task)["steps"] == STEPS


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("not json", "The steps are not valid JSON"),
        ("[]", "Add at least one step."),
        (json.dumps([{"action": "hover", "selector": "a"}]), 'Step 1: unknown action "hover"'),
        (json.dumps([{"action": "click"}]), "Step 1 (click): selector is required."),
        (json.dumps([{"action": "wait"}]), "Step 1 (wait): selector or text is required."),
        (json.dumps([{"action": "open", "url": "file:///etc/passwd"}]), "url must be an http or https"),
        (json.dumps([{"action": "open", "url": "javascript:alert(1)"}]), "url must be an http or https"),
        (json.dumps([{"action": "click", "selector": "a", "timeout": 999}]), "timeout must be 1-120 seconds"),
        (json.dumps([{"action": "click", "selector": "a", "script": "x"}]), 'unknown field "script"'),
        (json.dumps([{"action": "fill", "selector": "a", "value": 3}]), "value must be text of 1-2000"),
        (json.dumps([{"action": "pdf"}] * 51), "At most 50 steps."),
    ],
)
def test_bad_steps_are_refused_naming_the_step(alice_client, project, steps, message):
    response = send(alice_client, project, steps)
    assert response.status_code == 400 and message in page_text(response)
    assert not Task.objects.exists()


def test_steps_need_a_browser_executor(alice_client, project):
    response = send(alice_client, project, json.dumps(STEPS), executor="claude", prompt="Do it")
    assert response.status_code == 400 and "Claude Code takes a prompt, not browser steps." in page_text(
        response
    )


def put(host, task_id, name, data, content_type="image/png", token=None):
    return Client().put(
        reverse("api_task_artifact", args=[task_id, name]),
        data,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {token or host.token}",
    )


def test_the_agent_uploads_a_screenshot_and_the_team_sees_it(alice_client, alice, host, project):
    task = make_task(project, alice, executor="browser", steps=STEPS, state=TaskState.RUNNING)
    assert put(host, task.id, "step-4.png", PNG).status_code == 201
    assert put(host, task.id, "step-4.png", PNG + b"again").status_code == 201  # replaced, not doubled
    assert TaskArtifact.objects.get().size == len(PNG) + 5
    result = {
        "index": 4,
        "action": "screenshot",
        "ok": True,
        "error": "",
        "text": None,
        "artifact": "step-4.png",
    }
    read = {"index": 3, "action": "read", "ok": True, "error": "", "text": "Thanks, Ada", "artifact": None}
    TaskStream(host.id).finished(task.id, exit_code=None, steps=[read, result])
    page = alice_client.get(reverse("task_detail", args=[task.id])).content.decode()
    assert "Thanks, Ada" in page and reverse("task_artifact", args=[task.id, "step-4.png"]) in page
    response = alice_client.get(reverse("task_artifact", args=[task.id, "step-4.png"]))
    assert response.status_code == 200 and response.content == PNG + b"again"
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == f'inline; filename="task-{task.id}-step-4.png"'
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_pdf_is_a_download(alice_client, alice, host, project):
    task = make_task(project, alice, executor="browser", steps=STEPS, state=TaskState.RUNNING)
    assert put(host, task.id, "step-2.pdf", PDF, "application/pdf").status_code == 201
    response = alice_client.get(reverse("task_artifact", args=[task.id, "step-2.pdf"]))
    assert response["Content-Disposition"].startswith("attachment;")


def test_artifacts_are_not_served_to_other_teams_or_strangers(alice, charlie, host, project):
    from tests.kits.common import login

    task = make_task(project, alice, executor="browser", steps=STEPS, state=TaskState.RUNNING)
    put(host, task.id, "step-4.png", PNG)
    url = reverse("task_artifact", args=[task.id, "step-4.png"])
    assert login(Client(), charlie).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert (
        login(Client(), alice).get(reverse("task_artifact", args=[task.id, "step-9.png"])).status_code == 404
    )


@pytest.mark.parametrize(
    ("name", "data", "content_type", "status"),
    [
        ("../step-1.png", PNG, "image/png", 404),  # not even routed
        ("step-1.exe", PNG, "image/png", 400),
        ("step-1.png.html", PNG, "image/png", 400),
        ("step-1.png", b"<script>alert(1)</script>", "image/png", 415),
        ("step-1.png", PNG, "text/html", 415),
        ("step-1.pdf", PNG, "application/pdf", 415),
        ("step-1.png", b"", "image/png", 413),
    ],
)
def test_hostile_uploads_are_refused(alice, host, project, name, data, content_type, status):
    task = make_task(project, alice, executor="browser", steps=STEPS, state=TaskState.RUNNING)
    response = Client().put(
        f"/api/host/tasks/{task.id}/artifacts/{name}",
        data,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {host.token}",
    )
    assert response.status_code == status
    assert not TaskArtifact.objects.exists()


def test_uploads_need_the_hosts_own_running_task(alice, host, project, team_a):
    task = make_task(project, alice, executor="browser", steps=STEPS, state=TaskState.RUNNING)
    other, other_token = make_host(team_a, "other")
    assert put(host, task.id, "step-1.png", PNG, token="chub_" + "x" * 43).status_code == 401
    assert put(other, task.id, "step-1.png", PNG, token=other_token).status_code == 404
    Task.objects.filter(id=task.id).update(state=TaskState.SUCCEEDED)
    assert put(host, task.id, "step-1.png", PNG).status_code == 409
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024)
    Task.objects.filter(id=task.id).update(state=TaskState.RUNNING)
    assert put(host, task.id, "step-1.png", big).status_code == 413
    assert not TaskArtifact.objects.exists()


def test_malformed_step_results_are_refused(alice, host, project):
    from devices.services import REJECTED

    task = make_task(project, alice, executor="browser", steps=STEPS, state=TaskState.RUNNING)
    stream = TaskStream(host.id)
    bad = [{"index": 0, "artifact": "../../etc/passwd"}]
    assert stream.finished(task.id, steps=bad).outcome == REJECTED
    assert stream.finished(task.id, steps=[{"index": 99}]).outcome == REJECTED
    task.refresh_from_db()
    assert task.state == "running" and task.step_results == []
