"""The host message path under load: messages of several links commit
together, acks follow their commit in order, heartbeats never wait behind
data, and an ack lost after its commit costs a resend applied once."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connections

from accounts.models import Team
from devices import applier as applier_module
from devices import consumers, handlers, services
from devices import link as host_link
from devices.models import Host, HostStream
from projects.models import Project
from tests.kits.common import make_host
from tests.kits.hostlink import open_link

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hosts(transactional_db):
    team = Team.objects.create(name="Team A")
    return [make_host(team, f"Workstation {n}") for n in range(3)]


def projects(seq: int, *names: str) -> dict:
    payload = {"projects": [{"name": name} for name in names]}
    return {"type": "mirror.projects", "stream": "mirror", "seq": seq, "payload": payload}


async def queued(applier, count: int) -> None:
    """Wait until `count` messages wait in the applier's queues."""
    async with asyncio.timeout(5):
        while sum(len(lane.queue) for lane in applier.lanes) < count:
            await asyncio.sleep(0.01)


@database_sync_to_async
def positions() -> list[int]:
    return sorted(HostStream.objects.values_list("last_seq", flat=True))


@database_sync_to_async
def project_names() -> list[str]:
    return sorted(Project.objects.values_list("name", flat=True))


@pytest.fixture
def database_thread_held(monkeypatch):
    """Hold the next batch in the database thread until the test lets it go,
    as a slow commit would; returns (started, release)."""
    started, release = threading.Event(), threading.Event()
    real = applier_module._apply

    def held(messages):
        started.set()
        assert release.wait(10)
        return real(messages)

    monkeypatch.setattr(applier_module, "_apply", held)
    yield started, release
    release.set()


async def test_a_heartbeat_is_answered_ahead_of_its_links_data(hosts, database_thread_held):
    started, release = database_thread_held
    link = await open_link(hosts[0][1])
    for seq in range(1, 21):
        await link.send_json_to(projects(seq, f"p{seq}"))
    assert await asyncio.to_thread(started.wait, 5)
    await link.send_json_to({"type": "heartbeat"})
    # Twenty messages wait for the database; the heartbeat does not.
    assert await link.receive_json_from(timeout=5) == {"type": "heartbeat_ack"}
    release.set()
    acks = [await link.receive_json_from(timeout=5) for _ in range(20)]
    assert acks == [{"type": "ack", "stream": "mirror", "seq": seq} for seq in range(1, 21)]
    await link.disconnect()


async def test_the_messages_of_several_links_commit_in_one_transaction(hosts, database_thread_held, settings):
    settings.HOST_APPLY_THREADS = 1
    started, release = database_thread_held
    links = [await open_link(token) for _, token in hosts]
    await links[0].send_json_to(projects(1, "first"))
    assert await asyncio.to_thread(started.wait, 5)  # the first batch holds the database thread
    for link in links:
        for seq in (2, 3) if link is links[0] else (1, 2):
            await link.send_json_to(projects(seq, f"p{seq}"))
    applier = applier_module.applier()
    await queued(applier, 6)
    before = applier.batches
    release.set()
    for link in links:
        seqs = (1, 2, 3) if link is links[0] else (1, 2)
        assert [(await link.receive_json_from(timeout=5))["seq"] for _ in seqs] == list(seqs)
    # The first message alone, then the six that waited behind it together.
    assert applier.batches - before == 2
    assert await positions() == [2, 2, 3]
    for link in links:
        await link.disconnect()


async def test_an_ack_lost_after_its_commit_is_answered_on_the_resend_and_applied_once(hosts, monkeypatch):
    """The hub dies between the commit and the ack: the agent's outbox sends
    the message again on its next link, and the hub acks it as a duplicate."""
    host, token = hosts[0]
    committed = asyncio.Event()

    async def dies_before_acking(self, message, result):
        committed.set()
        await self.close(code=consumers.CLOSE_HUB_ERROR)

    monkeypatch.setattr(consumers.HostConsumer, "_answer", dies_before_acking)
    link = await open_link(token)
    await link.send_json_to(projects(1, "docs"))
    await asyncio.wait_for(committed.wait(), 5)
    assert (await link.receive_output(timeout=5))["type"] == "websocket.close"
    monkeypatch.undo()

    again = await open_link(token)
    assert again.welcome["streams"] == {"mirror": 1}
    await again.send_json_to(projects(1, "docs"))
    assert await again.receive_json_from(timeout=5) == {"type": "ack", "stream": "mirror", "seq": 1}
    assert await project_names() == ["docs"]
    await again.disconnect()


def test_a_message_that_breaks_in_its_handler_is_rejected_alone(hosts, monkeypatch):
    """In a batch of three, the middle one writes, then fails: what it wrote is
    undone, the others apply, and all three seqs are taken."""
    host = hosts[0][0]

    def breaks(*, host_id, payload):
        Host.objects.filter(id=host_id).update(name="written by a message that failed")
        raise RuntimeError("a bug the checks missed")

    monkeypatch.setitem(handlers.HANDLERS, ("mirror", "test.breaks"), breaks)
    incoming = [
        services.Incoming(host_id=host.id, stream="mirror", seq=1, kind="mirror.projects",
                          payload={"projects": [{"name": "docs"}]}),
        services.Incoming(host_id=host.id, stream="mirror", seq=2, kind="test.breaks", payload={}),
        services.Incoming(host_id=host.id, stream="mirror", seq=3, kind="mirror.projects",
                          payload={"projects": [{"name": "docs"}, {"name": "notes"}]}),
    ]  # fmt: skip
    results = services.host_messages_apply(messages=incoming)
    assert [r.outcome for r in results] == [services.APPLIED, services.REJECTED, services.APPLIED]
    assert results[1].error == "could not be applied (RuntimeError)"
    host.refresh_from_db()
    assert host.name == "Workstation 0"
    assert sorted(Project.objects.filter(removed_at=None).values_list("name", flat=True)) == ["docs", "notes"]
    assert host_link.stream_positions(host_id=host.id) == {"mirror": 3}


@pytest.fixture
def lane_held(monkeypatch, hosts):
    """Hold the batches of the first host's lane in the database until the test lets them go."""
    held_host = hosts[0][0].id
    release = threading.Event()
    real = applier_module._apply

    def held(messages):
        if any(message.host_id == held_host for message in messages):
            assert release.wait(10)
        return real(messages)

    monkeypatch.setattr(applier_module, "_apply", held)
    yield release
    release.set()
    for lane in applier_module._lane_executors:  # what the lanes' threads hold goes with the test
        lane.submit(connections.close_all).result(timeout=10)


async def test_a_slow_lane_does_not_hold_the_hosts_of_another(hosts, lane_held, settings):
    settings.HOST_APPLY_THREADS = 2
    tokens = {host.id: token for host, token in hosts}
    held_id = hosts[0][0].id
    free_id = next(host_id for host_id in tokens if host_id % 2 != held_id % 2)  # the other lane
    held, free = await open_link(tokens[held_id]), await open_link(tokens[free_id])
    await held.send_json_to(projects(1, "waits"))
    await free.send_json_to(projects(1, "goes"))
    assert await free.receive_json_from(timeout=5) == {"type": "ack", "stream": "mirror", "seq": 1}
    assert await held.receive_nothing(timeout=0.2)
    lane_held.set()
    assert await held.receive_json_from(timeout=5) == {"type": "ack", "stream": "mirror", "seq": 1}
    await held.disconnect()
    await free.disconnect()
