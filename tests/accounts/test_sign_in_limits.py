"""SECURITY.md case 19: allauth's login_failed limit (5 per 5 min per account)."""

import pytest
from django.urls import reverse

from tests.kits.common import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client, email, password, ip="203.0.113.7"):
    return client.post(reverse("account_login"), {"login": email, "password": password}, REMOTE_ADDR=ip)


def test_the_sixth_failed_password_for_one_account_is_429(client, alice):
    for _ in range(5):
        assert sign_in(client, alice.email, "wrong password").status_code == 200
    response = sign_in(client, alice.email, "wrong password")
    assert response.status_code == 429
    # The right password is refused too while the limit holds: no oracle.
    assert sign_in(client, alice.email, PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_limit_is_per_account(client, alice, bob):
    for _ in range(6):
        sign_in(client, alice.email, "wrong password", ip="203.0.113.8")
    response = sign_in(client, bob.email, PASSWORD, ip="203.0.113.9")
    assert response.status_code == 302
