"""A phone's /ws/ui/ socket through the whole ASGI app."""

from channels.testing import WebsocketCommunicator
from django.test import Client

from codexhub.asgi import application

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
