"""Ringing the channel layer. The database is the record; these messages only
tell open sockets to look again, so they go out once the change is committed."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def group_send(group: str, message: dict) -> None:
    async_to_sync(get_channel_layer().group_send)(group, message)


def group_send_on_commit(group: str, message: dict) -> None:
    """Send after the current transaction commits: a rolled-back change rings nothing."""
    transaction.on_commit(lambda: group_send(group, message))
