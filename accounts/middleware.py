from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.http import urlencode

from accounts.services import otp_is_enrolled
from codexhub.http import wants_json

SECOND_FACTOR_PENDING = "Enter your two-factor code first: this session has not passed it yet."
SECOND_FACTOR_SETUP = "Set up two-factor authentication first: every page of the hub needs it."

# Reachable before the second factor: what any page needs to load (static
# files, the PWA manifest and worker, health), the two second-factor pages,
# sign-out, and the e-mail confirmation that may come between sign-up and setup.
OPEN_PATHS = ("/manifest.webmanifest", "/sw.js", "/favicon.ico", "/healthz")
OPEN_URL_NAMES = (
    "otp_setup",
    "otp_verify",
    "account_logout",
    "account_confirm_email",
    "account_email_verification_sent",
)


def second_factor_gate(request) -> HttpResponse | None:
    """None if this request may go on; otherwise the answer to a signed-in
    session that has not passed a second factor (or has none to pass): a page
    visit goes to setup or to the code page and comes back after, anything
    else is refused with 403."""
    user = request.user
    if not user.is_authenticated or user.is_verified() or _is_open(request):
        return None
    enrolled = otp_is_enrolled(user=user)
    message = SECOND_FACTOR_PENDING if enrolled else SECOND_FACTOR_SETUP
    if wants_json(request):
        return JsonResponse({"error": message}, status=403)
    if request.method not in ("GET", "HEAD"):
        # A change (a task, an approval) is refused, not bounced to a page.
        raise PermissionDenied(message)
    page = reverse("otp_verify" if enrolled else "otp_setup")
    return redirect(f"{page}?{urlencode({'next': request.get_full_path()})}")


def _is_open(request) -> bool:
    path = request.path
    if path.startswith(settings.STATIC_URL) or path in OPEN_PATHS:
        return True
    try:
        match = request.resolver_match or resolve(request.path_info)
    except Resolver404:
        return False
    return match.url_name in OPEN_URL_NAMES


class SecondFactorMiddleware:
    """A signed-in session reaches nothing but the second-factor pages, sign-out
    and what pages need to load until it has passed a second factor."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return second_factor_gate(request) or self.get_response(request)
