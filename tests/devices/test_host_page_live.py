"""A host page follows what the agent says of itself: a `hello` that changes it (an executor
added to agent.toml while the agent runs, another version) rings the team's pages with
`host.changed`, and the host page shows the new state when it fetches its live part; the same
`hello` again, as on every reconnect, writes nothing and rings nobody."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from devices.models import Host
from tests.kits.common import login, make_host, make_owner
from tests.kits.hostlink import heartbeat, open_link
from tests.kits.ui_socket import OUR_ORIGIN, headers_for, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ECHO = {"name": "echo", "label": "Echo", "kind": "command"}
TIDY = {"name": "tidy", "label": "Tidy up", "kind": "command"}


@pytest.fixture
def setup():
    user, team = make_owner("mia@example.com", "Mia's")
    host, token = make_host(team, "studio")
    other_user, other_team = make_owner("olu@example.com", "Olu's")
    return {"user": user, "host": host, "token": token, "other": other_user}


async def send_hello(link, seq: int, *executors: dict, version: str = "0.9.0") -> dict:
    payload = {"agent_version": version, "capabilities": ["agent"], "executors": list(executors)}
    await link.send_json_to({"type": "hello", "stream": "host", "seq": seq, "payload": payload})
    return await link.receive_json_from(timeout=5)


async def page_socket(user):
    client = await database_sync_to_async(lambda: login(Client(), user))()
    page, connected, _ = await open_socket(headers_for(client, OUR_ORIGIN))
    assert connected
    await page.receive_json_from(timeout=5)  # hello
    return client, page


async def next_event(page) -> dict:
    """The next event a page hears, presence left out."""
    while True:
        event = await page.receive_json_from(timeout=5)
        if event["type"] != "host.presence":
            return event


async def test_a_changed_hello_rings_the_teams_pages_and_the_same_again_does_not(setup):
    host = setup["host"]
    link = await open_link(setup["token"])
    client, page = await page_socket(setup["user"])
    _, stranger = await page_socket(setup["other"])
    assert (await send_hello(link, 1, ECHO))["type"] == "ack"
    assert await next_event(page) == {"type": "host.changed", "host": host.id}

    assert (await send_hello(link, 2, ECHO, TIDY))["type"] == "ack"  # tidy added to agent.toml
    assert await next_event(page) == {"type": "host.changed", "host": host.id}
    detail = await database_sync_to_async(lambda: client.get(reverse("host_detail", args=[host.id])))()
    region = detail.content.decode().split('id="live-region"')[1].split("Rename")[0]
    assert "Tidy up" in region and "Echo" in region

    assert (await send_hello(link, 3, ECHO, TIDY))["type"] == "ack"  # the same agent again
    await heartbeat(link)  # the hello above was applied before this answer
    assert await page.receive_nothing(timeout=0.3)
    assert await stranger.receive_nothing(timeout=0.3)  # another team never hears of it
    stored = await database_sync_to_async(lambda: Host.objects.get(id=host.id))()
    assert [e["name"] for e in stored.executors] == ["echo", "tidy"]
    for socket in (link, page, stranger):
        await socket.disconnect()
