"""The Redis channel layer's batch send (codexhub.channel_layer): a batch of
host messages rings its events with one round trip to learn who listens."""

import asyncio

import pytest

from codexhub.channel_layer import ResilientRedisChannelLayer
from tests.kits.processes import RedisServer


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)  # a private one: these tests stop it
    yield server
    server.stop()


def make_layer(url: str) -> ResilientRedisChannelLayer:
    host = {"address": url, "socket_connect_timeout": 1, "socket_timeout": 2}
    return ResilientRedisChannelLayer(hosts=[host])


async def test_only_groups_with_members_are_sent_to_and_each_member_hears_its_events(redis_server):
    layer = make_layer(redis_server.url)
    phone = await layer.new_channel()
    await layer.group_add("project.1", phone)
    events = [
        ("project.1", {"type": "mirror.changed", "count": 1}),
        ("task.7", {"type": "task.log", "task": 7, "seq": 3}),  # nobody has task 7 open
        ("project.1", {"type": "mirror.changed", "count": 2}),
    ]
    await layer.group_send_many(events)
    assert await asyncio.wait_for(layer.receive(phone), 5) == {"type": "mirror.changed", "count": 1}
    assert await asyncio.wait_for(layer.receive(phone), 5) == {"type": "mirror.changed", "count": 2}
    assert await layer._groups_with_members({"project.1", "task.7"}) == {"project.1"}
    await layer.flush()


async def test_a_batch_sent_while_redis_is_down_is_dropped_and_counted(redis_server):
    layer = make_layer(redis_server.url)
    redis_server.stop()
    await layer.group_send_many([("project.1", {"type": "mirror.changed", "count": 1})])
    assert layer.failures == 1
