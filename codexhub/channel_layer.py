"""The Redis channel layer, made to ride out a Redis outage.

channels-redis raises on every call while Redis is unreachable. A receive that
raises ends the consumer, so every open socket of the process would close at
once, and a send or group call that raises turns a page view or a host's
disconnect into an error. The database is the record and the layer only rings
the bell (at most once, by design), so here a failed send or group call is
logged and dropped, and a receive waits for Redis to come back. Sockets renew
their groups on each heartbeat or ping, which also repairs what a Redis restart
forgot.
"""

import asyncio
import logging
import time

from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("codexhub.channel_layer")

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
RECEIVE_RETRY_MAX = 2.0  # seconds between tries of a receive while Redis is down
LOG_EVERY = 10.0  # seconds: one warning per kind of failure, not one per call


class ResilientRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last_logged: dict[str, float] = {}
        self.failures = 0

    async def receive_single(self, channel):
        delay = 0.1
        while True:
            try:
                return await super().receive_single(channel)
            except REDIS_DOWN as exc:
                self._note("receive", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECEIVE_RETRY_MAX)

    async def send(self, channel, message):
        await self._noted("send", super().send(channel, message))

    async def group_add(self, group, channel):
        await self._noted("group_add", super().group_add(group, channel))

    async def group_discard(self, group, channel):
        await self._noted("group_discard", super().group_discard(group, channel))

    async def group_send(self, group, message):
        await self._noted("group_send", super().group_send(group, message))

    async def _noted(self, operation: str, call) -> None:
        """Await a call that may fail while Redis is down: logged, counted, dropped."""
        try:
            await call
        except REDIS_DOWN as exc:
            self._note(operation, exc)

    async def group_send_many(self, events: list[tuple[str, dict]]) -> None:
        """Send each (group, message). Most groups an event goes to have no one
        listening (no phone has that task or project open), and group_send
        costs two round trips to learn it: here one pipeline per Redis host
        asks which groups have members, and only those are sent to."""
        try:
            listened = await self._groups_with_members({group for group, _ in events})
        except REDIS_DOWN as exc:
            self._note("group_send", exc)
            return
        for group, message in events:
            if group in listened:
                await self.group_send(group, message)

    async def _groups_with_members(self, groups: set[str]) -> set[str]:
        by_host: dict[int, list[str]] = {}
        for group in groups:
            by_host.setdefault(self.consistent_hash(group), []).append(group)
        listened: set[str] = set()
        for index, names in by_host.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for group in names:
                pipe.zrange(self._group_key(group), 0, 0)
            members = await pipe.execute()
            listened.update(group for group, found in zip(names, members, strict=True) if found)
        return listened

    def _note(self, operation: str, exc: BaseException) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._last_logged.get(operation, -LOG_EVERY) >= LOG_EVERY:
            self._last_logged[operation] = now
            logger.warning(
                "channel layer %s failed (Redis unreachable?): %s; %d failures so far",
                operation,
                exc,
                self.failures,
            )
