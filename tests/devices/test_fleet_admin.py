"""Fleet admin (SECURITY.md Admin 81-84)."""

from unittest import mock

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from devices import link as host_link
from devices import services
from devices.models import Host, HostState
from tests.kits.common import make_host

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff_client):
    return staff_client


def test_the_revoke_action_revokes_each_host_and_audits_it(
    admin_client, team_a, django_capture_on_commit_callbacks
):
    hosts = [make_host(team_a, f"Box {n}") for n in range(3)]
    ids = [str(host.id) for host, _ in hosts]
    with mock.patch("codexhub.events.group_send") as group_send:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                reverse("admin:devices_host_changelist"), {"action": "revoke_hosts", "_selected_action": ids}
            )
    assert response.status_code == 302
    assert Host.objects.filter(state=HostState.REVOKED).count() == 3
    assert AuditEvent.objects.filter(action="host.revoked").count() == 3
    closed = {args[0] for args, _ in group_send.call_args_list if args[1] == {"type": "host.revoke"}}
    assert closed == {f"host.{host.id}" for host, _ in hosts}
    for _, token in hosts:
        assert services.host_for_token(token=token) is None


def test_hosts_cannot_be_deleted_or_added_in_admin(admin_client, team_a):
    host, _ = make_host(team_a)
    changelist = admin_client.get(reverse("admin:devices_host_changelist")).content.decode()
    assert "delete_selected" not in changelist
    assert admin_client.get(reverse("admin:devices_host_delete", args=[host.id])).status_code == 403
    assert admin_client.get(reverse("admin:devices_host_add")).status_code == 403


def test_the_token_hash_is_read_only(admin_client, team_a):
    host, _ = make_host(team_a)
    page = admin_client.get(reverse("admin:devices_host_change", args=[host.id])).content.decode()
    assert host.token_hash in page
    assert 'name="token_hash"' not in page


def test_the_audit_log_cannot_be_changed_even_by_a_superuser(admin_client, team_a):
    services.host_revoke(host=make_host(team_a)[0], actor=None)
    event = AuditEvent.objects.get()
    assert admin_client.get(reverse("admin:accounts_auditevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_auditevent_add")).status_code == 403
    assert admin_client.get(reverse("admin:accounts_auditevent_delete", args=[event.id])).status_code == 403
    response = admin_client.post(
        reverse("admin:accounts_auditevent_change", args=[event.id]), {"action": "x"}
    )
    assert response.status_code == 403
    assert AuditEvent.objects.get().action == "host.revoked"


def test_a_hostile_name_is_escaped_in_admin(admin_client, team_a):
    host, _ = make_host(team_a)
    Host.objects.filter(id=host.id).update(name="<script>window.__pwned=1</script>")
    page = admin_client.get(reverse("admin:devices_host_changelist")).content.decode()
    assert "<script>window.__pwned" not in page


def test_list_filters_work(admin_client, team_a):
    online, _ = make_host(team_a, "Up")
    make_host(team_a, "Down")
    host_link.host_link_opened(host_id=online.id, channel_name="specific.x!1")
    page = admin_client.get(reverse("admin:devices_host_changelist"), {"online": "yes"}).content.decode()
    assert "Up" in page and ">Down<" not in page
