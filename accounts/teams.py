"""The current team of a request: the tenant every page is scoped to."""

from django.http import HttpRequest

from accounts.models import Membership
from accounts.services import membership_current

CURRENT_TEAM_SESSION_KEY = "current_team_id"
MEMBERSHIP_CACHE = "_current_membership"  # once per request


def current_membership(request: HttpRequest) -> Membership | None:
    if not request.user.is_authenticated:
        return None
    if not hasattr(request, MEMBERSHIP_CACHE):
        team_id = request.session.get(CURRENT_TEAM_SESSION_KEY)
        setattr(request, MEMBERSHIP_CACHE, membership_current(user=request.user, team_id=team_id))
    return getattr(request, MEMBERSHIP_CACHE)


def current_team_set(request: HttpRequest, membership: Membership) -> None:
    request.session[CURRENT_TEAM_SESSION_KEY] = membership.team_id
    setattr(request, MEMBERSHIP_CACHE, membership)
