"""The task form's "Pick on screen": the newest screenshot of a host's screen through one computer
executor (tasks.selectors.desktop_screenshot_latest), the fragment the form opens under a step
(project_screen), served through the team's artifact view, and how old it is."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from devices.models import Host
from tasks.models import Task, TaskArtifact, TaskState
from tasks.selectors import desktop_screenshot_latest
from tests.kits.common import login, make_host, page_text, visible_text
from tests.kits.task_stream import CLAUDE, make_task, offering, shared_project

pytestmark = pytest.mark.django_db

DESK = {"name": "desk", "label": "Desktop", "kind": "computer", "needs_file": False}
LAPTOP = {**DESK, "name": "laptop", "label": "Laptop screen"}
DRIVEN = {**DESK, "name": "pilot", "label": "Pilot", "goal": True}
BROWSER = {"name": "browser", "label": "Chromium", "kind": "browser", "needs_file": False}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CLICK = [{"action": "click", "x": 1, "y": 2}, {"action": "screenshot"}]


@pytest.fixture
def host(team_a):
    host, _ = make_host(team_a, "studio")
    return offering(host, DESK, LAPTOP, DRIVEN, BROWSER, CLAUDE)


@pytest.fixture
def project(host):
    return shared_project(host)


def desktop_task(project, user, executor="desk", shots=(0,), kind="computer", **fields) -> Task:
    task = make_task(
        project, user, executor=executor, executor_kind=kind, steps=CLICK, state=TaskState.SUCCEEDED, **fields
    )
    for index in shots:
        TaskArtifact.objects.create(
            task=task, name=f"step-{index}.png", content_type="image/png", data=PNG, size=len(PNG)
        )
    return task


def screen(client, project, executor="desk"):
    return client.get(reverse("project_screen", args=[project.id]), {"executor": executor})


# The selector ---------------------------------------------------------------------------------


def test_it_gives_the_last_step_screenshot_of_the_newest_task_with_one(alice, host, project):
    older = desktop_task(project, alice, shots=(0, 1, 2))
    newest = desktop_task(project, alice, shots=(0, 9, 10))
    desktop_task(project, alice, shots=())  # newer still, but it took none (it failed first)
    shot = desktop_screenshot_latest(host=host, executor="desk")
    assert (shot.task_id, shot.name) == (newest.id, "step-10.png")  # 10 after 9, not as text
    assert older.id < newest.id


def test_it_never_gives_another_executors_hosts_or_teams_screenshot(alice, charlie, host, project, team_b):
    assert desktop_screenshot_latest(host=host, executor="desk") is None
    desktop_task(project, alice, executor="laptop")  # another executor of the same host
    desktop_task(project, alice, executor="desk", kind="browser")  # an older executor of that name
    other_host, _ = make_host(host.team, "attic")
    desktop_task(shared_project(offering(other_host, DESK)), alice)  # the same executor on another host
    foreign_host, _ = make_host(team_b, "charlie's")
    desktop_task(shared_project(offering(foreign_host, DESK)), charlie)
    desktop_task(project, charlie, team_id=team_b.id)  # a task of another team on this host
    assert desktop_screenshot_latest(host=host, executor="desk") is None
    mine = desktop_task(project, alice, shots=(3,))
    assert desktop_screenshot_latest(host=host, executor="desk").task_id == mine.id
    assert desktop_screenshot_latest(host=host, executor="laptop").task_id != mine.id


def test_it_skips_a_pdf_and_a_model_driven_action(alice, host, project):
    task = desktop_task(project, alice, shots=())
    TaskArtifact.objects.create(
        task=task, name="step-0.pdf", content_type="application/pdf", data=b"%PDF", size=4
    )
    TaskArtifact.objects.create(
        task=task, name="action-1.png", content_type="image/png", data=PNG, size=len(PNG)
    )
    assert desktop_screenshot_latest(host=host, executor="desk") is None


# The fragment ---------------------------------------------------------------------------------


def test_it_shows_the_newest_screenshot_through_the_teams_artifact_view(alice_client, alice, project):
    task = desktop_task(project, alice, shots=(0, 1))
    TaskArtifact.objects.filter(task=task).update(created_at=timezone.now() - timedelta(minutes=3))
    response = screen(alice_client, project)
    assert response.status_code == 200
    body = response.content.decode()
    url = reverse("task_artifact", args=[task.id, "step-1.png"])
    assert f'src="{url}"' in body and "data-screen-image" in body
    text = visible_text(response)
    assert f"Taken 3 minutes ago by task #{task.id}" in text and "the screen may have changed since" in text
    assert alice_client.get(url).content == PNG


def test_without_a_screenshot_it_says_how_to_get_one(alice_client, alice, project):
    desktop_task(project, alice, executor="laptop")
    response = screen(alice_client, project)
    text = visible_text(response)
    assert "No screenshot of studio's screen through Desktop yet." in text
    assert "send a task to it with a screenshot step" in text
    assert "Or type x and y yourself." in text
    assert "<img" not in page_text(response)


def test_another_team_gets_404_for_the_fragment_and_the_screenshot(alice, charlie, bob, project):
    task = desktop_task(project, alice)
    charlie_client = login(Client(), charlie)
    assert screen(charlie_client, project).status_code == 404
    assert charlie_client.get(reverse("task_artifact", args=[task.id, "step-0.png"])).status_code == 404
    assert Client().get(reverse("project_screen", args=[project.id])).status_code == 302  # sign in first
    assert screen(login(Client(), bob), project).status_code == 200  # the same team


@pytest.mark.parametrize(
    "executor",
    [
        "",
        "claude",  # runs a prompt
        "browser",  # runs browser steps
        "pilot",  # a model drives it: no steps to point
        "nope",
        "desk" * 1000,
        "desk\x00",
        "../desk",
    ],
)
def test_anything_but_a_computer_executor_with_steps_is_404_and_changes_nothing(
    alice_client, alice, project, executor
):
    desktop_task(project, alice)
    before = (Task.objects.count(), TaskArtifact.objects.count(), AuditEvent.objects.count())
    assert screen(alice_client, project, executor=executor).status_code == 404
    assert (Task.objects.count(), TaskArtifact.objects.count(), AuditEvent.objects.count()) == before


def test_a_revoked_hosts_project_is_404(alice_client, alice, host, project):
    desktop_task(project, alice)
    Host.objects.filter(id=host.id).update(state="revoked")
    assert screen(alice_client, project).status_code == 404


def test_the_form_knows_where_to_ask(alice_client, project):
    body = alice_client.get(reverse("task_new"), {"project": project.id}).content.decode()
    assert f'data-screen-url="{reverse("project_screen", args=[project.id])}"' in body
    assert "tap Pick on screen and tap the newest screenshot" in body
