"""An agent session over the real sockets: /ws/host/ forwards the phone's
answers, follow-ups, Stop turn and End session to the host (and sends again
what the host has not reported after a reconnect); /ws/ui/ rings a page
subscribed to the task on each timeline change."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tasks import sessions
from tests.kits.common import login
from tests.kits.hostlink import frames, open_link
from tests.kits.sessions import EXECUTORS, SessionStream, ask, make_session
from tests.kits.task_stream import studio_of_one
from tests.kits.ui_socket import OUR_ORIGIN, headers_for, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def setup(transactional_db):
    studio = studio_of_one(*EXECUTORS)
    task = make_session(studio["project"], studio["user"], session_state="working")
    return {**studio, "task": task, "request": ask(task)}


async def test_the_host_link_forwards_what_the_phone_sends(setup):
    user, task = setup["user"], setup["task"]
    communicator = await open_link(setup["token"])
    await database_sync_to_async(sessions.permission_answer)(
        user=user, request=setup["request"], option_id="allow"
    )
    message = await database_sync_to_async(sessions.task_message_send)(user=user, task=task, text="And docs")
    await database_sync_to_async(sessions.task_interrupt)(user=user, task=task)
    await database_sync_to_async(sessions.task_end)(user=user, task=task)
    assert await frames(communicator, 4) == [
        {"type": "task.answer", "task_id": task.id, "request_id": "p1", "option_id": "allow"},
        {"type": "task.message", "task_id": task.id, "message_id": message.id, "text": "And docs"},
        {"type": "task.interrupt", "task_id": task.id},
        {"type": "task.end", "task_id": task.id},
    ]
    await communicator.disconnect()


async def test_a_reconnect_sends_again_what_the_host_has_not_reported(setup):
    user, task = setup["user"], setup["task"]
    await database_sync_to_async(sessions.permission_answer)(
        user=user, request=setup["request"], option_id="allow"
    )
    message = await database_sync_to_async(sessions.task_message_send)(user=user, task=task, text="And docs")
    await database_sync_to_async(sessions.task_end)(user=user, task=task)
    expected = [
        {"type": "task.answer", "task_id": task.id, "request_id": "p1", "option_id": "allow"},
        {"type": "task.message", "task_id": task.id, "message_id": message.id, "text": "And docs"},
        {"type": "task.end", "task_id": task.id},
    ]
    first = await open_link(setup["token"])
    assert await frames(first, 3) == expected
    await first.disconnect()

    def host_reports():
        stream = SessionStream(setup["host"].id)
        stream.permission_closed(task.id, "p1", "selected", "allow")
        stream.turn(task.id, "working", message_id=message.id)

    await database_sync_to_async(host_reports)()
    second = await open_link(setup["token"])
    assert await frames(second, 1) == [{"type": "task.end", "task_id": task.id}]
    assert await second.receive_nothing(timeout=0.3)
    await second.disconnect()


async def test_a_page_hears_of_timeline_changes(setup):
    task = setup["task"]
    client = await database_sync_to_async(lambda: login(Client(), setup["user"]))()
    communicator, connected, _ = await open_socket(headers_for(client, OUR_ORIGIN))
    assert connected
    await communicator.receive_json_from(timeout=5)  # hello
    await communicator.send_json_to({"type": "subscribe", "task": task.id})
    assert await communicator.receive_json_from(timeout=5) == {"type": "subscribed", "task": task.id}

    def host_sends():
        stream = SessionStream(setup["host"].id)
        stream.item(task.id, "agent:1", "agent", text="Hello")
        stream.turn(task.id, "waiting", stop_reason="end_turn")
        stream.permission(task.id, "p2")

    await database_sync_to_async(host_sends)()
    got = [await communicator.receive_json_from(timeout=5) for _ in range(3)]
    assert got[0] == {"type": "task.item", "task": task.id, "key": "agent:1"}
    assert got[1] == {"type": "task.turn", "task": task.id, "state": "waiting"}
    assert got[2]["type"] == "task.permission" and got[2]["state"] == "pending"
    await communicator.disconnect()
