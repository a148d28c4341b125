"""Computer tasks on the hub: desktop steps checked before anything is queued (400 with a
message and no task), the assignment that carries them, the actions a host offers, the task
page naming each step with its screenshot, and screenshots served to the team only."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from tasks.messages import assignment
from tasks.models import Task, TaskState
from tests.kits.common import login, make_host, page_text
from tests.kits.task_stream import TaskStream, make_task, offering, shared_project

pytestmark = pytest.mark.django_db

DESK = {
    "name": "desk",
    "label": "Desktop",
    "kind": "computer",
    "needs_file": False,
    "actions": ["screenshot", "move", "click", "type", "key", "scroll", "drag", "wait", "focus"],
}
LOOK = {**DESK, "name": "look", "label": "Look only", "actions": ["screenshot", "wait"]}
CLAUDE = {"name": "claude", "label": "Claude Code", "kind": "command", "needs_file": False}
BROWSER = {"name": "browser", "label": "Chromium", "kind": "browser", "needs_file": False}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
STEPS = [
    {"action": "focus", "title": "Invoices"},
    {"action": "click", "x": 120, "y": 45},
    {"action": "type", "text": "42.00"},
    {"action": "key", "keys": "ctrl+s"},
    {"action": "screenshot"},
]


@pytest.fixture
def host(team_a):
    host, token = make_host(team_a, "studio")
    offering(host, DESK, LOOK, CLAUDE, BROWSER)
    host.token = token
    return host


@pytest.fixture
def project(host):
    return shared_project(host)


def send(client, project, steps, executor="desk", prompt="", **fields):
    data = {"project": project.id, "executor": executor, "prompt": prompt, "steps": steps, **fields}
    return client.post(reverse("task_new"), data)


def test_a_computer_task_carries_its_steps_to_the_host(alice_client, project):
    response = send(alice_client, project, json.dumps(STEPS))
    task = Task.objects.get()
    assert response.status_code == 302 and task.steps == STEPS and task.executor_kind == "computer"
    assert task.prompt == "Desktop: 5 steps" and task.workspace == "working_copy"
    message = assignment(task)
    assert message["computer_steps"] == STEPS and "steps" not in message


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("not json", 'The steps are not valid JSON: a list of objects like {"action": "click"'),
        ("[]", "Add at least one step."),
        (json.dumps([{"action": "type", "text": "x" * 1024 * 1024}]), "Step 1 (type): text must be 1-2000"),
        (
            json.dumps([{"action": "click", "x": 10, "y": 10, "count": 1000}]),
            "Step 1 (click): count must be 1-3",
        ),
        (
            json.dumps([{"action": "click", "x": 99999, "y": 10}]),
            "Step 1 (click): x must be an integer 0-32767",
        ),
        (json.dumps([{"action": "click", "x": "10", "y": 10}]), "Step 1 (click): x must be an integer"),
        (json.dumps([{"action": "key", "keys": "ctrl+hyper"}]), "Step 1 (key): unknown key 'hyper'"),
        (json.dumps([{"action": "key", "keys": "s+ctrl"}]), "Step 1 (key): only modifiers"),
        (json.dumps([{"action": "open", "url": "https://x"}]), 'Step 1: unknown action "open"'),
        (json.dumps([{"action": "screenshot"}] * 51), "At most 50 steps."),
        (json.dumps([{"action": "wait"}]), "Step 1 (wait): wait takes seconds or a window title"),
        (json.dumps([{"action": "click", "x": 1, "y": 1, "selector": "a"}]), 'unknown field "selector"'),
    ],
)
def test_bad_steps_are_refused_naming_the_step(alice_client, project, steps, message):
    response = send(alice_client, project, steps)
    assert response.status_code == 400 and message in page_text(response)
    assert not Task.objects.exists()


def test_an_action_the_host_does_not_offer_is_refused(alice_client, project):
    steps = [{"action": "wait", "seconds": 1}, {"action": "click", "x": 1, "y": 1}]
    response = send(alice_client, project, json.dumps(steps), executor="look")
    assert response.status_code == 400
    assert "Step 2 (click): click is not allowed on this host (it allows screenshot, wait)." in page_text(
        response
    )
    assert not Task.objects.exists()


def test_a_host_whose_computer_executor_is_off_takes_no_desktop_steps(alice_client, project, host):
    offering(host, CLAUDE, BROWSER)
    off = send(alice_client, project, json.dumps(STEPS))
    assert (
        off.status_code == 400
        and "studio does not offer 'desk'. It offers: claude, browser." in page_text(off)
    )
    prompt = send(alice_client, project, json.dumps(STEPS), executor="claude", prompt="Do it")
    assert prompt.status_code == 400 and "Claude Code takes a prompt, not browser steps." in page_text(prompt)
    browser = send(alice_client, project, json.dumps(STEPS), executor="browser")
    assert browser.status_code == 400 and 'Step 1: unknown action "focus"' in page_text(browser)
    assert not Task.objects.exists()


def test_desktop_steps_are_needed_and_run_in_the_working_copy(alice_client, project):
    empty = send(alice_client, project, "  ")
    assert empty.status_code == 400 and "Desktop runs desktop steps: add at least one" in page_text(empty)
    branch = send(alice_client, project, json.dumps(STEPS), workspace="worktree")
    assert branch.status_code == 400
    assert not Task.objects.exists()


def test_the_form_offers_the_desktop_executor_with_its_actions(alice_client, project):
    page = alice_client.get(reverse("task_new"), {"project": project.id}).content.decode()
    assert 'data-kind="computer" data-actions="screenshot wait"' in page
    assert "Desktop actions: screenshot, move (x, y)" in page


def test_the_task_page_names_each_step_with_its_screenshot(alice_client, alice, host, project):
    task = make_task(
        project, alice, executor="desk", executor_kind="computer", steps=STEPS, state=TaskState.RUNNING
    )
    for index in range(3):
        response = Client().put(
            reverse("api_task_artifact", args=[task.id, f"step-{index}.png"]),
            PNG,
            content_type="image/png",
            HTTP_AUTHORIZATION=f"Bearer {host.token}",
        )
        assert response.status_code == 201
    ran = [
        {
            "index": 0,
            "action": "focus",
            "ok": True,
            "error": "",
            "text": 'focused "Invoices"',
            "artifact": "step-0.png",
        },
        {"index": 1, "action": "click", "ok": True, "error": "", "text": None, "artifact": "step-1.png"},
        {
            "index": 2,
            "action": "type",
            "ok": False,
            "error": 'step 3 (type "42.00"): the window with the keyboard ("Terminal", class XTerm) '
            "is not on this host's allowed windows",
            "text": None,
            "artifact": "step-2.png",
        },
    ]
    TaskStream(host.id).finished(task.id, outcome="failed", error=ran[2]["error"][:200], steps=ran)
    page = page_text(alice_client.get(reverse("task_detail", args=[task.id])))
    for what in ('focus "Invoices"', "click 120,45", "key ctrl+s", "screenshot", 'focused "Invoices"'):
        assert what in page
    assert 'type "42.00"' in page and "is not on this host's allowed windows" in page
    for index in range(3):
        assert reverse("task_artifact", args=[task.id, f"step-{index}.png"]) in page
    assert "Not run" in page
    url = reverse("task_artifact", args=[task.id, "step-1.png"])
    assert alice_client.get(url).content == PNG


def test_screenshots_are_the_teams_only(alice, charlie, host, project):
    task = make_task(
        project, alice, executor="desk", executor_kind="computer", steps=STEPS, state=TaskState.RUNNING
    )
    Client().put(
        reverse("api_task_artifact", args=[task.id, "step-0.png"]),
        PNG,
        content_type="image/png",
        HTTP_AUTHORIZATION=f"Bearer {host.token}",
    )
    url = reverse("task_artifact", args=[task.id, "step-0.png"])
    assert login(Client(), charlie).get(url).status_code == 404
    assert Client().get(url).status_code == 302
    assert login(Client(), alice).get(url).status_code == 200


def test_run_again_sends_the_same_desktop_steps(alice_client, alice, project):
    first = make_task(project, alice, executor="desk", executor_kind="computer", steps=STEPS, state="failed")
    response = alice_client.post(reverse("task_rerun", args=[first.id]))
    again = Task.objects.exclude(id=first.id).get()
    assert response.status_code == 302 and again.steps == STEPS and again.executor_kind == "computer"
    assert assignment(again)["computer_steps"] == STEPS


def test_each_desktop_step_is_in_the_audit_trail_once(alice, host, project):
    from accounts.models import AuditEvent

    task = make_task(
        project, alice, executor="desk", executor_kind="computer", steps=STEPS[:3], state=TaskState.RUNNING
    )
    stream = TaskStream(host.id)
    first = {
        "index": 0,
        "action": 'focus "Invoices"',
        "ok": True,
        "error": "",
        "text": None,
        "artifact": None,
    }
    stream.send("task.step", {"task_id": task.id, "step": first})
    stream.send("task.step", {"task_id": task.id, "step": first})  # the same step told again
    second = {**first, "index": 1, "action": "click 120,45"}
    third = {**first, "index": 2, "action": 'type "42.00"', "ok": False, "error": "the window is gone"}
    stream.send(
        "task.finished",
        {
            "task_id": task.id,
            "outcome": "failed",
            "exit_code": None,
            "error": "step 3 failed",
            "duration": 1.0,
            "steps": [first, second, third],
        },
    )
    audited = AuditEvent.objects.filter(action="computer.step").order_by("id")
    assert [(e.detail["index"], e.detail["step"], e.detail["ok"], e.detail["error"]) for e in audited] == [
        (0, 'focus "Invoices"', True, ""),
        (1, "click 120,45", True, ""),
        (2, 'type "42.00"', False, "the window is gone"),
    ]
    assert {e.target for e in audited} == {f"task {task.id} on host {host.id}"}
