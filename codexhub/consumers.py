"""What the hub's WebSocket consumers share."""

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

from channels.consumer import get_handler_name

T = TypeVar("T")


def per_event_loop(factory: Callable[[], T]) -> Callable[[], T]:
    """A getter for one instance per running event loop: one per hub process,
    and a fresh one for each test (each has its own loop)."""
    instances: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get() -> T:
        loop = asyncio.get_running_loop()
        if loop not in instances:
            instances[loop] = factory()
        return instances[loop]

    return get


class DirectDispatch:
    """Channels' dispatch, less its close_old_connections before each message.

    That call waits its turn in the one database thread, so every frame and
    every channel-layer event (a heartbeat, a page's live update) would queue
    behind whatever the thread is writing, such as a batch of host messages.
    The consumers reach the database only through database_sync_to_async,
    which closes old connections itself."""

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
