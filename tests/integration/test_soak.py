"""The production path held over time (issue 13): the README's Deploy settings
on Postgres and Redis, real daphne, a Celery worker and beat; 50 host links and
5 phone sockets held for a minute with heartbeats and traffic. Nothing may
close, presence must not flap, and every event must reach the phones.

The traffic comes in bursts with quiet stretches between them, as a team's
fleet is mostly idle: a quiet process channel is where a Redis read timeout
under channels-redis's 5 s blocking reads closed every socket."""

import asyncio
import os
import time

import pytest

from devices.models import Host
from tasks.models import Task, TaskState
from tests.kits.deployed import (
    assert_links_held,
    closing_connection,
    linked,
    links_and_phones,
    signed_in_fleet,
    wait_for,
)
from tests.kits.processes import wait_until

HOSTS, PHONES = 50, 5
SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", 60))
BATCH_EVERY = 3.0  # seconds between one host's mirror batches, while busy
BUSY, QUIET = 10.0, 15.0  # seconds of traffic, then of heartbeats only, in turn
BURSTS = [start for start in range(0, int(SOAK_SECONDS), int(BUSY + QUIET))]
TASK_TIMES = [start + offset for start in BURSTS for offset in (2, 5, 8)]  # seconds into the soak
TASKS = len(TASK_TIMES)


@pytest.fixture
def fleet(transactional_db, client):
    return signed_in_fleet(client, "soak", HOSTS, PHONES)


def busy_now(started: float) -> bool:
    elapsed = time.monotonic() - started
    return any(start <= elapsed < start + BUSY for start in BURSTS)


def send_tasks(deployed, sessions, projects, team, started: float) -> tuple[list[int], int]:
    """The phones send tasks over HTTP, as the task form does, during the bursts;
    then how many hosts the database holds online."""
    statuses = []
    for n, at in enumerate(TASK_TIMES):
        time.sleep(max(0, started + at - time.monotonic()))  # pacing the load, not waiting for an event
        _, key = sessions[n % len(sessions)]
        project = projects[n * 7 % len(projects)]
        form = {"project": project.id, "executor": "echo", "prompt": f"soak task {n}"}
        statuses.append(deployed.request("POST", "/tasks/new/", cookies={"sessionid": key}, form=form)[0])
    online = closing_connection(lambda: sum(host.online for host in Host.objects.filter(team=team)))
    return statuses, online


async def soak(deployed, links, phones, sessions, projects, team):
    until, stop = time.monotonic() + SOAK_SECONDS + 15, asyncio.Event()
    started = [time.monotonic() + 15]  # once every link is up (set below)
    busy = lambda: busy_now(started[0])  # noqa: E731
    pages, hosts = await linked(links, phones, until, stop, ping_every=20, batch_every=BATCH_EVERY, busy=busy)
    started[0] = time.monotonic()
    statuses, online = await asyncio.to_thread(send_tasks, deployed, sessions, projects, team, started[0])
    await asyncio.gather(*hosts)
    batches = sum(link.batches for link in links)
    heard = lambda: sum(len(phone.mirror_times) for phone in phones)  # noqa: E731
    await wait_for(lambda: heard() >= batches, "the pages to hear every batch")
    stop.set()
    await asyncio.gather(*pages)
    return statuses, online, started[0] + SOAK_SECONDS


def test_fifty_hosts_and_five_phones_hold_for_a_minute_on_redis(fleet, deployed):
    team, hosts, projects, sessions = fleet
    links, phones = links_and_phones(deployed, hosts, projects, sessions)

    statuses, online, until = asyncio.run(soak(deployed, links, phones, sessions, projects, team))

    # Nothing closed that the test did not close itself; every mirror batch applied once.
    assert_links_held(links, phones, hosts)
    # Heartbeats were answered all along, and no host was ever shown offline.
    assert min(link.heartbeat_acks for link in links) >= SOAK_SECONDS / 2 - 2
    flaps = [host for phone in phones for at, host in phone.presence if at < until and not host["online"]]
    assert flaps == []
    assert online == HOSTS
    # Each batch's event reached the phone watching it, and no link saw an error.
    assert [link.errors for link in links if link.errors] == []
    sent = {project.id: link.batches for project, link in zip(projects, links, strict=True)}
    heard = {project: count for phone in phones for project, count in phone.mirror_events.items()}
    assert heard == sent
    # The tasks went out through the worker, ran once on their host, and ended.
    assert statuses == [302] * TASKS
    wait_until(
        lambda: Task.objects.filter(state=TaskState.SUCCEEDED).count() == TASKS,
        timeout=30,
        what="every task to succeed",
    )
    assert sorted(len(link.tasks_done) for link in links if link.tasks_done) == [1] * TASKS
    assert sum(phone.events["task.changed"] for phone in phones) >= TASKS * PHONES
    assert deployed.health()["status"] == "ok"
