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


@register(Tags.caches)
def check_channel_layer_timeout(app_configs, **kwargs):
    """channels-redis blocks up to `brpop_timeout` seconds on each read: a socket
    timeout at or under it breaks every read, and every WebSocket with it."""
    from channels_redis.core import RedisChannelLayer

    if settings.REDIS_URL and settings.CHANNEL_LAYER_SOCKET_TIMEOUT <= RedisChannelLayer.brpop_timeout:
        return [
            Error(
                f"CHANNEL_LAYER_SOCKET_TIMEOUT is {settings.CHANNEL_LAYER_SOCKET_TIMEOUT:g} s, not more than "
                f"the channel layer's {RedisChannelLayer.brpop_timeout} s blocking reads: "
                "every WebSocket would close every few seconds.",
                hint="Leave it at 15, or set it above 5.",
                id="codexhub.E003",
            )
        ]
    return []


@register()
def check_presence_interval(app_configs, **kwargs):
    """Presence is written every HOST_PRESENCE_INTERVAL: at or past half the
    heartbeat timeout, a host that is online would look offline."""
    if not 0 < settings.HOST_PRESENCE_INTERVAL < settings.HOST_HEARTBEAT_TIMEOUT / 2:
        return [
            Error(
                f"HOST_PRESENCE_INTERVAL is {settings.HOST_PRESENCE_INTERVAL:g} s: it must be above 0 and "
                f"under half of HOST_HEARTBEAT_TIMEOUT ({settings.HOST_HEARTBEAT_TIMEOUT:g} s).",
                hint="Leave it at 5.",
                id="codexhub.E004",
            )
        ]
    return []


@register()
def check_apply_threads(app_configs, **kwargs):
    error = apply_threads_error(settings.DATABASES["default"]["ENGINE"], settings.HOST_APPLY_THREADS)
    return [error] if error else []


def apply_threads_error(engine: str, threads: int) -> Error | None:
    """SQLite takes one writer at a time: a second thread applying host messages
    would wait on its lock, and fail once the wait passes its timeout."""
    if threads >= 1 and (threads == 1 or not engine.endswith("sqlite3")):
        return None
    return Error(
        f"HOST_APPLY_THREADS is {threads}: at least 1, and 1 on SQLite.",
        hint="Leave it unset (1), or with Postgres raise it.",
        id="codexhub.E005",
    )
