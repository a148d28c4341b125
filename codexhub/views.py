from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET


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
    with open(finders.find("js/sw.js"), "rb") as handle:
        response = HttpResponse(handle.read(), content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def favicon(request):
    return redirect(static("icons/icon.svg"), permanent=True)


@require_GET
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


def rate_limited(request, exception=None):
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "60"
    return response
