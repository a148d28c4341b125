"""Watching a computer task live through the real sockets (docs/protocol.md, "Watching a
computer task live"): a page of the task's team asks for frames (`watch` -> the host's
`computer.watch`), the host's frames reach that page and no other, one at a time; a frame for
another host's task, a finished task, or a frame the model refuses is dropped and nothing is
relayed; nothing of a frame is stored. `task.step` fills the step list as each step of a
computer or browser task ends."""

import base64

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from devices.models import Host
from tasks.models import Task, TaskState
from tests.kits.common import login, make_host, make_owner
from tests.kits.hostlink import heartbeat, open_link
from tests.kits.task_stream import TaskStream, make_task, offering, shared_project
from tests.kits.ui_socket import OUR_ORIGIN, headers_for, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

DESK = {"name": "desk", "label": "Desktop", "kind": "computer", "needs_file": False, "actions": ["click"]}
STEPS = [{"action": "click", "x": 10, "y": 20}, {"action": "screenshot"}]
BROWSER_STEPS = [{"action": "open", "url": "https://shop.example.com/"}, {"action": "read", "selector": "h1"}]
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60  # what the hub checks of an image: its first bytes
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60


def frame(task_id: int, number: int = 1, image: bytes = JPEG, **fields) -> dict:
    mime = "image/png" if image.startswith(b"\x89PNG") else "image/jpeg"
    message = {"type": "computer.frame", "task_id": task_id, "frame": number, "mime": mime,
               "width": 390, "height": 293, "data": base64.b64encode(image).decode()}  # fmt: skip
    return {**message, **fields}


async def heard(communicator) -> dict:
    """The next message a page gets, past the presence of hosts (a link opening rings its team)."""
    while True:
        message = await communicator.receive_json_from(timeout=5)
        if message["type"] != "host.presence":
            return message


async def quiet(communicator, timeout: float = 0.3, also: tuple[str, ...] = ()) -> bool:
    """Whether a page gets nothing but the presence of hosts (and `also`) for `timeout` seconds."""
    while not await communicator.receive_nothing(timeout=timeout):
        if (await communicator.receive_json_from())["type"] not in ("host.presence", *also):
            return False
    return True


def relayed(message: dict) -> dict:
    """The frame as a page gets it."""
    fields = ("frame", "mime", "width", "height", "data")
    return {"type": "computer.frame", "task": message["task_id"], **{key: message[key] for key in fields}}


def two_teams() -> dict:
    """Team A (mia, her host Studio with a computer executor, a running desktop task and a
    finished one, and the same of browser tasks) and team B (carl, his host Garage with its own
    running desktop and browser tasks)."""
    mia, team_a = make_owner("mia@example.com", "Team A")
    carl, team_b = make_owner("carl@example.com", "Team B")
    studio, studio_token = make_host(team_a, "Studio")
    garage, garage_token = make_host(team_b, "Garage")
    ours, theirs = shared_project(offering(studio, DESK)), shared_project(offering(garage, DESK))
    desktop = {"executor": "desk", "executor_kind": "computer", "steps": STEPS}
    browser = {"executor": "browser", "executor_kind": "browser", "steps": BROWSER_STEPS}
    return {
        "mia": mia,
        "carl": carl,
        "studio": studio,
        "studio_token": studio_token,
        "garage": garage,
        "running": make_task(ours, mia, state=TaskState.RUNNING, **desktop),
        "done": make_task(ours, mia, state=TaskState.SUCCEEDED, **desktop),
        "prompt": make_task(ours, mia, state=TaskState.RUNNING),
        "garage_task": make_task(theirs, carl, state=TaskState.RUNNING, **desktop),
        "browsing": make_task(ours, mia, state=TaskState.RUNNING, **browser),
        "browsed": make_task(ours, mia, state=TaskState.SUCCEEDED, **browser),
        "garage_browsing": make_task(theirs, carl, state=TaskState.RUNNING, **browser),
    }


@pytest.fixture
def world(transactional_db):
    return two_teams()


async def page(user, task: Task | None = None):
    """A page socket of `user`, subscribed to `task` (if given and allowed)."""
    client = await database_sync_to_async(lambda: login(Client(), user))()
    communicator, connected, _ = await open_socket(headers_for(client, OUR_ORIGIN))
    assert connected
    assert (await heard(communicator))["type"] == "hello"
    if task is not None:
        await communicator.send_json_to({"type": "subscribe", "task": task.id})
        await heard(communicator)  # subscribed, or "no such task"
    return communicator


