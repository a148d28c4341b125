"""The current team of a request: the tenant every page is scoped to."""

from django.http import HttpRequest

from accounts.models import Membership
from accounts.services import membership_current

CURRENT_TEAM_SESSION_KEY = "current_team_id"


def current_membership(request: HttpRequest) -> Membership | None:
    if not request.user.is_authenticated:
        return None
    if not hasattr(request, "_current_membership"):
        team_id = request.session.get(CURRENT_TEAM_SESSION_KEY)
        request._current_membership = membership_current(user=request.user, team_id=team_id)
    return request._current_membership


def current_team_set(request: HttpRequest, membership: Membership) -> None:
    request.session[CURRENT_TEAM_SESSION_KEY] = membership.team_id
    request._current_membership = membership
