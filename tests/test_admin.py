"""The admin: staff only, and only after their second factor."""

import pytest
from django.urls import reverse

from accounts.services import invitation_create
from codexhub.admin import ADMIN_NOT_STAFF
from tests.kits.common import PASSWORD, login, make_user, page_text, totp_for

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


def test_non_staff_are_sent_to_the_admin_login_and_told_they_have_no_access(alice_client):
    response = alice_client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    response = alice_client.get(response["Location"])
    assert response.status_code == 403
    assert ADMIN_NOT_STAFF in page_text(response)


def test_the_admin_login_is_the_hubs_sign_in_with_no_code_field_of_its_own(client):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == f"{reverse('account_login')}?next=/admin/"
    body = page_text(response)
    assert "otp_token" not in body
    assert "OTP Token" not in body
    assert client.get("/admin/login/")["Location"] == f"{reverse('account_login')}?next=/admin/"


def test_the_admin_login_keeps_a_local_next_and_drops_another_sites(client):
    response = client.get("/admin/login/", {"next": "/admin/accounts/team/"})
    assert response["Location"] == f"{reverse('account_login')}?next=/admin/accounts/team/"
    response = client.get("/admin/login/", {"next": "https://evil.example/"})
    assert response["Location"] == f"{reverse('account_login')}?next=/admin/"


def test_a_password_posted_to_the_admin_login_signs_no_one_in(client, staff):
    client.post("/admin/login/", {"username": staff.username, "password": PASSWORD, "otp_token": "123456"})
    assert "_auth_user_id" not in client.session


def test_staff_sign_in_with_password_then_code_and_land_in_the_admin(client, staff):
    response = client.get("/admin/login/", {"next": "/admin/"}, follow=True)
    login_url = response.redirect_chain[-1][0]
    response = client.post(login_url, {"login": staff.email, "password": PASSWORD})
    assert response["Location"] == "/admin/"
    response = client.get("/admin/")
    assert response["Location"] == f"{reverse('otp_verify')}?next=%2Fadmin%2F"
    response = client.post(reverse("otp_verify"), {"code": totp_for(staff).now(), "next": "/admin/"})
    assert response["Location"] == "/admin/"
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "Site administration" in page_text(response)


def test_the_invitation_admin_keeps_the_token_hash_read_only(client, staff, alice):
    new = invitation_create(actor=alice.memberships.get(), email="x@example.com", role="member")
    login(client, staff)
    response = client.get(reverse("admin:accounts_invitation_change", args=[new.invitation.id]))
    body = response.content.decode()
    assert 'name="token_hash"' not in body
    assert client.get(reverse("admin:accounts_invitation_add")).status_code == 403
