"""A phone's /ws/ui/ socket through the whole ASGI app."""

from channels.testing import WebsocketCommunicator
from django.test import Client

from codexhub.asgi import application
from tests.kits.common import login

OUR_ORIGIN = b"http://testserver"


def headers_for(client: Client | None, origin: bytes | None):
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    if client is not None:
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        headers.append((b"cookie", cookie.encode()))
    return headers


async def open_socket(headers):
    communicator = WebsocketCommunicator(application, "/ws/ui/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def subscribe_headers(user):
    """The headers of a page socket opened by `user`'s signed-in browser."""
    client = login(Client(), user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return [(b"host", b"testserver"), (b"origin", b"http://testserver"), (b"cookie", cookie)]
