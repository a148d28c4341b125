"""Watching a computer task live (docs/protocol.md, "Watching a computer task live").

A page that shows a computer task asks for its live view now and then (`watch`); the hub
tells the task's host, which then sends frames of its screen for a while (`computer.watch`).
Each frame goes from the host's link to the task's group on the channel layer and on to the
pages subscribed to it (of the task's team only: codexhub.ui), never into the database or
the host's outbox. Only a running computer task of the host that sends it gets its frames
relayed; the host link asks `frame_group` (devices.hooks.on_live_frame)."""

from devices.hooks import FrameTarget
from protocol import limits
from tasks.models import Task, TaskState
from tasks.services import task_group

COMPUTER = "computer"
WATCHABLE = (TaskState.QUEUED, TaskState.ASSIGNED, TaskState.RUNNING)


def watched_task_host(*, user, task_id: int) -> int | None:
    """The host to tell that `user` watches task `task_id`, or None: only for a computer task
    of one of the user's teams that has not ended."""
    tasks = Task.objects.visible_to(user).filter(id=task_id, executor_kind=COMPUTER, state__in=WATCHABLE)
    host_id: int | None = tasks.values_list("host_id", flat=True).first()
    return host_id


def watch_message(task_id: int) -> dict:
    """What the host's link is sent, to pass on as `computer.watch`."""
    return {"type": "computer.watch", "task_id": task_id, "seconds": limits.LIVE_WATCH}


def frame_group(*, host_id: int, task_id: int) -> FrameTarget:
    """The task's group for a running computer task of the host; none for one that is not
    running (a frame that crossed the task's end: dropped); refused for any other task."""
    task = Task.objects.filter(id=task_id).values("host_id", "state", "executor_kind").first()
    if task is None or task["host_id"] != host_id:
        return FrameTarget(refused=f"no task {task_id} for this host")
    if task["executor_kind"] != COMPUTER:
        return FrameTarget(refused=f"task {task_id} is not a computer task")
    if task["state"] != TaskState.RUNNING:
        return FrameTarget()
    return FrameTarget(group=task_group(task_id))
