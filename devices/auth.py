"""Who a host socket is: decided once, from its bearer token, before the consumer."""

import logging

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from devices.limits import LogBudget
from devices.services import TOKEN_LENGTH, host_for_token

logger = logging.getLogger("django.security.hostlink")
MAX_HEADER = 256
LOG_PER_MINUTE = 10  # refusal lines per address; the consumer limits the attempts themselves

_refusal_log = LogBudget()


def bearer_token(headers) -> str | None:
    """The token of a well-formed `Authorization: Bearer <token>`, else None."""
    values = [value for name, value in headers if name == b"authorization"]
    if len(values) != 1 or len(values[0]) > MAX_HEADER:
        return None
    parts = values[0].decode("latin1").split(" ")
    if len(parts) != 2 or parts[0] != "Bearer" or len(parts[1]) != TOKEN_LENGTH:
        return None
    return parts[1]


class HostTokenAuthMiddleware(BaseMiddleware):
    """Puts the authenticated host (or None) into scope["host"]."""

    async def __call__(self, scope, receive, send):
        token = bearer_token(scope.get("headers", []))
        host = await database_sync_to_async(host_for_token)(token=token) if token else None
        if host is None:
            _log_refused((scope.get("client") or ["?"])[0], "bad" if token else "no")
        return await super().__call__(dict(scope, host=host, host_token=token), receive, send)


def _log_refused(address: str, what: str) -> None:
    logged, earlier = _refusal_log.take(address, LOG_PER_MINUTE)
    if earlier:
        logger.warning("host socket refused from %s: and %d more not logged", address, earlier)
    if logged:
        logger.warning("host socket refused from %s: %s token", address, what)
