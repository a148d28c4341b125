"""Scale-out: two daphne processes on one Postgres and one Redis, behind HAProxy
(tests.kits.processes.Proxy writes the config of README.md's "Scale out" paragraph).

What a user must not notice is which hub process a host or a phone landed on:
host links spread over both hubs and every message they send is applied once;
a phone on one hub hears a host linked to the other; revoking a host closes
its link wherever it is; a host that comes back through the proxy on the other
hub carries on from its stream positions; and when a hub dies, its links move
to the other one and carry on. Nothing home-made carries traffic between the
hubs: Postgres, Redis and HAProxy do."""

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets

from accounts.models import AuditEvent
from devices import services
from devices.models import Host, HostStream
from devices.services import TOKEN_LENGTH
from projects.models import Change, Entry
from tests.kits.common import make_host
from tests.kits.deployed import PhoneSocket, closing_connection, signed_in_fleet, wait_for
from tests.kits.processes import ROOT, Hub, Proxy, haproxy_config, hub_env

SHARED_SERVICES = os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(
    os.environ.get("REDIS_URL")
)
needs_postgres_and_redis = pytest.mark.skipif(
    not SHARED_SERVICES,
    reason="two hub processes share Postgres and Redis: set DATABASE_URL and REDIS_URL (CI does)",
)

FAST_LINK = {"HOST_HEARTBEAT_INTERVAL": "1", "HOST_HEARTBEAT_TIMEOUT": "5"}
AUTH_FAILURES = 4  # host sockets with a bad token an address may open a minute
PROJECT = "soak"  # the project signed_in_fleet gives each host
CLOSE_UNAUTHORIZED, CLOSE_TOO_MANY = 4401, 4429


class Cluster:
    """Two hubs with the same environment (Postgres, Redis, trusting the
    proxy's headers) and HAProxy in front of them."""

    def __init__(self, logs):
        env = hub_env(TRUST_PROXY_HEADERS="true", HOST_AUTH_FAILURES_PER_IP=str(AUTH_FAILURES), **FAST_LINK)
        with ThreadPoolExecutor(2) as pool:
            self.hubs = list(pool.map(lambda _: Hub(env, logs, proxy_headers=True), range(2)))
        self.proxy = Proxy([hub.url for hub in self.hubs], logs)
        self.origin = self.proxy.url
        self.host_url = ws_url(self.proxy.url, "/ws/host/")
        self.ui_url = ws_url(self.proxy.url, "/ws/ui/")

    def stop(self):
        """The proxy first, then both hubs at once. A hub is given 3 s: daphne
        stopped while a request or a disconnect is half-way through sync code
        that calls back into its event loop never exits by itself."""
        self.proxy.stop()
        with ThreadPoolExecutor(len(self.hubs)) as pool:
            list(pool.map(lambda hub: hub.stop(timeout=3), self.hubs))


def ws_url(http_url: str, path: str) -> str:
    return http_url.replace("http://", "ws://", 1) + path


@pytest.fixture
def cluster(logs, transactional_db):
    cluster = Cluster(logs)
    yield cluster
    cluster.stop()


# A host's link, with its outbox -----------------------------------------------------


def batch_file(number: int) -> str:
    """Each batch writes a file of its own: the events of two batches differ,
    so a page hears each (a hub sends identical events of one commit once)."""
    return f"edit-{number}.md"


def batch_payload(number: int, text: str) -> dict:
    change = {"op": "upsert", "path": batch_file(number), "kind": "file", "size": len(text), "mtime": 1.0,
              "hash": hashlib.sha256(text.encode()).hexdigest(), "text": text, "binary": False}  # fmt: skip
    return {"project": PROJECT, "reset": False, "changes": [change]}