async def test_a_frame_reaches_the_pages_of_its_team_only(world):
    task = world["running"]
    mine, other_task = await page(world["mia"], task), await page(world["mia"], world["done"])
    carl = await page(world["carl"])
    await carl.send_json_to({"type": "subscribe", "task": task.id})
    assert await heard(carl) == {"type": "error", "error": "no such task"}
    host = await open_link(world["studio_token"])
    sent = frame(task.id)
    await host.send_json_to(sent)
    assert await heard(mine) == relayed(sent)
    assert await quiet(carl) and await quiet(other_task, 0.1)
    await heartbeat(host)  # nothing was answered to the frame itself: no ack, no error
    for communicator in (mine, other_task, carl, host):
        await communicator.disconnect()


def counts(world) -> tuple:
    """What a frame must never change: the host's refusals and stream positions, the tasks."""
    host = Host.objects.get(id=world["studio"].id)
    tasks = list(Task.objects.order_by("id").values_list("id", "state", "step_results"))
    return host.refused_count, list(host.streams.values_list("name", "last_seq")), tasks


HOSTILE = [
    ("garage_task", {}, "computer.frame: no task {task} for this host"),
    ("prompt", {}, "computer.frame: task {task} is not a computer task"),
    ("running", {"task_id": 2**62}, "computer.frame: no task 4611686018427387904 for this host"),
    ("running", {"data": base64.b64encode(b"\xff\xd8\xff" + b"\x00" * (256 * 1024)).decode()},
     "computer.frame: data: must have at most 349528 characters"),
    ("running", {"data": "not base64!"}, "computer.frame: data must be base64"),
    ("running", {"data": base64.b64encode(b"<svg onload=alert(1)>").decode()},
     "computer.frame: data is not a JPEG image"),
    ("running", {"mime": "image/svg+xml"}, "computer.frame: mime: must be 'image/jpeg' or 'image/png'"),
    ("running", {"mime": "image/png"}, "computer.frame: data is not a PNG image"),
    ("running", {"width": 4000}, "computer.frame: width: must be less than or equal to 780"),
    ("running", {"frame": 0}, "computer.frame: frame: must be greater than 0"),
    ("running", {"task_id": "7"}, "computer.frame: task_id: must be an integer"),
    ("running", {"data": 12}, "computer.frame: data: must be a string"),
]  # fmt: skip


@pytest.mark.parametrize(("task", "changes", "error"), HOSTILE, ids=[e for _, _, e in HOSTILE])
async def test_a_frame_the_hub_refuses_is_relayed_nowhere(world, task, changes, error):
    task_id = world[task].id
    watching = [await page(world["mia"], world[name]) for name in ("running", "prompt")]
    carl = await page(world["carl"], world["garage_task"])
    host = await open_link(world["studio_token"])
    before = await database_sync_to_async(counts)(world)
    await host.send_json_to({**frame(task_id), **changes})
    answer = await host.receive_json_from(timeout=5)
    assert answer == {"type": "error", "error": error.format(task=task_id)}
    for communicator in (*watching, carl):
        assert await quiet(communicator, 0.1)
    refused, streams, tasks = await database_sync_to_async(counts)(world)
    assert (refused, streams, tasks) == (before[0] + 1, before[1], before[2])
    for communicator in (*watching, carl, host):
        await communicator.disconnect()


async def test_a_frame_of_a_task_that_ended_is_dropped_quietly(world):
    mine = await page(world["mia"], world["running"])
    host = await open_link(world["studio_token"])
    await host.send_json_to(frame(world["running"].id, 1))
    assert (await heard(mine))["frame"] == 1
    await mine.send_json_to({"type": "frame.shown", "task": world["running"].id})
    ended = {"task_id": world["running"].id, "outcome": "cancelled"}
    await host.send_json_to({"type": "task.finished", "stream": "tasks", "seq": 1, "payload": ended})
    assert await host.receive_json_from(timeout=5) == {"type": "ack", "stream": "tasks", "seq": 1}
    assert (await heard(mine))["type"] == "task.changed"
    # A frame that crossed the end on the link: no error (the host did nothing wrong), no page.
    await host.send_json_to(frame(world["running"].id, 2))
    await host.send_json_to(frame(world["done"].id, 1))
    await heartbeat(host)
    assert await quiet(mine, also=("task.changed",))  # the end rings the page more than once
    await mine.disconnect()
    await host.disconnect()


