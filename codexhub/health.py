"""What the hub depends on, whether each answers, and which errors mean one is down."""

import asyncio
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

OUTAGE_MESSAGE = (
    "The hub can't reach its database or Redis right now, so nothing was changed. "
    "Try again in a few seconds."
)
OUTAGE_RETRY_AFTER = 5  # seconds
OUTAGE_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError, BrokerError)
CHECK_TIMEOUT = 2.0  # seconds for each dependency to answer


def is_outage(exc: BaseException | None) -> bool:
    """A dependency that is down, rather than a bug, anywhere in the chain of causes."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OUTAGE_ERRORS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def check_all() -> dict[str, dict]:
    checks = {
        "database": _database,
        "cache": _cache,
        "channel_layer": _channel_layer,
        "broker": _broker,
    }
    return {name: _timed(check) for name, check in checks.items()}


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # a health check reports every failure, whatever it is
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    result = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if detail:
        result["detail"] = detail
    return result


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _cache() -> str:
    nonce = uuid.uuid4().hex
    cache.set("healthz", nonce, timeout=10)
    if cache.get("healthz") != nonce:
        raise RuntimeError("the cache did not keep a value")
    return str(settings.CACHES["default"]["BACKEND"]).rsplit(".", 1)[-1]


def _channel_layer() -> str:
    layer = get_channel_layer()
    if not hasattr(layer, "connection"):
        return "in-memory"

    async def ping():
        await asyncio.wait_for(layer.connection(0).ping(), CHECK_TIMEOUT)

    async_to_sync(ping)()
    return "redis"


def _broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"
    from codexhub.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
    return "redis"
