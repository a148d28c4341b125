"""Who may manage a team: the role rules, in one place.

Owners and admins manage a team (add and revoke hosts, invite people, answer
for hosts that only admins may answer for); members use it. Every app asks
here rather than comparing roles by hand.
"""

from django.db.models import QuerySet

from accounts.models import MANAGER_ROLES, Membership, User

__all__ = [
    "MANAGER_ROLES",
    "can_manage",
    "managers_of",
    "manager_users_of",
    "memberships_managed_by",
    "role_can_manage",
]


def role_can_manage(role: str | None) -> bool:
    """Whether a role (a `Role` value) manages its team."""
    return role in MANAGER_ROLES


def can_manage(membership: Membership | None) -> bool:
    """Whether this membership manages its team; False for no membership."""
    return membership is not None and role_can_manage(membership.role)


def managers_of(*, team_id: int) -> QuerySet[Membership]:
    """The memberships of a team's owners and admins."""
    return Membership.objects.filter(team_id=team_id, role__in=MANAGER_ROLES)


def manager_users_of(*, team_id: int) -> QuerySet[User]:
    """The users who own or administer a team."""
    return User.objects.filter(memberships__team_id=team_id, memberships__role__in=MANAGER_ROLES)


def memberships_managed_by(*, user: User) -> QuerySet[Membership]:
    """The user's memberships of the teams they own or administer."""
    return Membership.objects.filter(user=user, role__in=MANAGER_ROLES)
