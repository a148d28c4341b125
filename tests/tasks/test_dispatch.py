"""Handing tasks to a host over /ws/host/: in order, again after a reconnect
until acked, cancels included (SECURITY.md 71, 94 at the socket level)."""

import pytest
from channels.db import database_sync_to_async

from tasks import services
from tasks.models import Task, TaskState
from tasks.services import dispatch_on_commit, host_dispatch, task_create
from tests.kits.hostlink import frames, open_link
from tests.kits.task_stream import TaskStream, make_task, studio_of_one

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def setup(transactional_db):
    return studio_of_one()


def queue(setup, *prompts: str) -> list[Task]:
    return [make_task(setup["project"], setup["user"], prompt=p) for p in prompts]


async def test_queued_tasks_go_out_in_order_when_the_host_connects(setup):
    tasks = await database_sync_to_async(queue)(setup, "one", "two", "three")
    communicator = await open_link(setup["token"])
    got = await frames(communicator, 3)
    assert [f["type"] for f in got] == ["task.assign"] * 3
    assert [f["task"]["id"] for f in got] == [t.id for t in tasks]
    assert got[0]["task"] == {
        "id": tasks[0].id,
        "project": "docs",
        "executor": "claude",
        "prompt": "one",
        "target": "",
        "workspace": "working_copy",
    }
    states = await database_sync_to_async(lambda: set(Task.objects.values_list("state", flat=True)))()
    assert states == {"assigned"}
    await communicator.disconnect()


async def test_a_task_for_an_online_host_goes_out_at_once(setup):
    communicator = await open_link(setup["token"])
    (task,) = await database_sync_to_async(queue)(setup, "now")
    assert await database_sync_to_async(host_dispatch)(host_id=setup["host"].id) == 1
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "task.assign" and frame["task"]["id"] == task.id
    # A second dispatch finds nothing queued: the task is not sent twice.
    assert await database_sync_to_async(host_dispatch)(host_id=setup["host"].id) == 0
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_an_unacked_assignment_is_sent_again_on_reconnect_and_not_after_the_ack(setup):
    (task,) = await database_sync_to_async(queue)(setup, "again")
    first = await open_link(setup["token"])
    assert (await first.receive_json_from(timeout=5))["task"]["id"] == task.id
    await first.disconnect()
    second = await open_link(setup["token"])
    assert (await second.receive_json_from(timeout=5))["task"]["id"] == task.id
    await database_sync_to_async(TaskStream(setup["host"].id).received)(task.id)
    await second.disconnect()
    third = await open_link(setup["token"])
    assert await third.receive_nothing(timeout=0.3)
    await third.disconnect()
    task = await database_sync_to_async(Task.objects.get)(id=task.id)
    assert task.assign_count == 2 and task.state == TaskState.ASSIGNED


async def test_a_pending_cancel_is_sent_on_reconnect(setup):
    (task,) = await database_sync_to_async(queue)(setup, "stop me")
    from django.utils import timezone

    await database_sync_to_async(
        lambda: Task.objects.filter(id=task.id).update(
            state=TaskState.RUNNING, received_at=timezone.now(), cancel_requested_at=timezone.now()
        )
    )()
    communicator = await open_link(setup["token"])
    assert await communicator.receive_json_from(timeout=5) == {"type": "task.cancel", "task_id": task.id}
    await communicator.disconnect()


async def test_expired_tasks_are_never_sent(setup):
    from datetime import timedelta

    from django.utils import timezone

    (task,) = await database_sync_to_async(queue)(setup, "too late")
    past = timezone.now() - timedelta(seconds=1)
    await database_sync_to_async(lambda: Task.objects.filter(id=task.id).update(expires_at=past))()
    communicator = await open_link(setup["token"])
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


def create(setup, prompt: str) -> Task:
    """A task made as the phone makes one (committed: these tests run in autocommit)."""
    return task_create(user=setup["user"], project_id=setup["project"].id, executor="claude", prompt=prompt)


async def test_creating_a_task_sends_it_to_its_online_host_from_the_request(setup, monkeypatch):
    """No job in between: the assignment leaves once the task is committed."""
    monkeypatch.setattr(services, "dispatch_on_commit", dispatch_on_commit)  # the real one, not the tests'
    published = []
    monkeypatch.setattr(services, "publish", lambda job, *args: published.append((job.name, args)))
    communicator = await open_link(setup["token"])
    task = await database_sync_to_async(create)(setup, "at once")
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "task.assign" and frame["task"]["id"] == task.id
    assert published == []
    await communicator.disconnect()


async def test_a_dispatch_that_fails_in_the_request_is_handed_to_the_job(setup, monkeypatch):
    monkeypatch.setattr(services, "dispatch_on_commit", dispatch_on_commit)
    published = []
    monkeypatch.setattr(services, "publish", lambda job, *args: published.append((job.name, args)))

    def broken(*, host_id):
        raise ConnectionError("the channel layer is gone")

    monkeypatch.setattr(services, "host_dispatch", broken)
    task = await database_sync_to_async(create)(setup, "later")
    assert published == [("tasks.jobs.dispatch_job", (setup["host"].id,))]
    assert (await database_sync_to_async(Task.objects.get)(id=task.id)).state == TaskState.QUEUED
