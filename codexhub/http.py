"""Request helpers shared by the apps."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, behind the configured proxies,
    the address they appended to X-Forwarded-For (never one a client sent)."""
    proxies = getattr(settings, "ALLAUTH_TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def wants_json(request: HttpRequest) -> bool:
    """An API client or a page's fetch, rather than a page load."""
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def render_plain(template: str, *, status: int, context: dict | None = None) -> HttpResponse:
    """A page rendered without context processors: they read the database,
    which may be what just failed."""
    return HttpResponse(render_to_string(template, context), status=status)
