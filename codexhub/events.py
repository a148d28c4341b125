"""Ringing the channel layer. The database is the record; these messages only
tell open sockets to look again, so they go out once the change is committed."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

_collecting = threading.local()


def group_send(group: str, message: dict) -> None:
    async_to_sync(get_channel_layer().group_send)(group, message)


def group_send_on_commit(group: str, message: dict) -> None:
    """Send after the current transaction commits: a rolled-back change rings nothing."""
    transaction.on_commit(lambda: _ring(group, message))


def _ring(group: str, message: dict) -> None:
    events = getattr(_collecting, "events", None)
    if events is None:
        group_send(group, message)
    else:
        events.append((group, message))


@contextmanager
def collected_events() -> Iterator[list[tuple[str, dict]]]:
    """Keep the committed events of this thread in a list instead of sending
    each at once: the host link applies a batch of messages in the database
    thread and sends their events from its event loop, without waiting."""
    events: list[tuple[str, dict]] = []
    _collecting.events = events
    try:
        yield events
    finally:
        _collecting.events = None
