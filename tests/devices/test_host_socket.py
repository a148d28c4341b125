"""/ws/host/ through the whole ASGI app (SECURITY.md WebSocket 36, 37, 41-45)."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.groups import team_group
from accounts.models import Team
from codexhub.asgi import application
from devices import link as host_link
from devices import services
from devices.models import Host, HostState, HostStream
from tests.kits.common import login, make_host, make_user
from tests.kits.hostlink import heartbeat, open_link

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def team(transactional_db):
    return Team.objects.create(name="Team A")


@pytest.fixture
def paired(team):
    return make_host(team, "Workstation")


@pytest.fixture
def other(team):
    return make_host(team, "Laptop")


async def connect(token: str | None = None, header: bytes | None = None):
    headers = []
    if header is not None:
        headers.append((b"authorization", header))
    elif token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/host/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected  # accepted, then told why it is refused
    return communicator


async def expect_close(communicator, code: int):
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    assert message["code"] == code


@database_sync_to_async
def host_row(host_id: int) -> Host:
    return Host.objects.get(id=host_id)


@pytest.mark.parametrize(
    "header",
    [
        None,
        b"Bearer",
        b"Bearer ",
        b"Bearer a b",
        b"Basic abc",
        b"Bearer " + b"x" * 10_000,
        b"bearer chub_" + b"a" * 43,
    ],
)
async def test_it_refuses_a_missing_or_malformed_token(header, paired):
    communicator = await connect(header=header) if header is not None else await connect()
    await expect_close(communicator, 4401)


async def test_it_refuses_an_unknown_token():
    communicator = await connect("chub_" + "A" * 43)
    await expect_close(communicator, 4401)


@pytest.mark.parametrize("state", [HostState.UNCONFIRMED, HostState.REVOKED, HostState.REJECTED])
async def test_it_refuses_a_token_that_is_not_active(team, state):
    _, token = await database_sync_to_async(make_host)(team, "Box", state=state)
    communicator = await connect(token)
    await expect_close(communicator, 4401)


async def test_it_welcomes_a_host_and_marks_it_online(paired):
    host, token = paired
    communicator = await open_link(token)
    hello = communicator.welcome
    assert hello["host_id"] == host.id
    assert hello["streams"] == {}
    assert (await host_row(host.id)).online
    await communicator.disconnect()
    assert not (await host_row(host.id)).online


async def test_hello_is_applied_once_and_acked(paired):
    host, token = paired
    communicator = await open_link(token)
    hello = {
        "type": "hello",
        "stream": "host",
        "seq": 1,
        "payload": {
            "agent_version": "0.2.0",
            "platform": "linux-aarch64",
            "capabilities": ["agent", "browser"],
        },
    }
    await communicator.send_json_to(hello)
    assert await communicator.receive_json_from(timeout=5) == {"type": "ack", "stream": "host", "seq": 1}
    row = await host_row(host.id)
    assert (row.agent_version, row.platform, row.capabilities) == (
        "0.2.0",
        "linux-aarch64",
        ["agent", "browser"],
    )
    # The same message again (a resend after a drop): acked, not applied again.
    await database_sync_to_async(Host.objects.filter(id=host.id).update)(agent_version="changed")
    await communicator.send_json_to(hello)
    assert await communicator.receive_json_from(timeout=5) == {"type": "ack", "stream": "host", "seq": 1}
    assert (await host_row(host.id)).agent_version == "changed"
    await communicator.disconnect()


async def test_a_gap_is_refused_with_the_expected_seq(paired):
    host, token = paired
    communicator = await open_link(token)
    await communicator.send_json_to({"type": "hello", "stream": "host", "seq": 3, "payload": {}})
    assert await communicator.receive_json_from(timeout=5) == {
        "type": "error", "error": "gap", "stream": "host", "seq": 3, "expected": 1,
    }  # fmt: skip
    assert not await database_sync_to_async(
        HostStream.objects.filter(host_id=host.id, last_seq__gt=0).exists
    )()
    await communicator.disconnect()


async def test_welcome_tells_the_last_applied_seq(paired):
    host, token = paired
    await database_sync_to_async(HostStream.objects.create)(host_id=host.id, name="host", last_seq=41)
    communicator = await open_link(token)
    assert communicator.welcome["streams"] == {"host": 41}
    await communicator.disconnect()


async def test_an_invalid_payload_takes_its_seq_and_is_reported(paired):
    host, token = paired
    communicator = await open_link(token)
    await communicator.send_json_to(
        {"type": "hello", "stream": "host", "seq": 1, "payload": {"capabilities": ["rm -rf"]}}
    )
    assert (await communicator.receive_json_from(timeout=5))["type"] == "ack"
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and "unknown capabilities" in error["error"]
    assert (await host_row(host.id)).capabilities == []
    await communicator.disconnect()


BAD_FRAMES = [
    "not json",
    "[1, 2, 3]",
    '"a string"',
    "null",
    '{"type": "nope"}',
    '{"type": "hello", "stream": "host"}',
    '{"type": "hello", "stream": "host", "seq": "1", "payload": {}}',
    '{"type": "hello", "stream": "host", "seq": -1, "payload": {}}',
    '{"type": "hello", "stream": "host", "seq": true, "payload": {}}',
    '{"type": "hello", "stream": "host", "seq": 1.5, "payload": {}}',
    '{"type": "hello", "stream": "nope", "seq": 1, "payload": {}}',
    '{"type": "x", "stream": "' + "s" * 40 + '", "seq": 1, "payload": {}}',
    "[" * 100_000 + "]" * 100_000,
]


async def test_bad_frames_get_an_error_and_the_link_stays_up(paired):
    """SECURITY.md case 43, as a table; the hypothesis fuzz is in test_host_socket_fuzz."""
    host, token = paired
    communicator = await open_link(token)
    for frame in BAD_FRAMES:
        await communicator.send_to(text_data=frame)
        reply = await communicator.receive_json_from(timeout=5)
        assert reply["type"] == "error", frame[:60]
    await communicator.send_to(bytes_data=b"\x00\xff")
    assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    await heartbeat(communicator)
    assert not await database_sync_to_async(HostStream.objects.filter(last_seq__gt=0).exists)()
    await communicator.disconnect()


async def test_a_message_whose_payload_is_not_an_object_is_consumed(paired):
    """Its envelope is whole, so its seq is taken: it never blocks the stream."""
    host, token = paired
    communicator = await open_link(token)
    await communicator.send_to(text_data='{"type": "hello", "stream": "host", "seq": 1, "payload": []}')
    assert await communicator.receive_json_from(timeout=5) == {"type": "ack", "stream": "host", "seq": 1}
    error = await communicator.receive_json_from(timeout=5)
    assert error == {"type": "error", "error": "payload must be an object", "stream": "host", "seq": 1}
    assert await database_sync_to_async(host_link.stream_positions)(host_id=host.id) == {"host": 1}
    await communicator.disconnect()


async def test_identity_comes_from_the_token_only(paired, other):
    """SECURITY.md case 37: a hello naming another host changes nothing of it."""
    host, token = paired
    victim, _ = other
    communicator = await open_link(token)
    await communicator.send_json_to(
        {
            "type": "hello",
            "stream": "host",
            "seq": 1,
            "host_id": victim.id,
            "payload": {"agent_version": "evil"},
        }
    )
    await communicator.receive_json_from(timeout=5)
    assert (await host_row(victim.id)).agent_version == ""
    assert (await host_row(host.id)).agent_version == "evil"
    await communicator.disconnect()


async def test_revoking_closes_the_live_link_with_4401(paired):
    host, token = paired
    communicator = await open_link(token)
    await database_sync_to_async(services.host_revoke)(host=host, actor=None)
    await expect_close(communicator, 4401)
    again = await connect(token)
    await expect_close(again, 4401)


async def test_a_revocation_whose_message_was_lost_is_caught_after_the_next_heartbeat(paired):
    """SECURITY.md case 39, in process: the database says revoked, no event came.
    The heartbeat is answered from memory; the presence write that follows it
    (HOST_PRESENCE_INTERVAL) finds the revocation and closes the link."""
    host, token = paired
    communicator = await open_link(token)
    await database_sync_to_async(Host.objects.filter(id=host.id).update)(state=HostState.REVOKED)
    await heartbeat(communicator)
    await expect_close(communicator, 4401)


async def test_a_second_connection_wins_and_the_first_is_closed_4409(paired):
    """SECURITY.md case 45."""
    host, token = paired
    first = await open_link(token)
    second = await open_link(token)
    await expect_close(first, 4409)
    await first.wait()
    assert (await host_row(host.id)).online  # the first link closing does not hide the second
    await heartbeat(second)
    await second.disconnect()


async def test_a_silent_host_is_closed_after_the_heartbeat_timeout(paired, settings):
    """SECURITY.md case 46, in process (the SIGSTOP version runs real processes)."""
    settings.HOST_HEARTBEAT_TIMEOUT = 0.4
    host, token = paired
    communicator = await open_link(token)
    await expect_close(communicator, 4408)
    await communicator.wait()
    assert not (await host_row(host.id)).online


async def test_a_flood_is_closed_with_1008(paired, settings):
    """SECURITY.md case 44: past the per-link budget the link is closed."""
    settings.HOST_LINK_RATE, settings.HOST_LINK_BURST = 10, 20
    host, token = paired
    communicator = await open_link(token)
    for _ in range(40):
        await communicator.send_to(text_data='{"type": "heartbeat"}')
    while True:
        message = await communicator.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            assert message["code"] == 1008
            break


async def test_too_many_connects_with_one_token_are_refused(paired):
    host, token = paired
    for _ in range(10):
        communicator = await open_link(token)
        await communicator.disconnect()
    communicator = await connect(token)
    await expect_close(communicator, 4429)


@pytest.fixture
def phone_headers(team):
    user = make_user("alice@example.com")
    team.memberships.create(user=user, role="owner")
    client = login(Client(), user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return [(b"host", b"testserver"), (b"origin", b"http://testserver"), (b"cookie", cookie)]


async def test_the_phone_is_told_when_a_host_comes_and_goes(paired, phone_headers):
    host, token = paired
    phone = WebsocketCommunicator(application, "/ws/ui/", headers=phone_headers)
    assert (await phone.connect(timeout=5))[0]
    hello = await phone.receive_json_from(timeout=5)
    assert [(h["name"], h["online"]) for h in hello["hosts"]] == [("Workstation", False)]
    link = await open_link(token)
    event = await phone.receive_json_from(timeout=5)
    assert event["type"] == "host.presence"
    assert (event["host"]["id"], event["host"]["online"]) == (host.id, True)
    await link.disconnect()
    event = await phone.receive_json_from(timeout=5)
    assert (event["host"]["id"], event["host"]["online"]) == (host.id, False)
    await phone.disconnect()


async def test_another_teams_phone_hears_nothing(paired):
    host, token = paired
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(team_group(host.team_id + 1000), channel)
    link = await open_link(token)
    await link.disconnect()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=0.3)


async def test_a_resync_request_reaches_the_host(paired):
    host, token = paired
    communicator = await open_link(token)
    await get_channel_layer().group_send(
        services.host_group(host.id), {"type": "mirror.resync", "project": "docs"}
    )
    assert await communicator.receive_json_from(timeout=5) == {"type": "mirror.resync", "project": "docs"}
    await communicator.disconnect()
