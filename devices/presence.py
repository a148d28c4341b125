"""Presence of the host links of one hub process, written coalesced.

A heartbeat is answered at once, from memory; every HOST_PRESENCE_INTERVAL
seconds one query refreshes last_seen_at of every host heard since, and
catches the links that were revoked or replaced while a channel message about
it was lost."""

import asyncio
import logging
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from codexhub.consumers import per_event_loop
from devices import link

logger = logging.getLogger(__name__)


class Link(Protocol):
    host_id: int | None
    channel_name: str

    async def presence_lost(self, status: str) -> None: ...


class PresenceBook:
    def __init__(self):
        self.heard: dict[int, Link] = {}
        self.writer: asyncio.Task | None = None

    def heard_from(self, link: Link) -> None:
        if link.host_id is None:  # not linked yet
            return
        self.heard[link.host_id] = link
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write_after_a_while())

    def forget(self, link: Link) -> None:
        if link.host_id is not None and self.heard.get(link.host_id) is link:
            del self.heard[link.host_id]

    async def _write_after_a_while(self) -> None:
        while self.heard:
            await asyncio.sleep(settings.HOST_PRESENCE_INTERVAL)
            heard, self.heard = self.heard, {}
            try:
                lost = await database_sync_to_async(link.hosts_seen)(
                    links={host_id: link.channel_name for host_id, link in heard.items()}
                )
            except Exception as exc:  # the next heartbeats try again
                logger.warning("presence of %d hosts not written: %s", len(heard), type(exc).__name__)
                continue
            for host_id, status in lost.items():
                await heard[host_id].presence_lost(status)


presence = per_event_loop(PresenceBook)  # the presence book of the running event loop
