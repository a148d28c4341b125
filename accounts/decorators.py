from functools import wraps

from django.contrib.auth.decorators import login_required

from accounts.middleware import second_factor_gate


def second_factor_required(view):
    """A signed-in user who passed a second factor in this session. The
    middleware already answers everyone else; this keeps pages that pair hosts
    or send tasks safe if they are ever reached without it."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        return second_factor_gate(request) or view(request, *args, **kwargs)

    return wrapper
