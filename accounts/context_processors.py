from accounts.services import teams_for_user
from accounts.teams import current_membership


def teams(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_membership": current_membership(request),
        "user_teams": teams_for_user(user=request.user),
    }
