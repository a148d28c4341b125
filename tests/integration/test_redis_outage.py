"""Redis stops for 10 s under the soak's load (issue 13, SECURITY.md 91): pages
answer 503 with words, never 500; the links stay up and nothing they sent is
lost or applied twice; after Redis returns presence is right, events reach the
phones again and a task goes out through the worker, with no process restarted."""

import asyncio
import time

import pytest
import redis

from codexhub.health import OUTAGE_MESSAGE
from devices.models import Host
from tasks.models import Task, TaskState
from tests.kits.common import PASSWORD
from tests.kits.deployed import (
    Deployment,
    assert_links_held,
    closing_connection,
    linked,
    links_and_phones,
    signed_in_fleet,
    wait_for,
)
from tests.kits.processes import RedisServer, wait_until

HOSTS, PHONES = 50, 5
OUTAGE_SECONDS = 10


@pytest.fixture
def fleet(transactional_db, client):
    return signed_in_fleet(client, "outage", HOSTS, PHONES)


@pytest.fixture
def private_redis(logs):
    server = RedisServer(logs)
    yield server
    server.stop()


@pytest.fixture
def redis_url(private_redis):
    """The deployment's Redis is the private one, which the test stops and starts."""
    return private_redis.url


class Outage:
    """Stops the private Redis, probes the hub while it is down, starts it again."""

    def __init__(self, server: RedisServer, deployed: Deployment, sessions, project):
        self.server, self.deployed, self.sessions, self.project = server, deployed, sessions, project
        self.during: dict[str, tuple[int, str]] = {}
        self.returned_at = 0.0

    def run(self) -> None:
        port, logs = self.server.port, self.server.log_dir
        try:
            redis.Redis(port=port).shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # it closes the connection as it goes
        self.server.popen.wait(10)
        self.server.stop()
        started = time.monotonic()
        self.probe()
        time.sleep(max(0, OUTAGE_SECONDS - (time.monotonic() - started)))  # the outage's length, by design
        self.server = RedisServer(logs, port=port)
        self.returned_at = time.monotonic()

    def probe(self) -> None:
        user, key = self.sessions[0]
        cookies = {"sessionid": key}
        self.during["sign-in"] = self.deployed.request(
            "POST", "/accounts/login/", form={"login": user.email, "password": PASSWORD}
        )
        form = {"project": self.project.id, "executor": "echo", "prompt": "during the outage"}
        self.during["task"] = self.deployed.request("POST", "/tasks/new/", cookies=cookies, form=form)
        self.during["hosts page"] = self.deployed.get("/hosts/", cookies=cookies)
        self.during["health"] = self.deployed.get("/healthz")


async def through_the_outage(deployed, outage, links, phones, projects):
    until, stop = time.monotonic() + 3600, asyncio.Event()  # both end when the test has seen enough
    pages, hosts = await linked(links, phones, until, stop, ping_every=2, batch_every=3)
    await asyncio.to_thread(outage.run)
    await asyncio.to_thread(wait_until, deployed.healthy, timeout=30, what="/healthz after Redis returned")
    # Sockets renew their groups on the next ping or heartbeat; then every batch must be heard again.
    back = time.monotonic()
    await wait_for(lambda: all(any(t > back for t in p.pong_times) for p in phones), "a ping on each page")
    await wait_for(lambda: all(any(t > back for t in ln.heartbeat_ack_times) for ln in links), "heartbeats")
    rejoined = time.monotonic()
    await wait_for(lambda: all(sum(t > rejoined for t in ln.batch_times) >= 2 for ln in links), "new batches")
    sent_after = sum(t > rejoined for ln in links for t in ln.batch_times)
    await wait_for(
        lambda: sum(t > rejoined for p in phones for t in p.mirror_times) >= sent_after, "their events"
    )
    online = await asyncio.to_thread(closing_connection, online_hosts)
    # A task sent now goes out through the worker, which found the broker again by itself.
    key = outage.sessions[1][1]
    form = {"project": projects[1].id, "executor": "echo", "prompt": "after the outage"}
    cookies = {"sessionid": key}
    status, _ = await asyncio.to_thread(deployed.request, "POST", "/tasks/new/", cookies=cookies, form=form)
    await wait_for(lambda: links[1].tasks_done, "the task to reach its host")
    stop.set()
    for host in hosts:
        host.cancel()  # its reader stops first: the close is the test's, not the hub's
    await asyncio.gather(*pages, *hosts, return_exceptions=True)
    return online, status


def online_hosts() -> int:
    return sum(host.online for host in Host.objects.filter(name__startswith="outage-"))


def test_a_ten_second_redis_outage_under_load(fleet, private_redis, deployed):
    team, hosts, projects, sessions = fleet
    links, phones = links_and_phones(deployed, hosts, projects, sessions)
    outage = Outage(private_redis, deployed, sessions, projects[0])
    online, task_status = asyncio.run(through_the_outage(deployed, outage, links, phones, projects))

    # While Redis was down: words and a 503 where Redis was needed, and nothing half-written.
    for name in ("sign-in", "task"):
        status, body = outage.during[name]
        assert status == 503, (name, status)
        assert OUTAGE_MESSAGE.split(",")[0] in body.replace("&#x27;", "'"), name
    assert outage.during["hosts page"][0] == 200
    assert outage.during["health"][0] == 503
    assert not Task.objects.filter(prompt="during the outage").exists()

    # The links and pages stayed up; every message was applied exactly once.
    assert_links_held(links, phones, hosts)
    heard = sum(len(phone.mirror_times) for phone in phones)
    assert heard <= sum(link.batches for link in links)  # nothing doubled

    # Presence was right after Redis returned, and a task went out through the worker.
    assert online == HOSTS
    assert task_status == 302
    task = Task.objects.get(prompt="after the outage")
    assert links[1].tasks_done == [task.id]
    succeeded = lambda: Task.objects.get(id=task.id).state == TaskState.SUCCEEDED  # noqa: E731
    wait_until(succeeded, timeout=10, what="the task to succeed")

    # Nothing restarted, and no request ever got a 500.
    assert all(process.popen.poll() is None for process in deployed.processes)
    assert "Internal Server Error" not in deployed.daphne.output()
