"""The admin: staff only, and only after their second factor."""

import pytest
from django.urls import reverse

from accounts.services import invitation_create
from tests.kits.common import login, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    user = make_user("root@example.com")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def test_verified_staff_reach_the_admin(client, staff):
    login(client, staff)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "codexhub admin" in response.content.decode()


def test_staff_without_the_second_factor_are_sent_to_the_code_page(client, staff):
    login(client, staff, verified=False)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp_verify"))


def test_staff_without_any_device_are_sent_to_set_one_up(client):
    user = make_user("nodevice@example.com", otp=False)
    user.is_staff = user.is_superuser = True
    user.save()
    login(client, user, verified=False)
    for path in ("/admin/", "/admin/login/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{reverse('otp_setup')}?next=")


def test_non_staff_are_sent_to_the_admin_login(alice_client):
    response = alice_client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_invitation_admin_keeps_the_token_hash_read_only(client, staff, alice):
    new = invitation_create(actor=alice.memberships.get(), email="x@example.com", role="member")
    login(client, staff)
    response = client.get(reverse("admin:accounts_invitation_change", args=[new.invitation.id]))
    body = response.content.decode()
    assert 'name="token_hash"' not in body
    assert client.get(reverse("admin:accounts_invitation_add")).status_code == 403
