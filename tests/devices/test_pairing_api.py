"""The agent's pairing API (RFC 8628 shape) and its bad-input cases
(SECURITY.md Pairing 2-4, 7, 17, 18)."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, Membership
from devices import pairing as pairing_services
from devices import services
from devices.models import Host, HostState, PairingRequest, PairingState
from tests.kits.pairing_api import bearer_post, poll, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return Client()  # no session, no CSRF token: what an agent has


def approve(pairing_id: int, alice) -> Host:
    pairing = PairingRequest.objects.get(id=pairing_id)
    actor = Membership.objects.get(user=alice)
    from tests.kits.common import totp_for

    return pairing_services.pairing_approve(
        pairing=pairing, actor=actor, otp_code=totp_for(alice).now(), ip="203.0.113.5"
    )


def started(agent, **kwargs) -> dict:
    response = start(agent, **kwargs)
    assert response.status_code == 200, response.content
    return response.json()


def test_it_starts_a_pairing_in_the_rfc_8628_shape(agent):
    data = started(agent)
    assert set(data) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert len(data["device_code"]) == 43
    assert len(data["user_code"]) == 9 and data["user_code"][4] == "-"
    assert set(data["user_code"].replace("-", "")) <= set(pairing_services.USER_CODE_ALPHABET)
    assert data["verification_uri"] == "http://testserver/pair/"
    assert data["verification_uri_complete"] == f"http://testserver/pair/?code={data['user_code']}"
    assert (data["expires_in"], data["interval"]) == (600, 5)
    pairing = PairingRequest.objects.get()
    assert pairing.device_code_hash == services.secret_hash(data["device_code"])
    assert data["device_code"] not in pairing.device_code_hash
    assert pairing.requested_from == "198.51.100.10"


def test_polling_before_approval_is_pending(agent):
    data = started(agent)
    response = poll(agent, data["device_code"])
    assert response.status_code == 400
    assert response.json()["error"] == "authorization_pending"


def test_polling_too_fast_slows_down_by_five_seconds_each_time(agent):
    data = started(agent)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert poll(agent, data["device_code"]).json()["error"] == "authorization_pending"
        clock.shift(1)
        first = poll(agent, data["device_code"]).json()
        clock.shift(1)
        second = poll(agent, data["device_code"]).json()
        assert (first["error"], first["interval"]) == ("slow_down", 10)
        assert (second["error"], second["interval"]) == ("slow_down", 15)
        clock.shift(16)  # a compliant client never sees slow_down
        assert poll(agent, data["device_code"]).json()["error"] == "authorization_pending"


def test_the_token_is_issued_exactly_once(agent, alice, team_a):
    data = started(agent)
    approve(PairingRequest.objects.get().id, alice)
    response = poll(agent, data["device_code"])
    assert response.status_code == 200
    grant = response.json()
    assert grant["team"] == "Team A"
    assert grant["approved_by"] == "alice@example.com"
    assert grant["approved_from"] == "203.0.113.5"
    assert grant["host_token"].startswith("chub_")
    host = Host.objects.get(id=grant["host_id"])
    assert host.token_hash == services.secret_hash(grant["host_token"])
    assert host.state == HostState.UNCONFIRMED
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        again = poll(agent, data["device_code"])
    assert again.status_code == 400
    assert again.json()["error"] == "expired_token"
    assert Host.objects.count() == 1


def test_the_token_works_only_after_the_host_confirms(agent, alice, team_a):
    data = started(agent)
    approve(PairingRequest.objects.get().id, alice)
    token = poll(agent, data["device_code"]).json()["host_token"]
    assert services.host_for_token(token=token) is None
    response = bearer_post(agent, "/api/pairing/confirm/", token)
    assert response.status_code == 200
    assert response.json()["status"] == "confirmed"
    assert services.host_for_token(token=token).state == HostState.ACTIVE
    assert PairingRequest.objects.get().state == PairingState.CONFIRMED
    assert bearer_post(agent, "/api/pairing/confirm/", token).status_code == 401


def test_a_host_answering_no_kills_the_token(agent, alice, team_a):
    """SECURITY.md case 14, hub side."""
    data = started(agent)
    approve(PairingRequest.objects.get().id, alice)
    token = poll(agent, data["device_code"]).json()["host_token"]
    assert bearer_post(agent, "/api/pairing/reject/", token).json() == {"status": "rejected"}
    assert Host.objects.get().state == HostState.REJECTED
    assert PairingRequest.objects.get().state == PairingState.REJECTED_BY_HOST
    assert bearer_post(agent, "/api/pairing/confirm/", token).status_code == 401
    assert services.host_for_token(token=token) is None


def test_an_unconfirmed_token_dies_after_the_ttl(agent, alice, team_a):
    data = started(agent)
    approve(PairingRequest.objects.get().id, alice)
    token = poll(agent, data["device_code"]).json()["host_token"]
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        response = bearer_post(agent, "/api/pairing/confirm/", token)
    assert response.status_code == 410
    assert response.json()["error"] == "expired_token"
    assert Host.objects.get().state == HostState.UNCONFIRMED
    assert services.host_for_token(token=token) is None


def test_an_expired_request_answers_expired_token(agent):
    """SECURITY.md case 2 (the poll side)."""
    data = started(agent)
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        response = poll(agent, data["device_code"])
    assert response.json()["error"] == "expired_token"


def test_a_denied_request_answers_access_denied(agent, alice):
    data = started(agent)
    pairing_services.pairing_deny(pairing=PairingRequest.objects.get(), user=alice, ip="203.0.113.5")
    assert poll(agent, data["device_code"]).json()["error"] == "access_denied"
    assert not Host.objects.exists()


@pytest.mark.parametrize("code", ["", "x", "x" * 43, "y" * 64])
def test_an_unknown_device_code_is_invalid_grant(agent, code):
    response = poll(agent, code)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_grant", "invalid_request")


def test_what_the_screen_shows_cannot_claim_the_token(agent, alice, team_a):
    """The user code and the QR's URL are on the screen; only the device code
    (never shown) claims the token."""
    data = started(agent)
    approve(PairingRequest.objects.get().id, alice)
    for guess in (data["user_code"], data["user_code"].replace("-", ""), data["verification_uri_complete"]):
        response = poll(agent, guess)
        assert response.status_code == 400
        assert response.json()["error"] in ("invalid_grant", "invalid_request")
    assert Host.objects.get().token_hash is None


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"name": "x"}', "text/plain", 400),
        ('{"name": "x", "evil": 1}', "application/json", 400),
        ('{"name": 5}', "application/json", 400),
        ('{"name": ""}', "application/json", 400),
        ('{"name": "' + "n" * 65 + '"}', "application/json", 400),
        ('{"name": "a\\u202eb"}', "application/json", 400),
        ('{"name": "a\\u001b[2Jb"}', "application/json", 400),
        ('{"name": "a\\u0000b"}', "application/json", 400),
        ('{"name": "' + "x" * 1_000_000 + '"}', "application/json", 413),
        ("[" * 100_000 + "]" * 100_000, "application/json", 413),
    ],
)
def test_bad_bodies_get_a_clear_error_and_change_nothing(agent, body, content_type, status):
    """SECURITY.md case 18 (and 15: names with controls or over 64 characters)."""
    response = agent.post("/api/pairing/", body, content_type=content_type)
    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"]
    assert not PairingRequest.objects.exists()


def test_deep_json_within_the_size_limit_is_refused_cleanly(agent):
    response = agent.post("/api/pairing/", "[" * 2000 + "]" * 2000, content_type="application/json")
    assert response.status_code == 400


def test_a_sixth_pending_pairing_from_one_address_is_429(agent):
    """SECURITY.md case 17."""
    for _ in range(5):
        started(agent, ip="198.51.100.20")
    response = start(agent, ip="198.51.100.20")
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
    assert response["Retry-After"]
    assert PairingRequest.objects.count() == 5
    assert start(agent, ip="198.51.100.21").status_code == 200


def test_the_global_cap_on_pending_pairings(agent, settings):
    settings.PAIRING_PENDING_GLOBAL = 3
    for n in range(3):
        started(agent, ip=f"198.51.100.{30 + n}")
    assert start(agent, ip="198.51.100.40").status_code == 429


def test_expired_requests_do_not_count_against_the_cap(agent):
    with time_machine.travel(timezone.now() - timedelta(seconds=700)):
        for _ in range(5):
            started(agent, ip="198.51.100.20")
    assert start(agent, ip="198.51.100.20").status_code == 200


def test_more_than_ten_requests_a_minute_from_one_address_is_429(agent, settings):
    settings.PAIRING_PENDING_PER_IP = 100
    statuses = [start(agent, ip="198.51.100.50").status_code for _ in range(12)]
    assert statuses[:10] == [200] * 10
    assert statuses[10:] == [429, 429]


def test_a_session_cookie_does_not_authenticate_the_agent_api(alice_client, alice):
    """SECURITY.md case 26: the CSRF-exempt API never reads the session."""
    response = alice_client.post("/api/host/unpair/", "{}", content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_unpair_revokes_the_host(agent, team_a):
    from tests.kits.common import make_host

    host, token = make_host(team_a)
    assert bearer_post(agent, "/api/host/unpair/", token).json() == {"status": "revoked"}
    host.refresh_from_db()
    assert host.state == HostState.REVOKED
    assert AuditEvent.objects.filter(action="host.revoked").count() == 1
    assert bearer_post(agent, "/api/host/unpair/", token).status_code == 401


def test_the_api_answers_get_with_405(agent):
    assert agent.get("/api/pairing/").status_code == 405


def test_pairing_leaves_an_audit_trail(agent, alice, team_a):
    data = started(agent)
    approve(PairingRequest.objects.get().id, alice)
    token = poll(agent, data["device_code"]).json()["host_token"]
    bearer_post(agent, "/api/pairing/confirm/", token)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["pairing.requested", "pairing.approved", "host.confirmed"]
