"""System checks: configuration that would break the hub fails at start-up."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_public_settings(app_configs, **kwargs):
    problems = []
    if "*" in settings.ALLOWED_HOSTS:
        problems.append(
            Error(
                "ALLOWED_HOSTS contains '*'.",
                hint="List the hub's host names, e.g. ALLOWED_HOSTS=hub.example.com.",
                id="codexhub.E001",
            )
        )
    for origin in settings.CSRF_TRUSTED_ORIGINS:
        if "://" not in origin:
            problems.append(
                Error(
                    f"CSRF_TRUSTED_ORIGINS entry {origin!r} has no scheme.",
                    hint="Write full origins, e.g. https://hub.example.com.",
                    id="codexhub.E002",
                )
            )
    return problems


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs, **kwargs):
    """Rate limits count in the cache: with several processes it must be shared."""
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and "locmem" in backend:
        return [
            Warning(
                "Postgres is configured but the cache is per-process (LocMem): "
                "sign-in and pairing rate limits are not shared between processes.",
                hint="Set REDIS_URL.",
                id="codexhub.W001",
            )
        ]
    return []
