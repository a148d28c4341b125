"""Git decisions over the real sockets: /ws/host/ carries a git.request to an online host
at once, to an offline one when its link opens, and again on every link open until the
host's git.result comes back on stream `git`; then a page following the task or the
project hears of it on /ws/ui/."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tasks import git
from tasks.models import GitAction
from tests.kits.common import login, make_host, make_owner
from tests.kits.git_stream import COMMIT, git_project, worktree_task
from tests.kits.hostlink import open_link
from tests.kits.task_stream import CLAUDE, offering
from tests.kits.ui_socket import OUR_ORIGIN, headers_for, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def setup(transactional_db):
    user, team = make_owner("mia@example.com", "Team A")
    host, token = make_host(team, "Studio")
    project = git_project(offering(host, CLAUDE))
    return {
        "user": user,
        "host": host,
        "token": token,
        "project": project,
        "task": worktree_task(project, user),
    }


def commit(setup) -> GitAction:
    return git.git_commit(user=setup["user"], task=setup["task"], message="Greet the world")


async def result_frame(communicator, seq: int, **payload) -> dict:
    """The host sends a git.result; the hub's ack."""
    await communicator.send_json_to({"type": "git.result", "stream": "git", "seq": seq, "payload": payload})
    return await communicator.receive_json_from(timeout=5)


async def test_an_online_host_gets_the_request_at_once_and_its_result_is_kept(setup):
    communicator = await open_link(setup["token"])
    action = await database_sync_to_async(commit)(setup)
    frame = await communicator.receive_json_from(timeout=5)
    assert frame == action.params and frame["type"] == "git.request" and frame["action"] == "commit"
    ack = await result_frame(communicator, 1, request=action.request, ok=True, commit=COMMIT)
    assert ack == {"type": "ack", "stream": "git", "seq": 1}
    await database_sync_to_async(action.refresh_from_db)()
    assert action.state == "succeeded"
    await communicator.disconnect()


async def test_a_pending_request_goes_out_on_every_link_open_until_answered(setup):
    action = await database_sync_to_async(commit)(setup)
    first = await open_link(setup["token"])
    assert await first.receive_json_from(timeout=5) == action.params
    await first.disconnect()
    second = await open_link(setup["token"])
    assert await second.receive_json_from(timeout=5) == action.params
    await result_frame(second, 1, request=action.request, ok=False, error="fatal: index.lock exists")
    await second.disconnect()
    third = await open_link(setup["token"])
    assert await third.receive_nothing(timeout=0.3)
    await third.disconnect()
    await database_sync_to_async(action.refresh_from_db)()
    assert (action.state, action.error) == ("failed", "fatal: index.lock exists")


async def test_a_result_for_an_unknown_or_answered_request_is_acked_and_ignored(setup):
    communicator = await open_link(setup["token"])
    action = await database_sync_to_async(commit)(setup)
    await communicator.receive_json_from(timeout=5)
    unknown = "x" * 32
    assert (await result_frame(communicator, 1, request=unknown, ok=True))["type"] == "ack"
    await result_frame(communicator, 2, request=action.request, ok=True, commit=COMMIT)
    await result_frame(communicator, 3, request=action.request, ok=False, error="too late")
    await database_sync_to_async(action.refresh_from_db)()
    assert (action.state, action.error, action.result["commit"]) == ("succeeded", "", COMMIT)
    assert await database_sync_to_async(GitAction.objects.count)() == 1
    await communicator.disconnect()


async def test_another_hosts_result_does_not_touch_the_request(setup):
    other, other_token = await database_sync_to_async(lambda: make_host(setup["host"].team, "Laptop"))()
    action = await database_sync_to_async(commit)(setup)
    communicator = await open_link(other_token)
    await result_frame(communicator, 1, request=action.request, ok=True, commit=COMMIT)
    await database_sync_to_async(action.refresh_from_db)()
    assert action.state == "pending"
    await communicator.disconnect()


async def heard(page, count: int) -> list[dict]:
    """The next `count` events a page hears of tasks and projects (presence left out)."""
    events: list[dict] = []
    while len(events) < count:
        event = await page.receive_json_from(timeout=5)
        if event["type"] != "host.presence":
            events.append(event)
    return events


async def test_the_task_page_and_the_repository_page_hear_the_result(setup):
    task, project = setup["task"], setup["project"]
    communicator = await open_link(setup["token"])
    client = await database_sync_to_async(lambda: login(Client(), setup["user"]))()
    page, connected, _ = await open_socket(headers_for(client, OUR_ORIGIN))
    assert connected
    await page.receive_json_from(timeout=5)  # hello
    await page.send_json_to({"type": "subscribe", "task": task.id})
    assert await page.receive_json_from(timeout=5) == {"type": "subscribed", "task": task.id}
    await page.send_json_to({"type": "subscribe", "project": project.id})
    assert await page.receive_json_from(timeout=5) == {"type": "subscribed", "project": project.id}
    action = await database_sync_to_async(commit)(setup)
    await communicator.receive_json_from(timeout=5)
    # The task group and the team group both ring: a page that follows the task hears it twice.
    assert await heard(page, 2) == [{"type": "task.changed", "task": task.id, "state": "succeeded"}] * 2
    await result_frame(communicator, 1, request=action.request, ok=True, commit=COMMIT)
    events = await heard(page, 3)
    assert events.count({"type": "task.changed", "task": task.id, "state": "succeeded"}) == 2
    assert {"type": "projects.changed"} in events
    await communicator.disconnect()
    await page.disconnect()
