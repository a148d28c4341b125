"""The first-run checklist on the home page: each step ticked from what the
database holds, each open step a link to where it is done, another team's
work ticking nothing, and the whole list gone once every step is done."""

import re

import pytest
from django.urls import reverse
from push_notifications.models import APNSDevice, WebPushDevice

from accounts.models import Membership, Role, Team
from devices.models import Host, HostState
from projects.models import Project
from tasks.checklist import first_run_steps
from tests.kits.common import login, make_host, make_user, page_text
from tests.kits.task_stream import make_task, shared_project

pytestmark = pytest.mark.django_db

STEPS = ["two-factor", "team", "host", "project", "task", "notifications"]


def ticked(client) -> dict[str, bool]:
    """What the home page shows: each step's key and whether it is ticked."""
    response = client.get(reverse("home"), follow=True)
    assert response.status_code == 200
    body = page_text(response)
    rows = re.findall(r'<li class="(done|)" data-step="([a-z-]+)">', body)
    return {key: state == "done" for state, key in rows}


@pytest.fixture
def newcomer(client):
    user = make_user("nora@example.com")
    return user, login(client, user)


def test_a_newcomer_sees_what_is_left_each_with_its_link(newcomer):
    _, client = newcomer
    body = page_text(client.get(reverse("host_list")))
    assert "Get started" in body and "1 of 6 done" in body
    assert "Start with a team" not in body  # the checklist leads to the team: no second card for it
    assert f'<a href="{reverse("team_list")}">Create a team</a>' in body
    assert f'<a href="{reverse("host_list")}#pair-a-host">Pair a host</a>' in body
    assert f'<a href="{reverse("project_list")}">Share a project</a>' in body
    assert f'<a href="{reverse("notification_settings")}">Turn on notifications</a>' in body
    assert ticked(client) == dict.fromkeys(STEPS, False) | {"two-factor": True}


def test_each_step_ticks_from_what_the_database_holds(newcomer, team_b):
    user, client = newcomer
    # Another team's host, project, task and this person's inactive device tick nothing.
    other_host, _ = make_host(team_b, "Elsewhere")
    make_task(shared_project(other_host, "theirs"), make_user("olga@example.com"))
    WebPushDevice.objects.create(user=user, registration_id="https://fcm.googleapis.com/x", active=False)
    assert ticked(client) == dict.fromkeys(STEPS, False) | {"two-factor": True}

    team = Team.objects.create(name="Nora's")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    assert ticked(client)["team"] is True

    host, _ = make_host(team, "Pending box", state=HostState.UNCONFIRMED)
    assert ticked(client)["host"] is False  # approved, not yet confirmed by the host
    Host.objects.filter(id=host.id).update(state=HostState.ACTIVE)
    assert ticked(client)["host"] is True

    project = shared_project(host, "notes")
    assert ticked(client)["project"] is True
    Project.objects.filter(id=project.id).update(removed_at="2026-01-01T00:00:00Z")
    assert ticked(client)["project"] is False  # removed on the host
    Project.objects.filter(id=project.id).update(removed_at=None)

    make_task(project, user)
    state = ticked(client)
    assert state == dict.fromkeys(STEPS, True) | {"notifications": False}

    APNSDevice.objects.create(user=user, registration_id="a" * 64, active=True)
    body = page_text(client.get(reverse("host_list")))
    assert "Get started" not in body and 'id="first-run"' not in body  # all done: out of the way


def test_a_task_someone_else_sent_does_not_tick_yours(newcomer, team_a, alice):
    user, client = newcomer
    Membership.objects.create(team=team_a, user=user, role=Role.MEMBER)
    host, _ = make_host(team_a, "Shared box")
    make_task(shared_project(host), alice)
    assert ticked(client)["task"] is False


def test_without_two_factor_the_first_step_is_open(team_a):
    user = make_user("pia@example.com", otp=False)
    steps = {step.key: step for step in first_run_steps(user=user, team_id=team_a.id)}
    assert steps["two-factor"].done is False
    assert steps["two-factor"].url == reverse("otp_setup")
