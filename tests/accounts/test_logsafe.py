"""SECURITY.md section 5: secrets and one-time tokens never appear in a log
line. In-process: Django's own loggers and ours; tests/integration/
test_secrets_not_logged.py runs a real daphne with its access log."""

import logging
import secrets

import pytest
from django.test import Client
from django.urls import reverse

from accounts import logsafe, services
from devices.services import TOKEN_PREFIX
from tests.kits.common import login, make_user

pytestmark = pytest.mark.django_db


def messages(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


@pytest.fixture
def invitation(alice):
    return services.invitation_create(actor=alice.memberships.get(), email="erin@example.com", role="member")


def test_the_secret_prefixes_are_the_urlconfs_and_the_host_tokens():
    assert reverse("invitation_accept", args=["t"]).startswith(logsafe.SECRET_PATH_PREFIXES[0])
    assert reverse("account_confirm_email", args=["k"]).startswith(logsafe.SECRET_PATH_PREFIXES[1])
    reset = reverse("account_reset_password_from_key", kwargs={"uidb36": "1", "key": "k"})
    assert reset.startswith(logsafe.SECRET_PATH_PREFIXES[2])
    assert logsafe.HOST_TOKEN_PREFIX == TOKEN_PREFIX


@pytest.mark.parametrize(
    "line",
    [
        "GET /invite/{secret}/ 200",
        "https://hub.example/invite/{secret}/",
        "GET /settings/2fa/setup/?next=%2Finvite%2F{secret}%2F",
        "GET /settings/2fa/setup/?next=%2finvite%2f{secret}%2f",
        "Not Found: /accounts/confirm-email/{secret}/",
        "GET /accounts/password/reset/key/1-{secret}/",
    ],
)
def test_it_redacts_secret_paths_also_inside_a_query(line):
    secret = secrets.token_urlsafe(32)
    redacted = logsafe.redact(line.format(secret=secret))
    assert secret not in redacted and logsafe.REDACTED in redacted


def test_it_redacts_host_tokens_anywhere():
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert (
        logsafe.redact(f"Authorization: Bearer {token}, then")
        == f"Authorization: Bearer chub_{logsafe.REDACTED}, then"
    )


def test_an_unknown_invitation_is_logged_without_its_token(client, caplog):
    token = secrets.token_urlsafe(32)
    with caplog.at_level(logging.INFO):
        assert client.get(reverse("invitation_accept", args=[token])).status_code == 404
    assert "Not Found: /invite/[redacted]/" in messages(caplog)
    assert token not in messages(caplog)


def test_a_refused_invitation_is_logged_without_its_token(invitation, bob, caplog):
    client = login(Client(), bob)  # another address than the invitation's
    with caplog.at_level(logging.INFO):
        assert client.get(reverse("invitation_accept", args=[invitation.token])).status_code == 403
    assert "Forbidden: /invite/[redacted]/" in messages(caplog)
    assert invitation.token not in messages(caplog)


def test_a_redirect_to_setup_and_a_403_keep_the_token_out(invitation, caplog):
    client = login(Client(), make_user("erin@example.com", otp=False), verified=False)
    url = reverse("invitation_accept", args=[invitation.token])
    with caplog.at_level(logging.INFO):
        assert invitation.token in client.get(url)["Location"]  # the next: only in the response
        assert client.post(url).status_code == 403
    assert "Forbidden (Permission denied): /invite/[redacted]/" in messages(caplog)
    assert invitation.token not in messages(caplog)


def test_any_logger_and_every_handler_get_the_redacted_record(caplog):
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    invite = secrets.token_urlsafe(32)
    with caplog.at_level(logging.INFO):
        logging.getLogger("codexhub.anything").warning("host %s opened /invite/%s/", token, invite)
    (record,) = [r for r in caplog.records if r.name == "codexhub.anything"]
    assert record.getMessage() == "host chub_[redacted] opened /invite/[redacted]/"
    assert token not in caplog.text and invite not in caplog.text
