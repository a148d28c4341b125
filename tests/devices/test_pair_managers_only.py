"""/pair/ shows what asks to join, and lets it be denied, only to the owners
and admins of some team: a member who learns a code sees neither the
requester's address nor a Deny button, and nothing is written."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from codexhub.errors import ServiceError
from devices import pairing as pairing_services
from devices.models import PairingRequest, PairingState
from tests.kits.common import login, page_text

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.10"


@pytest.fixture
def pairing(db):
    return pairing_services.pairing_start(
        name="MacBook Pro", platform="darwin-arm64", agent_version="0.1.0", ip=ADDRESS
    ).pairing


def test_a_member_sees_no_details_only_whom_to_ask(client, bob, pairing):
    login(client, bob)
    for query in ({"code": pairing.user_code_display}, {}):
        response = client.get(reverse("pair"), query)
        body = page_text(response)
        assert response.status_code == 403
        assert pairing_services.PAIRING_NO_MANAGED_TEAM in body
        for detail in (ADDRESS, "MacBook Pro", "darwin-arm64", "Deny"):
            assert detail not in body


def test_a_member_cannot_deny_and_nothing_is_written(client, bob, pairing):
    login(client, bob)
    response = client.post(reverse("pair"), {"code": pairing.user_code_display, "action": "deny"})
    assert response.status_code == 403
    assert pairing_services.PAIRING_NO_MANAGED_TEAM in page_text(response)
    pairing.refresh_from_db()
    assert (pairing.state, pairing.decided_by, pairing.decided_from) == (PairingState.PENDING, None, None)
    assert not AuditEvent.objects.filter(action="pairing.denied").exists()


def test_the_service_refuses_a_deny_from_someone_who_manages_no_team(bob, pairing):
    with pytest.raises(ServiceError, match=pairing_services.PAIRING_NO_MANAGED_TEAM):
        pairing_services.pairing_deny(pairing=pairing, user=bob, ip="203.0.113.5")
    assert PairingRequest.objects.get().state == PairingState.PENDING
    assert not AuditEvent.objects.filter(action="pairing.denied").exists()


def test_an_admin_of_another_team_sees_the_details_and_may_deny(client, bob, charlie, pairing):
    """Managing any one team is enough: charlie owns team B."""
    login(client, charlie)
    body = page_text(client.get(reverse("pair"), {"code": pairing.user_code_display}))
    assert ADDRESS in body and "Deny" in body
    response = client.post(reverse("pair"), {"code": pairing.user_code_display, "action": "deny"})
    assert response.status_code == 302
    assert PairingRequest.objects.get().state == PairingState.DENIED
