"""The Hosts page and a host's page: rename and revoke (SECURITY.md 32, 84)."""

from unittest import mock

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Membership, Role
from devices import link as host_link
from devices.models import Host, HostState
from tests.kits.common import login, make_host, page_text, totp_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(team_a):
    return make_host(team_a, "Build box")[0]


def test_the_hosts_page_lists_the_current_teams_active_hosts(alice_client, host, team_a, team_b, charlie):
    make_host(team_b, "Charlie's box")
    make_host(team_a, "Old laptop", state=HostState.REVOKED)
    body = page_text(alice_client.get(reverse("host_list")))
    assert "Build box" in body
    assert "Charlie's box" not in body
    assert "Old laptop" not in body
    assert "Offline" in body
    assert 'codexhub-agent pair --hub http://testserver --name "My laptop"' in body


def test_the_hosts_page_counts_each_hosts_projects(alice_client, host):
    from tests.kits.mirror_stream import Stream

    Stream(host.id).projects("docs", "site")
    assert "2 projects" in page_text(alice_client.get(reverse("host_list")))


def test_an_online_host_shows_online(alice_client, host):
    host_link.host_link_opened(host_id=host.id, channel_name="specific.test!1")
    assert "Online" in page_text(alice_client.get(reverse("host_list")))


def test_the_host_page_shows_its_facts(alice_client, host):
    body = page_text(alice_client.get(reverse("host_detail", args=[host.id])))
    assert "Build box" in body and "linux-x86_64" in body and "Revoke" in body


def test_an_admin_renames_a_host(alice_client, host):
    response = alice_client.post(reverse("host_rename", args=[host.id]), {"name": "CI runner"})
    assert response.status_code == 302
    host.refresh_from_db()
    assert host.name == "CI runner"
    assert AuditEvent.objects.get(action="host.renamed").detail == {"old": "Build box"}


@pytest.mark.parametrize("name", ["", "n" * 65, "a\u202eb", "a\x1bb"])
def test_a_bad_name_is_refused(alice_client, host, name):
    response = alice_client.post(reverse("host_rename", args=[host.id]), {"name": name})
    assert response.status_code == 400
    host.refresh_from_db()
    assert host.name == "Build box"


def test_a_member_can_see_but_not_rename_or_revoke(client, bob, host):
    login(client, bob)
    body = page_text(client.get(reverse("host_detail", args=[host.id])))
    assert "Build box" in body and "Revoke" not in body
    assert client.post(reverse("host_rename", args=[host.id]), {"name": "x"}).status_code == 403
    response = client.post(reverse("host_revoke", args=[host.id]), {"otp_code": totp_for(bob).now()})
    assert response.status_code == 403
    host.refresh_from_db()
    assert (host.name, host.state) == ("Build box", HostState.ACTIVE)


def test_a_demoted_admin_is_refused_at_once(client, bob, host):
    """SECURITY.md case 32: the role is read on each request."""
    Membership.objects.filter(user=bob).update(role=Role.ADMIN)
    login(client, bob)
    client.get(reverse("host_detail", args=[host.id]))
    Membership.objects.filter(user=bob).update(role=Role.MEMBER)
    assert client.post(reverse("host_rename", args=[host.id]), {"name": "x"}).status_code == 403


def test_revoking_asks_for_the_otp_code_again(alice_client, host):
    with mock.patch("codexhub.events.group_send") as group_send:
        response = alice_client.post(reverse("host_revoke", args=[host.id]), {"otp_code": "000000"})
    assert response.status_code == 400
    assert "not correct" in page_text(response)
    host.refresh_from_db()
    assert host.state == HostState.ACTIVE
    group_send.assert_not_called()


def test_revoking_closes_the_link_and_is_audited(
    alice_client, alice, host, django_capture_on_commit_callbacks
):
    with mock.patch("codexhub.events.group_send") as group_send:
        with django_capture_on_commit_callbacks(execute=True):
            response = alice_client.post(
                reverse("host_revoke", args=[host.id]), {"otp_code": totp_for(alice).now()}
            )
    assert response.status_code == 302
    host.refresh_from_db()
    assert host.state == HostState.REVOKED
    sent = [call.args for call in group_send.call_args_list]
    assert (f"host.{host.id}", {"type": "host.revoke"}) in sent
    assert any(group == f"team.{host.team_id}" and msg["host"]["state"] == "revoked" for group, msg in sent)
    event = AuditEvent.objects.get(action="host.revoked")
    assert (event.actor, event.team_id) == (alice, host.team_id)


def test_a_hostile_host_name_is_escaped_everywhere(alice_client, host):
    Host.objects.filter(id=host.id).update(name='<img src=x onerror="window.__pwned=1">')
    for url in (reverse("host_list"), reverse("host_detail", args=[host.id])):
        body = alice_client.get(url).content.decode()
        assert "<img src=x" not in body
        assert "&lt;img src=x onerror=" in body
