import sys

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET

from codexhub import health
from codexhub.http import render_plain, wants_json


@require_GET
def home(request):
    return redirect("host_list" if request.user.is_authenticated else "account_login")


@require_GET
@cache_control(max_age=3600)
def manifest(request):
    icons = [
        {"src": static("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": static("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {
            "src": static("icons/icon-maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    data = {
        "name": settings.SITE_NAME,
        "short_name": settings.SITE_NAME,
        "description": "Command the coding agents on your machines from your phone.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#0f1115",
        "theme_color": "#0f1115",
        "icons": icons,
    }
    return JsonResponse(data, content_type="application/manifest+json")


@require_GET
@cache_control(no_cache=True)
def service_worker(request):
    # Served from the root so that its scope is the whole site.
    with open(str(finders.find("js/sw.js")), "rb") as handle:
        response = HttpResponse(handle.read(), content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def favicon(request):
    return redirect(static("icons/icon.svg"), permanent=True)


@require_GET
@never_cache
def healthz(request):
    """Each dependency's state: 200 when all answer, 503 naming what does not."""
    checks = health.check_all()
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)


OUTAGE_PAGE = {"title": "Back in a moment", "message": health.OUTAGE_MESSAGE, "retry": True}


def server_error(request):
    """handler500. A database or Redis that is down is not our bug: say so
    with a 503 the client can retry, without touching either of them."""
    exc = sys.exc_info()[1]
    if not health.is_outage(exc):
        return render_plain("500.html", status=500)
    response = (
        JsonResponse({"error": health.OUTAGE_MESSAGE}, status=503)
        if wants_json(request)
        else render_plain("500.html", status=503, context=OUTAGE_PAGE)
    )
    response["Retry-After"] = str(health.OUTAGE_RETRY_AFTER)
    return response


def rate_limited(request, exception=None):
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "60"
    return response
