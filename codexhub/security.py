"""The origin check for browser WebSockets (Cross-Site WebSocket Hijacking).

Browsers send cookies with a WebSocket handshake from any page, so `/ws/ui/`
accepts only an Origin equal to the hub's own (scheme, host and port), as
Django's CSRF check does for forms, or one listed in CSRF_TRUSTED_ORIGINS.
Channels' AllowedHostsOriginValidator compares host names only, so another port
on the same host would pass it.
"""

import logging

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger("django.security.websocket")


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def expected_origin(scope) -> str | None:
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return f"{scheme}://{host}"


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return False
    return origin == expected_origin(scope) or origin in settings.CSRF_TRUSTED_ORIGINS


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        logger.warning("websocket refused: origin %r", _header(scope, b"origin"))
        return await WebsocketDenier()(scope, receive, send)
