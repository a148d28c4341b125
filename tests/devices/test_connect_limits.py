"""Connect limits of /ws/host/ (SECURITY.md 5): a whole office behind one address
reconnects at once; one token cannot hammer; bad tokens are limited per address."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import Team
from codexhub.asgi import application
from devices import services
from devices.limits import host_auth_failure_allowed, host_connect_allowed
from devices.models import Host
from tests.kits.common import make_host

pytestmark = pytest.mark.django_db(transaction=True)

OFFICE = ("203.0.113.7", 50000)


@pytest.fixture
def team(transactional_db):
    return Team.objects.create(name="Office")


def make_hosts(team, count: int) -> list[str]:
    tokens = [services.TOKEN_PREFIX + f"{n:043d}" for n in range(count)]
    Host.objects.bulk_create(
        Host(team=team, name=f"Box {n}", state="active", token_hash=services.secret_hash(token))
        for n, token in enumerate(tokens)
    )
    return tokens


async def attempt(token: str, client=OFFICE) -> dict:
    """One handshake from `client`; the first thing the hub says (welcome or close)."""
    communicator = WebsocketCommunicator(
        application, "/ws/host/", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    communicator.scope["client"] = client
    assert (await communicator.connect(timeout=5))[0]
    output = await communicator.receive_output(timeout=5)
    if output["type"] == "websocket.send":
        await communicator.disconnect()
    return output


def welcomed(output: dict) -> bool:
    return output["type"] == "websocket.send" and '"welcome"' in output["text"]


def test_a_thousand_hosts_behind_one_address_pass_the_limits_at_once(team, settings):
    """The limits as the consumer applies them, 1,000 times, with the default settings."""
    tokens = make_hosts(team, 1000)
    keys = [services.secret_hash(token)[:32] for token in tokens]
    assert all(host_connect_allowed(token_key=key) for key in keys)


@pytest.mark.asyncio
async def test_seventy_hosts_behind_one_address_all_connect(team):
    tokens = await database_sync_to_async(make_hosts)(team, 70)  # past the old 60 per address
    outputs = [await attempt(token) for token in tokens]
    assert [o.get("code") for o in outputs if not welcomed(o)] == []


@pytest.mark.asyncio
async def test_the_eleventh_connect_of_one_token_in_a_minute_is_refused(team):
    [token] = await database_sync_to_async(make_hosts)(team, 1)
    for _ in range(10):
        assert welcomed(await attempt(token))
    assert (await attempt(token))["code"] == 4429
    # Another host at the same address is not held back by it.
    assert welcomed(await attempt(await make_other(team)))


@database_sync_to_async
def make_other(team) -> str:
    return make_host(team, "Neighbour")[1]


@pytest.mark.asyncio
async def test_bad_tokens_are_limited_per_address_but_a_valid_token_still_connects(team, settings):
    """Decided: past HOST_AUTH_FAILURES_PER_IP failures a minute an address gets
    4429 for bad tokens, but a valid token there still connects (tokens are
    256-bit; one misconfigured agent must not lock a whole office out)."""
    settings.HOST_AUTH_FAILURES_PER_IP = 5
    bad = services.TOKEN_PREFIX + "B" * 43
    codes = [(await attempt(bad))["code"] for _ in range(6)]
    assert codes == [4401] * 5 + [4429]
    assert (await attempt(bad, client=("198.51.100.1", 1)))["code"] == 4401  # another address
    assert welcomed(await attempt(await make_other(team)))
    assert (await attempt(bad))["code"] == 4429


def test_the_default_limit_of_failed_authentications_is_sixty_a_minute(db):
    assert all(host_auth_failure_allowed(client_ip="192.0.2.9") for _ in range(60))
    assert not host_auth_failure_allowed(client_ip="192.0.2.9")
    assert host_auth_failure_allowed(client_ip="192.0.2.10")
