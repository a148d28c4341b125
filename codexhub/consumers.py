"""What the hub's WebSocket consumers share."""

from channels.consumer import get_handler_name


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
