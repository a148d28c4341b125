"""A host's /ws/host/ link through the whole ASGI app, for the link tests."""

from channels.testing import WebsocketCommunicator

from codexhub.asgi import application


async def open_link(token: str) -> WebsocketCommunicator:
    """A link that the hub accepted and welcomed (its `welcome` kept on it)."""
    communicator = WebsocketCommunicator(
        application, "/ws/host/", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    assert (await communicator.connect(timeout=5))[0]
    communicator.welcome = await communicator.receive_json_from(timeout=5)
    assert communicator.welcome["type"] == "welcome"
    return communicator


async def heartbeat(communicator) -> None:
    """A heartbeat, answered: the link is up."""
    await communicator.send_json_to({"type": "heartbeat"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "heartbeat_ack"}


async def frames(communicator, count: int) -> list[dict]:
    """The next `count` frames the hub sends on the link."""
    return [await communicator.receive_json_from(timeout=5) for _ in range(count)]