class Link:
    """A host agent as far as its link goes: sequenced messages kept in an
    outbox until acked and sent in order; after a drop it connects again (here
    through the proxy, so possibly to the other hub), takes what the welcome's
    stream positions cover as delivered and sends the rest again, as hostagent
    does. Records every ack, every close it did not ask for, and any welcome
    whose positions went back behind an ack or beyond what was sent."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.seq: Counter[str] = Counter()
        self.outbox: dict[tuple[str, int], str] = {}
        self.sent: list[tuple[str, int]] = []
        self.acks: Counter[tuple[str, int]] = Counter()
        self.confirmed: set[tuple[str, int]] = set()  # delivered, as a welcome said, before their ack came
        self.replays: Counter[tuple[str, int]] = Counter()  # acks of messages sent again on purpose
        self.welcomes: list[dict[str, int]] = []
        self.backwards: list[tuple] = []
        self.errors: list[dict] = []
        self.closes: list[int | None] = []  # None: dropped without a close frame
        self.failures: list[str] = []
        self.batches = 0
        self.batch_seqs: dict[int, int] = {}  # mirror seq -> batch number
        self.sessions = 0
        self.ws = None
        self.stopping = self.revoked = False
        self.lock = asyncio.Lock()
        self.may_connect = asyncio.Event()
        self.may_connect.set()
        hello = {"agent_version": "two-hubs", "platform": "linux", "capabilities": ["agent"], "executors": []}
        self._queue("host", "hello", hello)
        self._queue("mirror", "mirror.projects", {"projects": [{"name": PROJECT}]})

    @property
    def settled(self) -> bool:
        """Linked, and every message sent so far acked."""
        return self.ws is not None and not self.outbox

    async def run(self) -> None:
        """Stay linked until closed or revoked, reconnecting after a drop."""
        headers = {"Authorization": f"Bearer {self.token}"}
        while not (self.stopping or self.revoked):
            await self.may_connect.wait()
            if self.stopping:
                break
            try:
                async with websockets.connect(
                    self.url, additional_headers=headers, open_timeout=10, max_queue=None
                ) as ws:
                    await self._session(ws)
            except websockets.ConnectionClosed as closed:  # before the welcome
                self._closed_by_hub(closed.rcvd.code if closed.rcvd else None)
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                self.failures.append(repr(exc))
            if not (self.stopping or self.revoked):
                await asyncio.sleep(0.2)  # the agent's backoff before it connects again

    async def send_batch(self) -> None:
        self.batches += 1
        self.batch_seqs[self.seq["mirror"] + 1] = self.batches
        await self.send("mirror", "mirror.batch", batch_payload(self.batches, f"edit {self.batches}\n"))

    def files(self) -> dict[str, str]:
        """What the mirror must hold: each batch's file with its text."""
        return {batch_file(n): f"edit {n}\n" for n in range(1, self.batches + 1)}

    async def send(self, stream: str, kind: str, payload: dict) -> None:
        async with self.lock:
            text = self._queue(stream, kind, payload)
            if self.ws is not None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await self.ws.send(text)  # if the link just dropped, the outbox has it

    async def replay(self, seq: int, text: str) -> None:
        """Send a mirror batch again under a seq that was applied already, with
        other content, as an agent restored from an old outbox would."""
        key = ("mirror", seq)
        assert self.acks[key] == 1 and self.ws is not None
        payload = batch_payload(self.batch_seqs[seq], text)
        message = {"type": "mirror.batch", "stream": "mirror", "seq": seq, "payload": payload}
        async with self.lock:
            self.replays[key] = 0
            await self.ws.send(json.dumps(message))

    def drop(self, *, hold: bool = False) -> None:
        """The network goes: no close frame, whatever is in flight is lost.
        `hold`: the link stays down until `resume()`."""
        if hold:
            self.may_connect.clear()
        self.ws.transport.abort()

    def resume(self) -> None:
        self.may_connect.set()

    async def close(self) -> None:
        self.stopping = True
        self.may_connect.set()
        if self.ws is not None:
            await self.ws.close()

    def _queue(self, stream: str, kind: str, payload: dict) -> str:
        self.seq[stream] += 1
        key = (stream, self.seq[stream])
        text = json.dumps({"type": kind, "stream": stream, "seq": key[1], "payload": payload})
        self.outbox[key] = text
        self.sent.append(key)
        return text

    async def _session(self, ws) -> None:
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        async with self.lock:
            self._take_positions(welcome["streams"])
            for text in self.outbox.values():  # in the order sent
                await ws.send(text)
            self.ws = ws
        self.sessions += 1
        if self.stopping:  # closed while this connect was under way
            await ws.close()
        beating = asyncio.create_task(self._heartbeats(ws, welcome["heartbeat_interval"]))
        try:
            async for raw in ws:
                self._handle(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            beating.cancel()
            self.ws = None
        if not self.stopping:
            rcvd = ws.protocol.close_rcvd
            self._closed_by_hub(rcvd.code if rcvd else None)

    def _take_positions(self, positions: dict[str, int]) -> None:
        self.welcomes.append(positions)
        for stream, sent in self.seq.items():
            acked = max((seq for (name, seq) in self.acks if name == stream), default=0)
            if not acked <= positions.get(stream, 0) <= sent:
                self.backwards.append((stream, positions.get(stream, 0), acked, sent))
        for key in list(self.outbox):
            if key[1] <= positions.get(key[0], 0):
                self.confirmed.add(key)
                del self.outbox[key]

    def _handle(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "ack":
            key = (message["stream"], message["seq"])
            if key in self.replays:
                self.replays[key] += 1
            else:
                self.acks[key] += 1
                self.outbox.pop(key, None)
        elif kind == "error":
            self.errors.append(message)

    def _closed_by_hub(self, code: int | None) -> None:
        self.closes.append(code)
        if code == CLOSE_UNAUTHORIZED:
            self.revoked = True

    async def _heartbeats(self, ws, interval: float) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await ws.send(json.dumps({"type": "heartbeat"}))
                await asyncio.sleep(interval)


# Which process holds a link ---------------------------------------------------------


def process_of(channel: str) -> str:
    """The hub process a channel belongs to: channels-redis names a channel
    `specific.<one prefix per process>!<one suffix per channel>`."""
    assert channel.startswith("specific.") and "!" in channel, channel
    return channel.removeprefix("specific.").split("!", 1)[0]


def holders(hosts) -> dict[int, str]:
    """The hub process holding each host's link, from the channel the hub recorded."""
    channels = dict(
        Host.objects.filter(id__in=[host.id for host, _ in hosts]).values_list("id", "link_channel")
    )
    return {host.id: process_of(channels[host.id]) for host, _ in hosts}


async def db(function, *args, **kwargs):
    """ORM work from the event loop: on a worker thread, its connection closed after."""
    return await asyncio.to_thread(closing_connection, functools.partial(function, *args, **kwargs))


async def wait_for_db(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await db(condition):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.1)


async def process_of_hub(hub: Hub, team) -> str:
    """Which process a hub is, by a host linked to it directly (not through the proxy)."""
    probe = await db(make_host, team, f"probe-{hub.port}")
    link = Link(ws_url(hub.url, "/ws/host/"), probe[1])
    running = asyncio.create_task(link.run())
    await wait_for(lambda: link.settled, f"a probe link to {hub.url}")
    process = (await db(holders, [probe]))[probe[0].id]
    await link.close()
    await running
    return process


async def start_links(links, *, one_by_one: bool = False) -> list[asyncio.Task]:
    """Link them through the proxy. One by one, round robin sends each next
    link to the other hub."""
    tasks = []
    for link in links:
        tasks.append(asyncio.create_task(link.run()))
        if one_by_one:
            await wait_for(lambda link=link: link.settled, "a link's hello to be applied")
    await wait_for(lambda: all(link.settled for link in links), "every link's hello to be applied")
    return tasks


async def close_links(links, tasks, hosts) -> None:
    """Close every link, and wait until the hubs have shown each host offline."""
    for link in links:
        await link.close()
    await asyncio.gather(*tasks)
    ids = [host.id for host, _ in hosts]
    await wait_for_db(
        lambda: not Host.objects.filter(id__in=ids).exclude(link_channel="").exists(), "the hosts offline"
    )


def audit(links, hosts, projects) -> None:
    """Every message applied exactly once, whichever hub took it: acked once
    (or, if its link dropped first, covered by the next welcome's position),
    the host's stream positions equal to what it sent, and the mirror holding
    each batch's file as sent with one recorded change per batch."""
    for link, (host, _), project in zip(links, hosts, projects, strict=True):
        assert link.errors == [], link.errors
        assert link.backwards == [], link.backwards
        assert [key for key, count in link.acks.items() if count != 1] == []
        assert set(link.acks) | link.confirmed == set(link.sent)
        assert set(link.acks) & link.confirmed == set()
        positions = dict(HostStream.objects.filter(host=host).values_list("name", "last_seq"))
        assert positions == dict(link.seq)
        assert dict(Entry.objects.filter(project=project).values_list("path", "text")) == link.files()
        assert Change.objects.filter(project=project).count() == link.batches


# The tests ---------------------------------------------------------------------------


@needs_postgres_and_redis
def test_twenty_host_links_through_the_proxy_land_on_both_hubs_and_each_message_is_applied_once(
    cluster, client
):
    _team, hosts, projects, sessions = signed_in_fleet(client, "spread", 20, 1)
    links = [Link(cluster.host_url, token) for _, token in hosts]
    phone = PhoneSocket(cluster.ui_url, cluster.origin, sessions[0][1], [project.id for project in projects])
    batches = 5

    async def scenario():
        stop = asyncio.Event()
        page = asyncio.create_task(phone.run(stop, ping_every=5))
        await wait_for(lambda: phone.events["subscribed"] == len(projects), "the page's subscriptions")
        tasks = await start_links(links)
        placed = await db(holders, hosts)
        connections = {
            name: int(row["scur"]) for name, row in (await asyncio.to_thread(cluster.proxy.servers)).items()
        }
        for _ in range(batches):
            await asyncio.gather(*(link.send_batch() for link in links))
        await wait_for(lambda: all(link.settled for link in links), "every batch's ack")
        await wait_for(
            lambda: phone.mirror_events.total() == batches * len(links), "the page to hear every batch"
        )
        await close_links(links, tasks, hosts)
        stop.set()
        await page
        return placed, connections

    placed, connections = asyncio.run(scenario())

    # Both processes hold links (round robin: about half each), and HAProxy counts them there.
    per_process = Counter(placed.values())
    assert len(per_process) == 2 and min(per_process.values()) >= 5, per_process
    assert sum(connections.values()) == len(links) + 1 and min(connections.values()) >= 5, connections
    assert [link.closes for link in links if link.closes] == []
    audit(links, hosts, projects)
    # The page, on one of the hubs, heard every batch of every host once, half of them from the other hub.
    assert phone.mirror_events == {project.id: batches for project in projects}
    assert phone.closed_by_hub == []


@needs_postgres_and_redis
def test_a_phone_on_one_hub_sees_a_host_linked_to_the_other(cluster, client):
    _team, [(host, token)], [project], [(_, session)] = signed_in_fleet(client, "cross", 1, 1)
    hub_a, hub_b = cluster.hubs
    phone = PhoneSocket(ws_url(hub_a.url, "/ws/ui/"), hub_a.url, session, [project.id])
    link = Link(ws_url(hub_b.url, "/ws/host/"), token)

    def seen(online: bool) -> bool:
        return any(state["id"] == host.id and state["online"] is online for _, state in phone.presence)

    async def scenario():
        stop = asyncio.Event()
        page = asyncio.create_task(phone.run(stop, ping_every=5))
        await wait_for(lambda: phone.events["subscribed"] == 1, "the page's subscription")
        running = asyncio.create_task(link.run())
        await wait_for(lambda: seen(True), "the page on hub A to see the host come online on hub B")
        await wait_for(lambda: link.settled, "the host's hello")
        await link.send_batch()
        await wait_for(
            lambda: phone.mirror_events[project.id] == 1, "the page on hub A to hear hub B's batch"
        )
        await link.close()
        await running
        await wait_for(lambda: seen(False), "the page on hub A to see the host go offline")
        stop.set()
        await page

    asyncio.run(scenario())

    # Online, then offline (a presence event may come more than once, never out of order).
    states = [state["online"] for _, state in phone.presence if state["id"] == host.id]
    offline_from = states.index(False)
    assert offline_from > 0 and all(states[:offline_from]) and not any(states[offline_from:]), states
    assert phone.mirror_events == {project.id: 1}
    assert phone.closed_by_hub == [] and link.closes == []
    assert dict(Entry.objects.filter(project=project).values_list("path", "text")) == link.files()


def unpair_through(proxy: Proxy, token: str) -> tuple[int, dict]:
    """The agent's `unpair`, over HTTP through the proxy, with an X-Forwarded-For
    of the client's own that must not count as its address."""
    request = urllib.request.Request(
        f"{proxy.url}/api/host/unpair/",
        data=b"{}",
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "X-Forwarded-For": "203.0.113.66",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@needs_postgres_and_redis
def test_revoking_a_host_closes_its_link_whichever_hub_holds_it(cluster, client):
    _team, hosts, projects, _ = signed_in_fleet(client, "revoke", 6, 0)
    links = [Link(cluster.host_url, token) for _, token in hosts]

    async def scenario():
        tasks = await start_links(links, one_by_one=True)
        placed = await db(holders, hosts)
        by_process: dict[str, list[int]] = {}
        for n, (host, _) in enumerate(hosts):
            by_process.setdefault(placed[host.id], []).append(n)
        # On each hub, some hosts unpair themselves over HTTP through the proxy
        # (whichever hub serves that request) and the others are revoked by an admin.
        over_http = [n for group in by_process.values() for n in group[::2]]
        for n, (host, token) in enumerate(hosts):
            if n in over_http:
                assert await asyncio.to_thread(unpair_through, cluster.proxy, token) == (
                    200,
                    {"status": "revoked"},
                )
            else:
                await db(services.host_revoke, host=host, actor=None, reason="admin")
        await wait_for(lambda: all(link.revoked for link in links), "every revoked link to close", timeout=10)
        await asyncio.gather(*tasks)
        # The token is refused from now on, on either hub.
        again = [Link(cluster.host_url, token) for _, token in hosts[:2]]
        await asyncio.gather(*(link.run() for link in again))
        return by_process, over_http, again

    by_process, over_http, again = asyncio.run(scenario())

    assert len(by_process) == 2 and all(len(group) == 3 for group in by_process.values()), by_process
    assert [link.closes for link in links] == [[CLOSE_UNAUTHORIZED]] * len(links)
    assert [link.closes for link in again] == [[CLOSE_UNAUTHORIZED]] * 2 and not any(
        link.sessions for link in again
    )
    assert all(host.state == "revoked" for host in Host.objects.filter(id__in=[h.id for h, _ in hosts]))
    # The audit records the address the proxy saw, not the one the client claimed.
    unpaired = AuditEvent.objects.filter(action="host.revoked", detail__reason="unpaired by the host")
    assert sorted(unpaired.values_list("ip", flat=True)) == ["127.0.0.1"] * len(over_http)


@needs_postgres_and_redis
def test_a_host_back_on_the_other_hub_keeps_its_stream_positions_and_nothing_is_applied_twice(
    cluster, client
):
    team, hosts, projects, _ = signed_in_fleet(client, "switch", 4, 0)
    links = [Link(cluster.host_url, token) for _, token in hosts]

    async def scenario():
        hub_of = {await process_of_hub(hub, team): hub for hub in cluster.hubs}
        tasks = await start_links(links, one_by_one=True)
        moves = []
        for link, (host, _) in zip(links, hosts, strict=True):
            for _ in range(3):
                await link.send_batch()
            await wait_for(lambda link=link: link.settled, "the first batches' acks")
            first = (await db(holders, [(host, None)]))[host.id]
            # Three more, and the connection drops under them; two more while it is down.
            for _ in range(3):
                await link.send_batch()
            link.drop(hold=True)
            await wait_for(lambda link=link: link.ws is None, "the agent to notice the drop")
            for _ in range(2):
                await link.send_batch()
            # Its hub is drained (as for a rolling deploy): the proxy sends it to the other one.
            await asyncio.to_thread(cluster.proxy.set_state, hub_of[first].url, "drain")
            link.resume()
            await wait_for(lambda link=link: link.settled, "the link back, and its outbox delivered")
            moves.append((first, (await db(holders, [(host, None)]))[host.id]))
            await asyncio.to_thread(cluster.proxy.set_state, hub_of[first].url, "ready")
            # An old seq with new content, as from an agent's stale outbox: acked, not applied.
            await link.replay(3, "replayed\n")
            await wait_for(lambda link=link: link.replays[("mirror", 3)] == 1, "the replay's ack")
            for _ in range(2):
                await link.send_batch()
        await wait_for(lambda: all(link.settled for link in links), "the last batches' acks")
        await close_links(links, tasks, hosts)
        return moves

    moves = asyncio.run(scenario())

    assert len({first for first, _ in moves}) == 2  # hosts of both hubs moved
    assert all(first != now for first, now in moves)
    for link in links:
        # The other hub's welcome had the host's positions: at least what was
        # acked, at most what reached the first hub; it took the rest from the outbox.
        assert link.sessions == 2 and link.closes == [None]
        assert (
            link.welcomes[0] == {} and link.welcomes[1]["host"] == 1 and 4 <= link.welcomes[1]["mirror"] <= 7
        )
        assert link.acks[("mirror", 8)] == link.acks[("mirror", 9)] == 1
    audit(links, hosts, projects)
    assert not Entry.objects.filter(text="replayed\n").exists()


@needs_postgres_and_redis
def test_when_a_hub_dies_its_links_move_through_the_proxy_to_the_other_and_carry_on(cluster, client):
    team, hosts, projects, _ = signed_in_fleet(client, "failover", 10, 0)
    links = [Link(cluster.host_url, token) for _, token in hosts]
    victim = cluster.hubs[0]

    async def scenario():
        dead = await process_of_hub(victim, team)
        tasks = await start_links(links)
        for _ in range(2):
            await asyncio.gather(*(link.send_batch() for link in links))
        await wait_for(lambda: all(link.settled for link in links), "the first batches' acks")
        before = await db(holders, hosts)
        # A batch in flight on every link as one hub is killed.
        await asyncio.gather(*(link.send_batch() for link in links))
        await asyncio.to_thread(victim.kill)
        await asyncio.to_thread(cluster.proxy.wait_for_status, victim.url, "DOWN")
        [survivor] = set(before.values()) - {dead}

        def moved() -> bool:
            return all(process == survivor for process in holders(hosts).values())

        await wait_for_db(moved, "every link to be held by the other hub")
        await wait_for(lambda: all(link.settled for link in links), "the batches in flight to be delivered")
        for _ in range(2):
            await asyncio.gather(*(link.send_batch() for link in links))
        await wait_for(lambda: all(link.settled for link in links), "the last batches' acks")
        online = await db(lambda: [Host.objects.get(id=host.id).online for host, _ in hosts])
        await close_links(links, tasks, hosts)
        return before, dead, online

    before, dead, online = asyncio.run(scenario())

    on_victim = [n for n, (host, _) in enumerate(hosts) if before[host.id] == dead]
    assert 0 < len(on_victim) < len(links)
    # The victim's links dropped once and came back; the others never noticed.
    assert [link.sessions for link in links] == [2 if n in on_victim else 1 for n in range(len(links))]
    assert [link.closes for link in links] == [[None] if n in on_victim else [] for n in range(len(links))]
    assert online == [True] * len(links)
    audit(links, hosts, projects)


async def bad_token_refusal(url: str, forwarded_for: str) -> int:
    """A host socket with a token the hub does not know, claiming an address of its own."""
    headers = {"Authorization": "Bearer " + "x" * TOKEN_LENGTH, "X-Forwarded-For": forwarded_for}
    async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    return closed.value.rcvd.code


@needs_postgres_and_redis
def test_a_clients_own_x_forwarded_for_does_not_dodge_the_limit_on_bad_tokens(cluster):
    """The proxy replaces X-Forwarded-For, so the hubs (daphne --proxy-headers)
    count bad tokens per the address the proxy saw, in Redis, whichever hub
    takes each attempt."""
    taken = {name: int(row["stot"]) for name, row in cluster.proxy.servers().items()}

    async def attempts():
        return [await bad_token_refusal(cluster.host_url, f"203.0.113.{n}") for n in range(AUTH_FAILURES + 2)]

    codes = asyncio.run(attempts())

    assert codes == [CLOSE_UNAUTHORIZED] * AUTH_FAILURES + [CLOSE_TOO_MANY] * 2
    spread = {name: int(row["stot"]) - taken[name] for name, row in cluster.proxy.servers().items()}
    assert sorted(spread.values()) == [3, 3], spread


# The README's snippet is the config these tests run ------------------------------------

SHAPE = (
    "mode ", "balance ", "option forwardfor", "option httpchk", "option redispatch", "retries ",
    "timeout ", "http-check expect ", "http-request del-header ",
)  # fmt: skip


def shape(config: str) -> list[str]:
    """Balancing, timeouts, retries, checks and header rules: what the README and the tests share."""
    lines = (line.split("#", 1)[0].strip() for line in config.splitlines())
    return sorted(line for line in lines if line.startswith(SHAPE))


def test_the_readmes_haproxy_snippet_is_the_config_the_tests_run():
    readme = (ROOT / "README.md").read_text().split("\n### Scale out\n", 1)[1]
    snippet = readme.split("```haproxy\n", 1)[1].split("```", 1)[0]
    tested = haproxy_config(["http://127.0.0.1:8001", "http://127.0.0.1:8002"], port=8000, admin_port=8404)
    assert shape(snippet) == shape(tested)
    assert "timeout tunnel 1h" in shape(tested)
    assert "uri /healthz" in snippet and "http-check expect status 200" in snippet
