"""/ws/ui/ after the channel layer failed: group events may have been lost
(Redis went away), so the page's next ping gets a fresh hello to catch up on,
and keeps getting one until its groups are renewed again."""

import pytest
from channels.layers import get_channel_layer
from django.test import Client

from tests.kits.common import login
from tests.kits.ui_socket import OUR_ORIGIN, headers_for, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def layer(monkeypatch):
    """The hub's channel layer, counting failures as codexhub.channel_layer does."""
    layer = get_channel_layer()
    monkeypatch.setattr(layer, "failures", 0, raising=False)
    return layer


@pytest.fixture
def page_headers(alice):
    return headers_for(login(Client(), alice), OUR_ORIGIN)


async def ping(communicator) -> list[dict]:
    """Everything the hub answers to one ping (the pong comes last but one at most)."""
    await communicator.send_json_to({"type": "ping"})
    answers = [await communicator.receive_json_from(timeout=5)]
    while not await communicator.receive_nothing(timeout=0.2):
        answers.append(await communicator.receive_json_from(timeout=5))
    return [answer["type"] for answer in answers]


async def test_a_ping_after_a_layer_failure_gets_a_fresh_hello_once(page_headers, layer):
    communicator, connected, _ = await open_socket(page_headers)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    assert await ping(communicator) == ["pong"]

    layer.failures += 3  # Redis went away and came back between two pings
    assert await ping(communicator) == ["pong", "hello"]
    assert await ping(communicator) == ["pong"]
    await communicator.disconnect()


async def test_it_keeps_catching_up_while_the_groups_cannot_be_renewed(page_headers, layer, monkeypatch):
    communicator, connected, _ = await open_socket(page_headers)
    assert connected
    await communicator.receive_json_from(timeout=5)
    renew = layer.group_add

    async def failing_group_add(group, channel):
        layer.failures += 1  # what the resilient layer does when Redis refuses

    monkeypatch.setattr(layer, "group_add", failing_group_add)
    assert await ping(communicator) == ["pong", "hello"]
    assert await ping(communicator) == ["pong", "hello"]
    monkeypatch.setattr(layer, "group_add", renew)
    assert await ping(communicator) == ["pong", "hello"]
    assert await ping(communicator) == ["pong"]
    await communicator.disconnect()
