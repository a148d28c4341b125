from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from accounts.services import otp_is_enrolled

# Reachable before the second factor: the code page, sign-out and what any
# page needs to load (static files, the PWA manifest and worker, health).
SECOND_FACTOR_PENDING = "Enter your two-factor code first: this session has not passed it yet."
OPEN_PATHS = ("/manifest.webmanifest", "/sw.js", "/favicon.ico", "/healthz")


class SecondFactorMiddleware:
    """Once a user has enrolled a second factor, a session that has not
    passed it reaches nothing but the code page and sign-out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and not self._is_open(request.path)
            and otp_is_enrolled(user=user)
        ):
            if request.method not in ("GET", "HEAD"):
                # A change (a task, an approval) is refused, not bounced to a page.
                raise PermissionDenied(SECOND_FACTOR_PENDING)
            verify_url = reverse("otp_verify")
            return redirect(f"{verify_url}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _is_open(path: str) -> bool:
        return (
            path.startswith(settings.STATIC_URL)
            or path in OPEN_PATHS
            or path in (reverse("otp_verify"), reverse("account_logout"))
        )
