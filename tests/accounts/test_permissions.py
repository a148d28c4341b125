import pytest

from accounts.models import Membership, Role
from accounts.permissions import (
    can_manage,
    manager_users_of,
    managers_of,
    memberships_managed_by,
    role_can_manage,
)

pytestmark = pytest.mark.django_db


def test_it_lets_owners_and_admins_manage_and_not_members():
    assert role_can_manage(Role.OWNER) is True
    assert role_can_manage(Role.ADMIN) is True
    assert role_can_manage(Role.MEMBER) is False
    assert role_can_manage(None) is False


def test_it_says_no_membership_manages_nothing(alice, bob, team_a):
    assert can_manage(Membership.objects.get(user=alice)) is True
    assert can_manage(Membership.objects.get(user=bob)) is False
    assert can_manage(None) is False


def test_it_lists_the_managers_of_one_team(alice, bob, charlie, team_a, team_b):
    Membership.objects.create(team=team_b, user=bob, role=Role.ADMIN)
    assert list(managers_of(team_id=team_a.id).values_list("user", flat=True)) == [alice.id]
    assert set(manager_users_of(team_id=team_b.id)) == {bob, charlie}
    assert [m.team for m in memberships_managed_by(user=bob)] == [team_b]
