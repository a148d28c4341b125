"""/ws/ui/ through the whole ASGI app: the Origin check (SECURITY.md case 40)
and the session (case 41)."""

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from codexhub.asgi import application
from tests.helpers import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

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


@pytest.fixture
def signed_in(alice):
    return login(Client(), alice)


async def test_it_accepts_our_origin_with_a_verified_session(signed_in):
    communicator, connected, _ = await open_socket(headers_for(signed_in, OUR_ORIGIN))
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    assert hello["user"] == "alice@example.com"
    assert [team["name"] for team in hello["teams"]] == ["Team A"]
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


@pytest.mark.parametrize(
    "origin",
    [b"https://evil.example", b"http://testserver:9999", b"https://testserver", b"null", b""],
)
async def test_it_refuses_a_foreign_origin(signed_in, origin):
    communicator, connected, _ = await open_socket(headers_for(signed_in, origin))
    assert not connected


async def test_it_refuses_a_missing_origin(signed_in):
    communicator, connected, _ = await open_socket(headers_for(signed_in, None))
    assert not connected


async def test_it_refuses_a_socket_without_a_session():
    communicator, connected, _ = await open_socket(headers_for(None, OUR_ORIGIN))
    assert not connected


@pytest.fixture
def password_only(alice):
    return login(Client(), alice, verified=False)


async def test_it_refuses_a_session_that_has_not_passed_the_second_factor(password_only):
    communicator, connected, _ = await open_socket(headers_for(password_only, OUR_ORIGIN))
    assert not connected


@pytest.mark.parametrize("frame", ["not json", "[1, 2]", '{"type": "nope"}', "{}"])
async def test_it_answers_a_bad_frame_with_an_error_and_stays_up(signed_in, frame):
    communicator, connected, _ = await open_socket(headers_for(signed_in, OUR_ORIGIN))
    await communicator.receive_json_from(timeout=5)
    await communicator.send_to(text_data=frame)
    assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


async def test_the_host_socket_refuses_every_agent_until_pairing_exists():
    communicator = WebsocketCommunicator(
        application, "/ws/host/", headers=[(b"authorization", b"Bearer chub_nope")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close"
    assert closed["code"] == 4401
