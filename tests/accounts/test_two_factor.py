from base64 import b32decode, b32encode
from datetime import timedelta

import pyotp
import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import BackupCode
from tests.kits.common import PASSWORD, login, make_user, page_text, totp_for

pytestmark = pytest.mark.django_db


def enroll(client) -> tuple[pyotp.TOTP, list[str]]:
    """Go through the setup page as a person would; returns the app and codes."""
    response = client.get(reverse("otp_setup"))
    key = response.context["key_text"].replace(" ", "")
    totp = pyotp.TOTP(key)
    response = client.post(reverse("otp_setup"), {"code": totp.now()})
    assert response.status_code == 200, page_text(response)
    return totp, response.context["codes"]


def sign_in(client, email, password=PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_it_enrolls_totp_with_a_qr_and_the_key_as_text(client):
    user = make_user("dave@example.com", otp=False)
    login(client, user, verified=False)
    response = client.get(reverse("otp_setup"))
    body = page_text(response)
    assert "<svg" in body
    key = response.context["key_text"]
    assert key.replace(" ", "") in b32encode(TOTPDevice.objects.get(user=user).bin_key).decode()
    _, codes = enroll(client)
    assert TOTPDevice.objects.get(user=user).confirmed
    assert len(codes) == 10
    assert len(set(codes)) == 10
    # The session that enrolled has passed the second factor.
    assert client.get(reverse("host_list")).status_code == 200


def test_it_refuses_a_wrong_setup_code_and_keeps_the_device_unconfirmed(client):
    user = make_user("dave@example.com", otp=False)
    login(client, user, verified=False)
    client.get(reverse("otp_setup"))
    response = client.post(reverse("otp_setup"), {"code": "000000"})
    assert response.status_code == 400
    assert services.OTP_CODE_INCORRECT in page_text(response)
    assert not TOTPDevice.objects.get(user=user).confirmed
    assert not BackupCode.objects.exists()


def test_it_asks_for_the_code_at_sign_in(client, alice):
    response = sign_in(client, alice.email)
    assert response.status_code == 302
    # Signed in with the password only: every page leads to the code page.
    response = client.get(reverse("host_list"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('otp_verify')}?next=%2Fhosts%2F"
    response = client.post(reverse("otp_verify"), {"code": totp_for(alice).now(), "next": "/hosts/"})
    assert response.status_code == 302
    assert response["Location"] == "/hosts/"
    assert client.get(reverse("host_list")).status_code == 200


def test_it_refuses_a_wrong_code_at_sign_in(client, alice):
    sign_in(client, alice.email)
    response = client.post(reverse("otp_verify"), {"code": "123456"})
    assert response.status_code == 400
    assert services.OTP_CODE_INCORRECT in page_text(response)
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert client.get(reverse("settings")).status_code == 302


@pytest.mark.parametrize("code", ["", "abc", "1234567", "x" * 40, "12 34 56\x00"])
def test_it_refuses_malformed_codes(client, alice, code):
    sign_in(client, alice.email)
    response = client.post(reverse("otp_verify"), {"code": code})
    assert response.status_code == 400
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_it_ignores_an_offsite_next_url(client, alice):
    sign_in(client, alice.email)
    response = client.post(
        reverse("otp_verify"), {"code": totp_for(alice).now(), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_it_throttles_wrong_codes_even_the_right_one_after_five_failures(client, alice):
    """SECURITY.md case 20: five wrong codes, then >= 16 s refused, success resets."""
    sign_in(client, alice.email)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(5):
            clock.shift(timedelta(seconds=20))  # past each back-off, so every try counts
            client.post(reverse("otp_verify"), {"code": "000000"})
        assert TOTPDevice.objects.get(user=alice).throttling_failure_count == 5
        clock.shift(timedelta(seconds=15))
        response = client.post(reverse("otp_verify"), {"code": totp_for(alice).now()})
        assert response.status_code == 400
        assert "Try again in 1 s" in page_text(response)
        assert DEVICE_ID_SESSION_KEY not in client.session
        clock.shift(timedelta(seconds=2))
        response = client.post(reverse("otp_verify"), {"code": totp_for(alice).now()})
        assert response.status_code == 302
    assert TOTPDevice.objects.get(user=alice).throttling_failure_count == 0


def test_it_tells_the_wait_after_too_many_wrong_codes(client, alice):
    sign_in(client, alice.email)
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(3):
            response = client.post(reverse("otp_verify"), {"code": "000000"})
            assert page_text(response).count(services.OTP_CODE_INCORRECT) == 1
        response = client.post(reverse("otp_verify"), {"code": "000000"})
        assert services.OTP_CODE_INCORRECT_THROTTLED.format(seconds=8) in page_text(response)
        response = client.post(reverse("otp_verify"), {"code": totp_for(alice).now()})
    assert services.OTP_THROTTLED.format(seconds=8) in page_text(response)
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_a_totp_code_cannot_be_used_twice(client, alice):
    code = totp_for(alice).now()
    sign_in(client, alice.email)
    assert client.post(reverse("otp_verify"), {"code": code}).status_code == 302
    client.logout()
    sign_in(client, alice.email)
    response = client.post(reverse("otp_verify"), {"code": code})
    assert response.status_code == 400
    assert "That code was just used, and each code works once. The next one appears in" in page_text(response)
    assert DEVICE_ID_SESSION_KEY not in client.session


def test_a_backup_code_signs_in_once_and_is_stored_hashed(client):
    """SECURITY.md case 21."""
    user = make_user("dave@example.com", otp=False)
    login(client, user, verified=False)
    _, codes = enroll(client)
    for row in BackupCode.objects.all():
        for code in codes:
            assert code.replace("-", "") not in row.code_hash
            assert code not in row.code_hash
    client.logout()
    sign_in(client, user.email)
    response = client.post(reverse("otp_verify"), {"code": codes[3].lower()})
    assert response.status_code == 302
    assert BackupCode.objects.filter(used_at__isnull=False).count() == 1
    client.logout()
    sign_in(client, user.email)
    response = client.post(reverse("otp_verify"), {"code": codes[3]})
    assert response.status_code == 400
    assert services.OTP_CODE_INCORRECT in page_text(response)
    assert services.backup_codes_left(user=user) == 9


def test_new_backup_codes_replace_the_old_ones(client):
    user = make_user("dave@example.com", otp=False)
    login(client, user, verified=False)
    _, old = enroll(client)
    response = client.post(reverse("backup_codes_regenerate"))
    new = response.context["codes"]
    assert set(new).isdisjoint(old)
    client.logout()
    sign_in(client, user.email)
    with time_machine.travel(timezone.now(), tick=False):
        assert client.post(reverse("otp_verify"), {"code": old[0]}).status_code == 400
        assert client.post(reverse("otp_verify"), {"code": new[0]}).status_code == 302


def test_the_session_key_changes_at_sign_in_and_after_the_second_factor(client, alice):
    """SECURITY.md case 22."""
    client.get(reverse("account_login"))
    client.session.save()
    before = client.session.session_key
    sign_in(client, alice.email)
    after_password = client.session.session_key
    client.post(reverse("otp_verify"), {"code": totp_for(alice).now()})
    after_otp = client.session.session_key
    assert len({before, after_password, after_otp}) == 3
    assert client.session[DEVICE_ID_SESSION_KEY]


def test_pages_that_run_code_need_a_second_factor(client):
    """A user with no second factor: a page visit goes to setup, a POST is 403."""
    user = make_user("dave@example.com", otp=False)
    login(client, user, verified=False)
    team = services.team_create(user=user, name="Dave's")
    response = client.get(reverse("team_detail", args=[team.id]))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('otp_setup')}?next=%2Fteams%2F{team.id}%2F"
    response = client.post(
        reverse("team_invite", args=[team.id]), {"email": "x@example.com", "role": "member"}
    )
    assert response.status_code == 403
    assert "two-factor" in page_text(response)
    response = client.post(reverse("backup_codes_regenerate"))
    assert response.status_code == 403


def test_setup_is_refused_once_enrolled(alice_client):
    response = alice_client.get(reverse("otp_setup"))
    assert response.status_code == 302
    assert response["Location"] == reverse("settings")


def test_the_setup_key_is_a_valid_base32_secret(client):
    user = make_user("dave@example.com", otp=False)
    login(client, user, verified=False)
    key = client.get(reverse("otp_setup")).context["key_text"].replace(" ", "")
    assert len(b32decode(key + "=" * (-len(key) % 8))) == 20
