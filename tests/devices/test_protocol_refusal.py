"""/ws/host/ refuses an agent whose protocol version the hub does not take, before anything
of the link is recorded (docs/protocol.md, "Versions"), and says what to run."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import AuditEvent, Team
from codexhub.asgi import application
from devices import versions
from devices.models import Host, HostStream, RefusedMessage
from protocol.version import CLOSE_INCOMPATIBLE, PROTOCOL_VERSION
from tests.kits.common import make_host

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def paired(transactional_db):
    return make_host(Team.objects.create(name="Team A"), "Workstation")


async def connect(token: str, *protocol: bytes, host: bytes = b"hub.example.com") -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", host)]
    headers += [(b"x-codexhub-protocol", value) for value in protocol]
    communicator = WebsocketCommunicator(application, "/ws/host/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def refusal(communicator) -> tuple[dict, dict]:
    """The `refused` frame and the close that follows it."""
    frame = await communicator.receive_json_from(timeout=5)
    close = await communicator.receive_output(timeout=5)
    return frame, close


@database_sync_to_async
def nothing_recorded(host_id: int) -> bool:
    host = Host.objects.get(id=host_id)
    return host.link_channel == "" and host.last_seen_at is None and not HostStream.objects.exists()


@database_sync_to_async
def audited() -> list[dict]:
    return list(AuditEvent.objects.filter(action="host.protocol_refused").values("detail", "target"))


async def test_an_older_protocol_is_refused_with_what_to_run_and_nothing_recorded(paired):
    host, token = paired
    communicator = await connect(token, str(PROTOCOL_VERSION - 1).encode())
    frame, close = await refusal(communicator)
    update = versions.update_command("http://hub.example.com")
    assert frame == {
        "type": "refused",
        "error": "protocol",
        "message": f"this hub needs agent protocol {PROTOCOL_VERSION} and this agent speaks protocol "
        f"{PROTOCOL_VERSION - 1}: update the agent: {update}",
    }
    assert close == {
        "type": "websocket.close",
        "code": CLOSE_INCOMPATIBLE,
        "reason": f"agent protocol {PROTOCOL_VERSION - 1} refused: the hub takes {PROTOCOL_VERSION}",
    }
    assert await nothing_recorded(host.id)
    assert await audited() == [
        {"detail": {"offered": PROTOCOL_VERSION - 1}, "target": f"host {host.id} Workstation"}
    ]
    refused = await database_sync_to_async(RefusedMessage.objects.get)(host_id=host.id)
    assert refused.reason.startswith(f"agent protocol {PROTOCOL_VERSION - 1} refused")
    await communicator.disconnect()


async def test_the_update_line_names_the_address_the_agent_reached(paired):
    _, token = paired
    communicator = await connect(token, b"0", host=b"10.0.0.5:8443")
    frame, _ = await refusal(communicator)
    assert frame["message"].endswith(versions.update_command("http://10.0.0.5:8443"))
    await communicator.disconnect()


async def test_a_newer_protocol_is_refused_too(paired):
    _, token = paired
    communicator = await connect(token, str(PROTOCOL_VERSION + 1).encode())
    frame, close = await refusal(communicator)
    assert (
        "this agent is newer than the hub: update the hub, or install the agent it serves" in frame["message"]
    )
    assert close["code"] == CLOSE_INCOMPATIBLE
    await communicator.disconnect()


@pytest.mark.parametrize(
    "values",
    [
        (b"one",),
        (b"-1",),
        (b"1.0",),
        (b"1" * 9,),  # longer than any version
        (b"1" * 10_000,),
        (b"1\x00",),
        (b"\xff\xfe",),
        (str(PROTOCOL_VERSION).encode(),) * 2,  # said twice: which one?
        (b"",),
    ],
)
async def test_an_unreadable_protocol_header_is_refused_clearly(paired, values):
    host, token = paired
    communicator = await connect(token, *values)
    frame, close = await refusal(communicator)
    assert (
        "this agent speaks an unreadable protocol version: update the agent: pipx install" in frame["message"]
    )
    assert close["code"] == CLOSE_INCOMPATIBLE and close["reason"].startswith("agent protocol ? refused")
    assert await nothing_recorded(host.id)
    assert await audited() == [{"detail": {"offered": None}, "target": f"host {host.id} Workstation"}]
    await communicator.disconnect()


@pytest.mark.parametrize(
    "values", [(), (str(PROTOCOL_VERSION).encode(),), (f" {PROTOCOL_VERSION} ".encode(),)]
)
async def test_the_current_protocol_or_no_header_is_welcomed(paired, values):
    host, token = paired
    communicator = await connect(token, *values)
    welcome = await communicator.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome" and welcome["host_id"] == host.id
    assert await audited() == []
    await communicator.disconnect()


async def test_a_bad_token_is_refused_as_such_whatever_its_protocol(paired):
    communicator = await connect("chub_" + "A" * 43, b"0")
    close = await communicator.receive_output(timeout=5)
    assert close == {"type": "websocket.close", "code": 4401}
    assert await audited() == []
