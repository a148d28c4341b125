"""The host link while the channel layer (Redis) fails: presence stays right in
the database, heartbeats are answered, the link stays open."""

import asyncio
import logging

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError

from accounts.models import Team
from devices import consumers
from devices.models import Host
from tests.kits.common import make_host
from tests.kits.hostlink import heartbeat, open_link

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def paired(transactional_db):
    return make_host(Team.objects.create(name="Team A"), "Workstation")


@pytest.fixture
def layer_down(monkeypatch):
    """Make the named channel-layer calls raise, as channels-redis does while Redis is down."""
    layer = get_channel_layer()

    def down(*names: str) -> None:
        async def fail(*args, **kwargs):
            raise RedisConnectionError("Error 111 connecting to redis:6379. Connection refused.")

        for name in names:
            monkeypatch.setattr(layer, name, fail)
        # The process's receive loop fails too, and the layer counts it (codexhub.channel_layer).
        monkeypatch.setattr(layer, "failures", getattr(layer, "failures", 0) + 1, raising=False)

    return down
@database_sync_to_async
def link_channel(host_id: int) -> str:
    return Host.objects.get(id=host_id).link_channel


async def test_a_link_that_drops_while_the_layer_is_down_marks_the_host_offline(paired, layer_down):
    host, token = paired
    communicator = await open_link(token)
    layer_down("group_discard")
    await communicator.disconnect()
    assert await link_channel(host.id) == ""
    assert not (await database_sync_to_async(Host.objects.get)(id=host.id)).online


async def test_heartbeats_are_answered_while_the_layer_is_down(paired, layer_down, caplog):
    host, token = paired
    communicator = await open_link(token)
    layer_down("group_add", "group_discard", "send")
    for _ in range(3):
        await heartbeat(communicator)
    assert await link_channel(host.id) != ""
    assert any("channel layer group_add failed" in r.getMessage() for r in caplog.records)
    await communicator.disconnect()
    assert await link_channel(host.id) == ""


async def test_a_host_connects_while_the_layer_is_down(paired, layer_down):
    host, token = paired
    layer_down("group_add", "group_discard", "send")
    communicator = await open_link(token)
    assert await link_channel(host.id) != ""
    await heartbeat(communicator)
    await communicator.disconnect()


async def test_a_replaced_link_learns_it_at_its_heartbeat_when_the_layer_lost_the_message(paired, layer_down):
    host, token = paired
    first = await open_link(token)
    layer_down("send")
    second = await open_link(token)
    await first.send_json_to({"type": "heartbeat"})
    assert await first.receive_json_from(timeout=5) == {"type": "heartbeat_ack"}
    message = await first.receive_output(timeout=5)
    assert (message["type"], message["code"]) == ("websocket.close", consumers.CLOSE_REPLACED)
    await heartbeat(second)
    await second.disconnect()


async def test_a_hanging_layer_call_does_not_hold_the_heartbeat(paired, monkeypatch):
    host, token = paired
    communicator = await open_link(token)
    monkeypatch.setattr(consumers, "LAYER_TIMEOUT", 0.05)
    monkeypatch.setattr(get_channel_layer(), "group_add", lambda *args: asyncio.Event().wait())
    await heartbeat(communicator)
    await heartbeat(communicator)  # the hung call was given up on: the next frame is read
    await communicator.disconnect()


async def test_layer_failures_are_logged_within_a_budget(paired, layer_down, caplog, monkeypatch):
    monkeypatch.setattr(consumers, "_layer_log", consumers.LogBudget())
    caplog.set_level(logging.WARNING, logger="devices.consumers")
    host, token = paired
    communicator = await open_link(token)
    layer_down("group_add")
    for _ in range(consumers.LAYER_LOG_PER_MINUTE + 20):
        await heartbeat(communicator)
    lines = [r for r in caplog.records if r.name == "devices.consumers" and "channel layer" in r.getMessage()]
    assert len(lines) == consumers.LAYER_LOG_PER_MINUTE
    await communicator.disconnect()
