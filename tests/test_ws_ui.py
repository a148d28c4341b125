"""/ws/ui/ through the whole ASGI app: the Origin check (SECURITY.md case 40)
and the session (case 41)."""

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from codexhub.asgi import application
from tests.kits.common import login
from tests.kits.ui_socket import OUR_ORIGIN, headers_for, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


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


@pytest.fixture
def two_sessions(alice):
    return login(Client(), alice), login(Client(), alice)


async def test_signing_out_closes_that_sessions_sockets_only(two_sessions):
    """SECURITY.md case 23."""
    from asgiref.sync import sync_to_async

    leaving, staying = two_sessions
    first, connected, _ = await open_socket(headers_for(leaving, OUR_ORIGIN))
    await first.receive_json_from(timeout=5)
    second, _, _ = await open_socket(headers_for(staying, OUR_ORIGIN))
    await second.receive_json_from(timeout=5)
    await sync_to_async(leaving.post)("/accounts/logout/")
    closed = await first.receive_output(timeout=1)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4401)
    await second.send_json_to({"type": "ping"})
    assert await second.receive_json_from(timeout=5) == {"type": "pong"}
    await second.disconnect()


@pytest.fixture
def admin_and_alice(alice):
    from tests.kits.common import make_user

    root = make_user("root@example.com")
    root.is_staff = root.is_superuser = True
    root.save()
    return login(Client(), root), login(Client(), alice), alice


async def test_deactivating_a_user_closes_their_sockets(admin_and_alice):
    """SECURITY.md case 25: the admin unticks "active"."""
    from asgiref.sync import sync_to_async

    admin, alices_phone, alice = admin_and_alice
    socket, _, _ = await open_socket(headers_for(alices_phone, OUR_ORIGIN))
    await socket.receive_json_from(timeout=5)
    change_url = f"/admin/accounts/user/{alice.id}/change/"
    joined = {"date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    initial = {f"initial-{key}": value for key, value in joined.items()}
    form = {"username": alice.username, "email": alice.email, **joined, **initial}  # "is_active" unticked
    response = await sync_to_async(admin.post)(change_url, form)
    assert response.status_code == 302, response.content[:500]
    closed = await socket.receive_output(timeout=1)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4403)
    response = await sync_to_async(alices_phone.get)("/hosts/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    await sync_to_async(connections.close_all)()  # the worker thread's, or the test database stays in use


@pytest.fixture
def bob_phone_and_owner(alice, bob):
    from accounts.models import Membership

    return login(Client(), bob), login(Client(), alice), Membership.objects.get(user=bob)


async def test_removing_a_member_ends_their_live_view_of_the_team(bob_phone_and_owner):
    """SECURITY.md case 31: the team's events stop at once; a reconnect no longer has the team."""
    from asgiref.sync import sync_to_async

    bobs_phone, owner, bobs_membership = bob_phone_and_owner
    socket, _, _ = await open_socket(headers_for(bobs_phone, OUR_ORIGIN))
    assert [t["name"] for t in (await socket.receive_json_from(timeout=5))["teams"]] == ["Team A"]
    url = f"/teams/{bobs_membership.team_id}/members/{bobs_membership.id}/remove/"
    response = await sync_to_async(owner.post)(url)
    assert response.status_code == 302
    closed = await socket.receive_output(timeout=1)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4000)
    again, connected, _ = await open_socket(headers_for(bobs_phone, OUR_ORIGIN))
    assert (await again.receive_json_from(timeout=5))["teams"] == []
    await again.disconnect()
    await sync_to_async(connections.close_all)()
