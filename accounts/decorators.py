from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from accounts.services import otp_is_enrolled

SECOND_FACTOR_REQUIRED = "Turn on two-factor authentication first: this page can run code on your machines."


def second_factor_required(view):
    """For pages that pair hosts or send tasks: a signed-in user who passed a
    second factor in this session. Without one, a page visit is sent to the
    setup page and any other request is refused (403)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_verified() and otp_is_enrolled(user=request.user):
            return view(request, *args, **kwargs)
        if request.method in ("GET", "HEAD"):
            messages.info(request, SECOND_FACTOR_REQUIRED)
            return redirect("otp_setup")
        raise PermissionDenied(SECOND_FACTOR_REQUIRED)

    return wrapper
