from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.jobs import invitation_email_job
from accounts.models import Invitation, Membership, Role
from codexhub.errors import ServiceError
from tests.kits.common import login, make_user, page_text

pytestmark = pytest.mark.django_db


def invite(client, team, email="dave@example.com", role="member"):
    return client.post(reverse("team_invite", args=[team.id]), {"email": email, "role": role})


def link_from(response) -> str:
    return response.context["new_invitation"]["link"]


def test_it_creates_an_invitation_shows_the_link_once_and_emails_it(
    alice_client, team_a, django_capture_on_commit_callbacks, monkeypatch, jobs_published
):
    enqueued = []
    monkeypatch.setattr(
        invitation_email_job, "apply_async", lambda args, **options: enqueued.append((args, options))
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(alice_client, team_a)
    assert response.status_code == 200
    link = link_from(response)
    invitation_id = Invitation.objects.get().id
    # Celery logs and monitors the job by argsrepr: the token stays out of them.
    assert enqueued == [((invitation_id, link), {"argsrepr": f"({invitation_id}, '[invitation link]')"})]
    invitation_email_job(*enqueued[0][0])  # the job itself; tests/integration runs it in a worker
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert invitation.email == "dave@example.com"
    assert invitation.token_hash == services.token_hash(token)
    assert token not in invitation.token_hash
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dave@example.com"]
    assert link in mail.outbox[0].body
    # Shown once: the team page does not show the link again.
    assert token not in page_text(alice_client.get(reverse("team_detail", args=[team_a.id])))


def test_it_accepts_an_invitation_once(alice, team_a, client):
    new = services.invitation_create(actor=alice.memberships.get(), email="dave@example.com", role="admin")
    dave = make_user("dave@example.com")
    login(client, dave)
    url = reverse("invitation_accept", args=[new.token])
    assert "Join Team A" in client.get(url).content.decode()
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("team_detail", args=[team_a.id])
    assert Membership.objects.get(team=team_a, user=dave).role == Role.ADMIN
    # The invited person now works in the team they joined.
    assert client.get(reverse("host_list")).context["membership"].team == team_a


def test_it_refuses_a_reused_invitation(alice, team_a, client):
    new = services.invitation_create(actor=alice.memberships.get(), email="dave@example.com", role="member")
    dave = make_user("dave@example.com")
    services.invitation_accept(token=new.token, user=dave)
    login(client, dave)
    response = client.post(reverse("invitation_accept", args=[new.token]))
    assert response.status_code == 410
    assert services.INVITATION_USED in page_text(response)
    assert Membership.objects.filter(team=team_a, user=dave).count() == 1


def test_it_refuses_an_invitation_already_used_by_someone_else(alice, team_a, client):
    new = services.invitation_create(actor=alice.memberships.get(), email="dave@example.com", role="member")
    services.invitation_accept(token=new.token, user=make_user("dave@example.com"))
    with pytest.raises(ServiceError, match="already been used"):
        services.invitation_accept(token=new.token, user=make_user("eve@example.com"))


def test_it_refuses_an_expired_invitation(alice, team_a, client):
    new = services.invitation_create(actor=alice.memberships.get(), email="dave@example.com", role="member")
    dave = make_user("dave@example.com")
    with time_machine.travel(timezone.now() + timedelta(days=7, seconds=1)):
        login(client, dave)
        response = client.post(reverse("invitation_accept", args=[new.token]))
    assert response.status_code == 410
    assert services.INVITATION_EXPIRED in page_text(response)
    assert not Membership.objects.filter(user=dave).exists()
    assert Invitation.objects.get().accepted_at is None


def test_it_refuses_an_invitation_for_another_email(alice, team_a, client):
    new = services.invitation_create(actor=alice.memberships.get(), email="dave@example.com", role="member")
    eve = make_user("eve@example.com")
    login(client, eve)
    response = client.post(reverse("invitation_accept", args=[new.token]))
    assert response.status_code == 403
    assert services.INVITATION_WRONG_EMAIL in page_text(response)
    assert not Membership.objects.filter(user=eve).exists()
    assert Invitation.objects.get().accepted_at is None


def test_it_matches_the_email_case_insensitively(alice, team_a):
    new = services.invitation_create(actor=alice.memberships.get(), email="Dave@Example.com", role="member")
    membership = services.invitation_accept(token=new.token, user=make_user("dave@example.com"))
    assert membership.team == team_a


@pytest.mark.parametrize("token", ["nope", "x" * 43, "x" * 500, "%00"])
def test_it_answers_404_for_an_unknown_token(client, alice, token):
    login(client, alice)
    response = client.get(f"/invite/{token}/")
    assert response.status_code == 404
    assert services.INVITATION_UNKNOWN in page_text(response)


def test_it_shows_sign_up_and_sign_in_to_a_visitor(alice, client):
    new = services.invitation_create(actor=alice.memberships.get(), email="dave@example.com", role="member")
    response = client.get(reverse("invitation_accept", args=[new.token]))
    body = page_text(response)
    assert response.status_code == 200
    assert "Create an account" in body
    assert f"next=/invite/{new.token}/" in body


def test_a_member_cannot_invite(bob, team_a, client):
    login(client, bob)
    response = invite(client, team_a)
    assert response.status_code == 403
    assert services.INVITE_NOT_ALLOWED in page_text(response)
    assert not Invitation.objects.exists()


def test_an_admin_can_invite(bob, team_a, client):
    Membership.objects.filter(user=bob).update(role=Role.ADMIN)
    login(client, bob)
    assert invite(client, team_a).status_code == 200
    assert Invitation.objects.get().invited_by == bob


def test_it_refuses_to_invite_an_existing_member(alice_client, bob, team_a):
    response = invite(alice_client, team_a, email="BOB@example.com")
    assert response.status_code == 400
    assert services.INVITE_ALREADY_MEMBER in page_text(response)
    assert not Invitation.objects.exists()


def test_it_refuses_an_owner_role_in_an_invitation(alice_client, team_a):
    response = invite(alice_client, team_a, role="owner")
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_it_refuses_to_invite_into_another_team(alice_client, team_b, charlie):
    response = invite(alice_client, team_b)
    assert response.status_code == 404
    assert not Invitation.objects.exists()


def test_inviting_needs_a_verified_second_factor(alice, team_a, client):
    login(client, alice, verified=False)
    response = invite(client, team_a)
    # Enrolled but not verified in this session: a change is refused until the code.
    assert response.status_code == 403
    assert "Enter your two-factor code first" in page_text(response)
    assert not Invitation.objects.exists()
