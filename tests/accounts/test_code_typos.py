"""Second-factor codes as people type them: a typo costs nothing, a code used a
moment ago says so and when the next one comes, guessing is slowed down, and
"signed in" is said once both factors are done."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import OTP_FREE_TRIES
from tests.kits.common import PASSWORD, login, make_user, page_text, totp_for

pytestmark = pytest.mark.django_db

# 12 s into a 30 s step: the app shows the next code 18 s later.
MID_STEP = datetime(2026, 3, 2, 9, 0, 12, tzinfo=UTC)


def sign_in(client, email):
    return client.post(reverse("account_login"), {"login": email, "password": PASSWORD})


def verify(client, code, next_url="/hosts/"):
    return client.post(reverse("otp_verify"), {"code": code, "next": next_url})


def test_it_takes_the_right_code_right_after_a_typo(client, alice):
    sign_in(client, alice.email)
    with time_machine.travel(MID_STEP, tick=False):
        right = totp_for(alice).now()
        typo = right[:5] + str((int(right[5]) + 1) % 10)
        assert verify(client, typo).status_code == 400
        response = verify(client, right)
    assert response.status_code == 302
    assert response["Location"] == "/hosts/"
    assert TOTPDevice.objects.get(user=alice).throttling_failure_count == 0


def test_it_takes_the_right_code_after_the_free_tries_and_no_later(client, alice):
    sign_in(client, alice.email)
    with time_machine.travel(MID_STEP, tick=False):
        for _ in range(OTP_FREE_TRIES):
            response = verify(client, "000000")
            assert services.OTP_CODE_INCORRECT in page_text(response)
            assert "Try again in" not in page_text(response)
        assert verify(client, totp_for(alice).now()).status_code == 302


@pytest.mark.parametrize(("wrong", "wait"), [(4, 8), (5, 16), (6, 32), (8, 128)])
def test_guessing_is_slowed_down_more_with_each_wrong_code(client, alice, wrong, wait):
    """The policy in README "Two-factor codes": three free, then 2^(n-1) s."""
    sign_in(client, alice.email)
    start = MID_STEP
    with time_machine.travel(start, tick=False) as clock:
        for n in range(1, wrong + 1):
            response = verify(client, "000000")
            assert response.status_code == 400
            clock.shift(timedelta(seconds=2 ** (n - 1)))  # past the wait, so each try counts
        clock.move_to(start + timedelta(seconds=sum(2 ** (n - 1) for n in range(1, wrong))))
        assert services.OTP_CODE_INCORRECT_THROTTLED.format(seconds=wait) in page_text(response)
        # The right code is refused too while the check is closed: no oracle.
        clock.shift(timedelta(seconds=wait - 1))
        response = verify(client, totp_for(alice).now())
        assert services.OTP_THROTTLED.format(seconds=1) in page_text(response)
        assert DEVICE_ID_SESSION_KEY not in client.session
        clock.shift(timedelta(seconds=1))
        assert verify(client, totp_for(alice).now()).status_code == 302


def test_a_used_code_says_it_was_used_and_when_the_next_one_comes(client, alice):
    with time_machine.travel(MID_STEP, tick=False) as clock:
        code = totp_for(alice).now()
        sign_in(client, alice.email)
        assert verify(client, code).status_code == 302
        client.logout()
        sign_in(client, alice.email)
        clock.shift(timedelta(seconds=5))
        response = verify(client, code)
        assert response.status_code == 400
        body = page_text(response)
        assert services.OTP_CODE_USED.format(seconds=13) in body
        assert services.OTP_CODE_INCORRECT not in body
        # Not a guess: it costs none of the free tries.
        assert TOTPDevice.objects.get(user=alice).throttling_failure_count == 0
        clock.shift(timedelta(seconds=13))
        next_code = totp_for(alice).now()
        assert next_code != code
        assert verify(client, next_code).status_code == 302


def test_a_code_used_for_one_step_up_says_so_at_the_next(alice):
    """Approving a pairing, then revoking a host within the same 30 s."""
    with time_machine.travel(MID_STEP, tick=False) as clock:
        code = totp_for(alice).now()
        services.otp_verify(user=alice, code=code)  # the pairing's approval
        clock.shift(timedelta(seconds=10))
        with pytest.raises(services.ServiceError) as refused:
            services.otp_verify(user=alice, code=code)  # the revoke
    assert refused.value.message == services.OTP_CODE_USED.format(seconds=8)
    assert refused.value.status == 400


def test_a_backup_code_typo_is_free_too(client):
    user = make_user("dave@example.com", otp=False)
    login(client, user, verified=False)
    client.get(reverse("otp_setup"))
    codes = client.post(reverse("otp_setup"), {"code": totp_for(user).now()}).context["codes"]
    client.logout()
    sign_in(client, user.email)
    with time_machine.travel(MID_STEP, tick=False):
        assert verify(client, "ABCD-EFGH").status_code == 400
        assert verify(client, codes[0]).status_code == 302


def test_signed_in_is_said_only_after_the_second_factor(client, alice):
    response = sign_in(client, alice.email)
    response = client.get(response["Location"], follow=True)
    body = page_text(response)
    assert "Enter your code" in body
    assert "signed in" not in body.lower()
    response = client.post(reverse("otp_verify"), {"code": totp_for(alice).now()}, follow=True)
    assert f"Successfully signed in as {alice.email}." in page_text(response)
