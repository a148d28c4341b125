import pytest
from django.urls import reverse

from accounts import services
from accounts.models import Membership, Role, Team
from tests.kits.common import login, make_user, page_text

pytestmark = pytest.mark.django_db


def test_it_creates_a_team_owned_by_its_creator(client):
    dave = make_user("dave@example.com")
    login(client, dave)
    response = client.post(reverse("team_list"), {"name": "Dave's lab"})
    team = Team.objects.get()
    assert response["Location"] == reverse("team_detail", args=[team.id])
    assert Membership.objects.get(team=team).role == Role.OWNER
    assert client.get(reverse("host_list")).context["membership"].team == team


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "evil\u202etxt.exe", "bell\x07", "clear\x1b[2J", "c1\x85inside", "nul\x00"]
)
def test_it_refuses_a_bad_team_name(alice_client, name):
    response = alice_client.post(reverse("team_list"), {"name": name})
    assert response.status_code == 400
    assert Team.objects.count() == 1


def test_it_escapes_a_hostile_team_name(alice_client, team_a):
    Team.objects.filter(id=team_a.id).update(name="<script>window.x=1</script>")
    body = alice_client.get(reverse("team_detail", args=[team_a.id])).content.decode()
    assert "<script>window.x=1" not in body
    assert "&lt;script&gt;window.x=1" in body


def test_it_switches_the_current_team(alice_client, alice, team_a):
    other = services.team_create(user=alice, name="Zeta")
    response = alice_client.post(reverse("team_switch", args=[other.id]), {"next": "/projects/"})
    assert response["Location"] == "/projects/"
    assert alice_client.get(reverse("host_list")).context["membership"].team == other


def test_it_refuses_to_switch_to_another_teams_id(alice_client, team_a, team_b, charlie):
    response = alice_client.post(reverse("team_switch", args=[team_b.id]))
    assert response.status_code == 404
    assert alice_client.get(reverse("host_list")).context["membership"].team == team_a


def test_an_owner_changes_a_role(alice_client, bob, team_a):
    member = Membership.objects.get(user=bob)
    alice_client.post(reverse("member_role", args=[team_a.id, member.id]), {"role": "admin"})
    assert Membership.objects.get(user=bob).role == Role.ADMIN


def test_an_admin_cannot_change_roles(client, alice, bob, team_a):
    Membership.objects.filter(user=bob).update(role=Role.ADMIN)
    login(client, bob)
    owner = Membership.objects.get(user=alice)
    response = client.post(reverse("member_role", args=[team_a.id, owner.id]), {"role": "member"})
    assert response.status_code == 403
    assert services.ROLE_CHANGE_NOT_ALLOWED in page_text(response)
    assert Membership.objects.get(user=alice).role == Role.OWNER


def test_a_team_keeps_its_last_owner(alice_client, alice, team_a):
    own = Membership.objects.get(user=alice)
    bob_like = make_user("bob2@example.com")
    Membership.objects.create(team=team_a, user=bob_like, role=Role.OWNER)
    other_owner = Membership.objects.get(user=bob_like)
    alice_client.post(reverse("member_role", args=[team_a.id, other_owner.id]), {"role": "member"})
    assert Membership.objects.get(id=other_owner.id).role == Role.MEMBER
    # Alice is now the only owner and cannot be demoted through the service.
    with pytest.raises(Exception, match="at least one owner"):
        services.membership_set_role(actor=own, member_id=own.id, role=Role.MEMBER)


def test_an_owner_removes_a_member(alice_client, bob, team_a):
    member = Membership.objects.get(user=bob)
    alice_client.post(reverse("member_remove", args=[team_a.id, member.id]))
    assert not Membership.objects.filter(user=bob).exists()


def test_a_member_cannot_remove_others_but_can_leave(client, alice, bob, team_a):
    login(client, bob)
    owner = Membership.objects.get(user=alice)
    assert client.post(reverse("member_remove", args=[team_a.id, owner.id])).status_code == 403
    own = Membership.objects.get(user=bob)
    response = client.post(reverse("member_remove", args=[team_a.id, own.id]))
    assert response["Location"] == reverse("team_list")
    assert not Membership.objects.filter(user=bob).exists()
    assert Membership.objects.filter(user=alice).exists()


def test_a_member_id_from_another_team_is_404(alice_client, team_a, charlie):
    foreign = Membership.objects.get(user=charlie)
    response = alice_client.post(reverse("member_remove", args=[team_a.id, foreign.id]))
    assert response.status_code == 404
    assert Membership.objects.filter(id=foreign.id).exists()


def test_the_team_page_lists_members_but_hides_invite_from_members(client, alice, bob, team_a):
    login(client, bob)
    body = page_text(client.get(reverse("team_detail", args=[team_a.id])))
    assert "alice@example.com" in body
    assert "Invite someone" not in body


def test_a_user_without_a_team_is_asked_to_create_one(client):
    login(client, make_user("dave@example.com"))
    assert "Create a team" in page_text(client.get(reverse("host_list")))
