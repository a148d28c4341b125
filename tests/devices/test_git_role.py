"""Who may commit, merge, push and discard on a host (Host.git_role): set by the
team's owners and admins on the host page and in the admin, audited."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from devices.models import Host
from tests.kits.common import login, make_host, page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(team_a):
    host, _ = make_host(team_a, "Studio")
    return host


def test_an_owner_sets_who_may_decide_in_git_on_the_host_page(alice_client, host):
    page = page_text(alice_client.get(reverse("host_detail", args=[host.id])))
    assert "Commits, merges and pushes" in page and "Decides in git" in page
    response = alice_client.post(reverse("host_git_role", args=[host.id]), {"git_role": "admin"})
    assert response.status_code == 302
    assert Host.objects.get(id=host.id).git_role == "admin"
    event = AuditEvent.objects.get(action="host.git_role_changed")
    assert event.detail == {"old": "member", "new": "admin"} and event.actor.email == "alice@example.com"
    page = page_text(alice_client.get(reverse("host_detail", args=[host.id])))
    assert re.search(r"Decides in git\s*</dt><dd[^>]*>Only owners and admins", page)


def test_a_member_may_not_change_it(bob, host):
    client = login(Client(), bob)
    response = client.post(reverse("host_git_role", args=[host.id]), {"git_role": "member"})
    assert response.status_code == 403
    assert "Only the team's owners and admins" in page_text(response)
    assert not AuditEvent.objects.filter(action="host.git_role_changed").exists()


def test_an_unknown_role_is_refused_and_changes_nothing(alice_client, host):
    response = alice_client.post(reverse("host_git_role", args=[host.id]), {"git_role": "anyone"})
    assert response.status_code == 400
    assert "Select a valid choice" in page_text(response)
    assert Host.objects.get(id=host.id).git_role == "member"


def test_another_teams_host_is_404(charlie, host):
    client = login(Client(), charlie)
    assert client.post(reverse("host_git_role", args=[host.id]), {"git_role": "admin"}).status_code == 404
    assert Host.objects.get(id=host.id).git_role == "member"


def test_staff_set_it_in_the_admin(staff_client, host):
    url = reverse("admin:devices_host_change", args=[host.id])
    page = staff_client.get(url).content.decode()
    assert 'name="git_role"' in page
    field = r'name="([\w-]+-(?:TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS)"[^>]*value="(\d*)"'
    management = dict(re.findall(field, page))
    data = {"name": host.name, "approve_role": "member", "git_role": "admin", **management}
    assert staff_client.post(url, data).status_code == 302
    assert Host.objects.get(id=host.id).git_role == "admin"
