# ruff: noqa: F811  (the session fixture, imported, is every test's argument)
"""A question nobody answered: the people asked are reminded once after the
delay their team set, and with the team's escalation its owners and admins
are asked too. The team's owners and admins set the rule."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from devices.models import Host
from notifications.models import InboxEntry, TeamReminder
from tasks.housekeeping import housekeeping
from tasks.models import PermissionRequest
from tests.kits.common import login
from tests.kits.sessions import asking, subscribed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _host_online(session):
    """The sweep would fail a running task whose host was never seen."""
    Host.objects.filter(id=session.host_id).update(last_seen_at=timezone.now())


def waited(request: PermissionRequest, minutes: float) -> None:
    PermissionRequest.objects.filter(id=request.id).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


def titles(push_service) -> list[str]:
    return [push.json()["title"] for push in push_service.pushes]


def test_the_sender_is_reminded_once_after_the_teams_delay(alice, team_a, session, push_service):
    TeamReminder.objects.create(team=team_a, remind_after=10)
    subscribed(alice, push_service)
    request = asking(session)
    waited(request, 9)
    assert housekeeping().reminded == 0
    waited(request, 11)
    assert housekeeping().reminded == 1
    assert housekeeping().reminded == 0  # once
    (push,) = push_service.wait_for(1)
    body = push.json()
    assert body["title"] == "Still waiting: Edit notes.md"
    assert body["body"].startswith("asked 11\xa0minutes ago · notes on studio")
    assert body["tag"] == f"permission-{request.id}"  # replaces the first notification
    assert [a["title"] for a in body["actions"]] == ["Allow once", "Reject"]
    assert InboxEntry.objects.get(key=f"permission-remind:{request.id}").user == alice


def test_a_team_that_wants_no_reminders_gets_none(alice, team_a, session, push_service):
    TeamReminder.objects.create(team=team_a, remind_after=0)
    subscribed(alice, push_service)
    waited(asking(session), 60 * 24)
    assert housekeeping().reminded == 0 and push_service.attempts == []


def test_escalation_asks_the_owners_and_admins_too(alice, bob, team_a, session, push_service):
    Membership.objects.filter(team=team_a, user=bob).update(role=Role.ADMIN)
    subscribed(alice, push_service)
    subscribed(bob, push_service)
    reminder = TeamReminder.objects.create(team=team_a, remind_after=5)
    first = asking(session, request_id="p1")
    waited(first, 6)
    housekeeping()
    assert set(InboxEntry.objects.values_list("user__email", flat=True)) == {"alice@example.com"}

    reminder.escalate = True
    reminder.save()
    second = asking(session, request_id="p2")
    waited(second, 6)
    housekeeping()
    told = InboxEntry.objects.filter(key=f"permission-remind:{second.id}").values_list(
        "user__email", flat=True
    )
    assert sorted(told) == ["alice@example.com", "bob@example.com"]
    assert titles(push_service).count("Still waiting: Edit notes.md") == 3


def test_escalation_asks_no_plain_member(alice, bob, team_a, session, push_service):
    TeamReminder.objects.create(team=team_a, remind_after=5, escalate=True)
    waited(asking(session), 6)
    housekeeping()
    assert list(InboxEntry.objects.values_list("user__email", flat=True)) == ["alice@example.com"]


# The rule -------------------------------------------------------------------------------


def test_an_owner_sets_the_rule_on_the_settings_page(alice_client, team_a):
    page = alice_client.get(reverse("notification_settings")).content.decode()
    assert "Unanswered questions in Team A" in page
    url = reverse("team_reminder_save", args=[team_a.id])
    response = alice_client.post(
        url, {f"team-{team_a.id}-remind_after": "30", f"team-{team_a.id}-escalate": "on"}
    )
    assert response.status_code == 302
    reminder = TeamReminder.objects.get(team=team_a)
    assert (reminder.remind_after, reminder.escalate) == (30, True)


@pytest.mark.parametrize("value", ["-1", "abc", "99999999", ""])
def test_a_bad_delay_is_400_and_changes_nothing(alice_client, team_a, value):
    url = reverse("team_reminder_save", args=[team_a.id])
    response = alice_client.post(url, {f"team-{team_a.id}-remind_after": value})
    assert response.status_code == 400
    assert 'class="error small"' in response.content.decode()
    assert TeamReminder.objects.get(team=team_a).remind_after == 10


def test_members_and_other_teams_cannot_set_it(client, bob, charlie, team_a):
    url = reverse("team_reminder_save", args=[team_a.id])
    for person in (bob, charlie):
        response = login(client, person).post(url, {f"team-{team_a.id}-remind_after": "1"})
        assert response.status_code == 404
    assert (
        "Unanswered questions"
        not in login(client, bob).get(reverse("notification_settings")).content.decode()
    )
    assert not TeamReminder.objects.filter(remind_after=1).exists()