async def test_a_slow_page_gets_the_latest_frame_not_a_backlog(world):
    task_id = world["running"].id
    mine = await page(world["mia"], world["running"])
    host = await open_link(world["studio_token"])
    for number in (1, 2, 3):
        await host.send_json_to(frame(task_id, number, PNG if number == 3 else JPEG))
    assert (await heard(mine))["frame"] == 1
    assert await quiet(mine)  # 2 and 3 wait for the page to show 1
    await mine.send_json_to({"type": "frame.shown", "task": task_id})
    latest = await heard(mine)
    assert (latest["frame"], latest["mime"]) == (3, "image/png")  # 2 was dropped
    await mine.send_json_to({"type": "frame.shown", "task": task_id})
    await host.send_json_to(frame(task_id, 4))
    assert (await heard(mine))["frame"] == 4
    await mine.disconnect()
    await host.disconnect()


async def test_a_page_watching_tells_the_host_and_only_for_its_own_running_desktop_task(world):
    task = world["running"]
    host = await open_link(world["studio_token"])
    mine = await page(world["mia"], task)
    await mine.send_json_to({"type": "watch", "task": task.id})
    assert await host.receive_json_from(timeout=5) == {
        "type": "computer.watch",
        "task_id": task.id,
        "seconds": 15,
    }
    await mine.send_json_to({"type": "watch", "task": task.id})  # again at once: not passed on
    assert await host.receive_nothing(timeout=0.3)
    # A finished task, a task that is no desktop, a task the page does not follow: nothing.
    for other in ("done", "prompt"):
        follower = await page(world["mia"], world[other])
        await follower.send_json_to({"type": "watch", "task": world[other].id})
        await follower.disconnect()
    carl = await page(world["carl"], task)
    await carl.send_json_to({"type": "watch", "task": task.id})
    assert await heard(carl) == {"type": "error", "error": "no such task"}
    await mine.send_json_to({"type": "watch", "task": world["garage_task"].id})
    assert await heard(mine) == {"type": "error", "error": "no such task"}
    assert await host.receive_nothing(timeout=0.3)
    for communicator in (mine, carl, host):
        await communicator.disconnect()


STEP_TASKS = {
    "computer": ("running", "done", "garage_task"),
    "browser": ("browsing", "browsed", "garage_browsing"),
}


@pytest.mark.parametrize("kind", list(STEP_TASKS))
async def test_each_step_fills_the_page_as_it_ends(world, kind):
    from accounts.models import AuditEvent

    task, done, theirs = (world[name] for name in STEP_TASKS[kind])
    mine = await page(world["mia"], task)
    stream = TaskStream(world["studio"].id)
    action = task.steps[0]["action"]
    step = {"index": 0, "action": action, "ok": True, "error": "", "text": None, "artifact": "step-0.png"}
    result = await database_sync_to_async(stream.send)("task.step", {"task_id": task.id, "step": step})
    assert await heard(mine) == {"type": "task.step", "task": task.id, "index": 0}
    await database_sync_to_async(task.refresh_from_db)()
    assert task.step_results == [step] and task.state == TaskState.RUNNING
    # Only input on a desktop is audited as such.
    audited = AuditEvent.objects.filter(action="computer.step").acount()
    assert await audited == (1 if kind == "computer" else 0)
    # A step the task does not have, or of another host's task, is refused; one after the end
    # leaves the final list alone.
    beyond = await database_sync_to_async(stream.send)(
        "task.step", {"task_id": task.id, "step": {**step, "index": 2}}
    )
    other = await database_sync_to_async(stream.send)("task.step", {"task_id": theirs.id, "step": step})
    late = await database_sync_to_async(stream.send)("task.step", {"task_id": done.id, "step": step})
    for each in (task, done, theirs):
        await database_sync_to_async(each.refresh_from_db)()
    assert result.outcome == "applied" and late.outcome == "applied"
    assert (task.step_results, done.step_results, theirs.step_results) == ([step], [], [])
    assert (beyond.outcome, beyond.error) == ("rejected", f"task {task.id} has 2 steps, not step 2")
    assert (other.outcome, other.error) == ("rejected", f"no task {theirs.id} for this host")
    assert await quiet(mine)
    await mine.disconnect()
