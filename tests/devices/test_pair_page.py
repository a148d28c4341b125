"""Approving on the phone: /pair/ (SECURITY.md Pairing 1-3, 8-10, 12, 13, 15)."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import OTP_FREE_TRIES, Membership, Role
from accounts.services import OTP_CODE_INCORRECT, team_create
from codexhub.errors import ServiceError
from devices import pairing as pairing_services
from devices.models import Host, PairingRequest, PairingState
from tests.kits.common import login, make_user, page_text, totp_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def pairing(db):
    return pairing_services.pairing_start(
        name="MacBook Pro", platform="darwin-arm64", agent_version="0.1.0", ip="198.51.100.10"
    ).pairing


def approve(client, pairing, team, code, **extra):
    data = {
        "code": pairing.user_code_display,
        "action": "approve",
        "team": team.id,
        "otp_code": code,
        **extra,
    }
    return client.post(reverse("pair"), data, REMOTE_ADDR="203.0.113.5")


def test_it_shows_what_asks_to_join(alice_client, pairing):
    response = alice_client.get(reverse("pair"), {"code": pairing.user_code_display})
    body = page_text(response)
    assert response.status_code == 200
    for fact in ("MacBook Pro", "darwin-arm64", "198.51.100.10", pairing.user_code_display):
        assert fact in body
    assert "another address than your phone" in body


def test_an_admin_approves_with_their_totp_code(alice_client, alice, team_a, pairing):
    response = approve(alice_client, pairing, team_a, totp_for(alice).now())
    assert response.status_code == 302
    pairing.refresh_from_db()
    assert pairing.state == PairingState.APPROVED
    assert (pairing.team, pairing.decided_by, pairing.decided_from) == (team_a, alice, "203.0.113.5")
    assert Host.objects.get().team == team_a


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{bare}", "{spaced}"])
def test_codes_are_read_case_insensitively_ignoring_dashes_and_spaces(alice_client, pairing, typed):
    """SECURITY.md case 9."""
    code = pairing.user_code_display
    variants = {
        "code": code,
        "lower": code.lower(),
        "bare": code.replace("-", ""),
        "spaced": code.replace("-", " ").lower(),
    }
    response = alice_client.get(reverse("pair"), {"code": typed.format(**variants)})
    assert response.status_code == 200
    assert "MacBook Pro" in page_text(response)


def test_a_code_outside_the_alphabet_is_not_looked_up(django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(ServiceError, match="not a valid code"):
        pairing_services.pairing_lookup(user_code="AAAA-0000")


def test_an_unknown_code_says_so_and_writes_nothing(alice_client, pairing):
    """SECURITY.md case 1."""
    response = alice_client.get(reverse("pair"), {"code": "BBBB-CCCC"})
    assert response.status_code == 404
    assert pairing_services.PAIRING_CODE_UNKNOWN in page_text(response)
    assert PairingRequest.objects.get().state == PairingState.PENDING


def test_an_expired_code_says_to_pair_again(alice_client, pairing):
    """SECURITY.md case 2."""
    with time_machine.travel(timezone.now() + timedelta(seconds=601)):
        login(alice_client, Membership.objects.get(role=Role.OWNER).user)
        response = alice_client.get(reverse("pair"), {"code": pairing.user_code_display})
    assert response.status_code == 404
    assert "expired: run `codexhub-agent pair`" in page_text(response)


def test_a_used_code_is_refused_and_no_second_host_appears(alice_client, alice, team_a, pairing):
    """SECURITY.md case 3."""
    approve(alice_client, pairing, team_a, totp_for(alice).now())
    response = alice_client.get(reverse("pair"), {"code": pairing.user_code_display})
    assert pairing_services.PAIRING_CODE_USED in page_text(response)
    assert Host.objects.count() == 1


def test_a_wrong_otp_code_leaves_the_request_pending_and_throttles(alice_client, alice, team_a, pairing):
    """SECURITY.md case 10."""
    with time_machine.travel(timezone.now(), tick=False):
        response = approve(alice_client, pairing, team_a, "000000")
        assert response.status_code == 400
        assert OTP_CODE_INCORRECT in page_text(response)
        assert PairingRequest.objects.get().state == PairingState.PENDING
        # A typo is free (accounts.models.OTP_FREE_TRIES); guessing on is slowed down.
        for _ in range(OTP_FREE_TRIES):
            response = approve(alice_client, pairing, team_a, "000000")
        assert "Try again in 8 s" in page_text(response)
        response = approve(alice_client, pairing, team_a, totp_for(alice).now())
        assert response.status_code == 400
        assert "Try again in 8 s" in page_text(response)
    assert not Host.objects.exists()


def test_a_member_cannot_approve_into_their_team(client, bob, team_a, pairing):
    """SECURITY.md case 12: a member of no team they manage is told to ask, and a forged approval is 403."""
    login(client, bob)
    body = page_text(client.get(reverse("pair"), {"code": pairing.user_code_display}))
    assert pairing_services.PAIRING_NO_MANAGED_TEAM in body
    response = approve(client, pairing, team_a, totp_for(bob).now())
    assert response.status_code == 403
    assert PairingRequest.objects.get().state == PairingState.PENDING


def test_another_tenants_team_id_is_404(alice_client, alice, team_b, charlie, pairing):
    response = approve(alice_client, pairing, team_b, totp_for(alice).now())
    assert response.status_code == 404
    assert not Host.objects.exists()


def test_deny_refuses_the_request(alice_client, pairing):
    response = alice_client.post(reverse("pair"), {"code": pairing.user_code_display, "action": "deny"})
    assert response.status_code == 302
    assert PairingRequest.objects.get().state == PairingState.DENIED


def test_the_eleventh_wrong_code_for_a_user_is_429_even_for_a_right_code(alice_client, pairing):
    """SECURITY.md case 8 (per user)."""
    for letter in pairing_services.USER_CODE_ALPHABET[:10]:
        assert alice_client.get(reverse("pair"), {"code": f"BBBB-CC{letter}C"}).status_code == 404
    response = alice_client.get(reverse("pair"), {"code": pairing.user_code_display})
    assert response.status_code == 429
    assert "Too many wrong codes" in page_text(response)


def test_thirty_wrong_codes_from_one_address_lock_it_for_everyone(client, pairing):
    """SECURITY.md case 8 (per address, across users)."""
    for n in range(3):
        user = make_user(f"guesser{n}@example.com")
        team_create(user=user, name=f"Guessers {n}")  # only team admins may look codes up
        login(client, user)
        for letter in pairing_services.USER_CODE_ALPHABET[:10]:
            response = client.get(
                reverse("pair"), {"code": f"BBBB-{n + 2}{letter}CC"}, REMOTE_ADDR="192.0.2.9"
            )
            assert response.status_code == 404
    fresh = make_user("fresh@example.com")
    team_create(user=fresh, name="Fresh")
    login(client, fresh)
    response = client.get(reverse("pair"), {"code": pairing.user_code_display}, REMOTE_ADDR="192.0.2.9")
    assert response.status_code == 429


def test_pairing_needs_a_second_factor(client, pairing):
    """SECURITY.md case 13."""
    user = make_user("nofactor@example.com", otp=False)
    login(client, user, verified=False)
    response = client.get(reverse("pair"), {"code": pairing.user_code_display})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('otp_setup')}?next=%2Fpair%2F")
    response = client.post(reverse("pair"), {"code": pairing.user_code_display, "action": "deny"})
    assert response.status_code == 403
    assert PairingRequest.objects.get().state == PairingState.PENDING


def test_a_hostile_host_name_is_escaped(alice_client):
    """SECURITY.md case 15."""
    started = pairing_services.pairing_start(
        name="<script>window.__pwned=1</script>", platform="x", agent_version="1", ip="198.51.100.1"
    )
    body = alice_client.get(reverse("pair"), {"code": started.pairing.user_code_display}).content.decode()
    assert "<script>window.__pwned" not in body
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body


def test_the_throttle_is_reset_after_a_right_code(alice_client, alice, team_a, pairing):
    approve(alice_client, pairing, team_a, "000000")
    TOTPDevice.objects.filter(user=alice).update(
        throttling_failure_timestamp=None, throttling_failure_count=0
    )
    assert approve(alice_client, pairing, team_a, totp_for(alice).now()).status_code == 302
