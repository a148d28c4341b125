"""Reading tasks for pages and sockets; nothing here writes."""

import re

from accounts.models import User
from devices.models import Host
from tasks.models import Task, TaskArtifact, TaskLog

STEP_SCREENSHOT = re.compile(r"step-(\d+)\.png")


def task_get(*, user: User, task_id: int) -> Task:
    """A task of one of the user's teams, or Task.DoesNotExist."""
    return (
        Task.objects.visible_to(user).select_related("host", "project", "created_by", "team").get(id=task_id)
    )


def tasks_for_team(
    *, team_id: int, state: str = "", host_id: int | None = None, project_id: int | None = None
):
    tasks = Task.objects.filter(team_id=team_id).select_related("host", "project", "created_by")
    if state:
        tasks = tasks.filter(state=state)
    if host_id:
        tasks = tasks.filter(host_id=host_id)
    if project_id:
        tasks = tasks.filter(project_id=project_id)
    return tasks.order_by("-id")


def task_log_after(*, task: Task, after: int, limit: int = 500) -> list[TaskLog]:
    return list(task.logs.filter(seq__gt=after).order_by("seq")[:limit])


def task_timeline(*, task: Task) -> dict:
    """What the session page shows: the entries, the permission requests and
    the follow-ups no turn has carried yet."""
    return {
        "items": list(task.items.all()),
        "permissions": list(task.permissions.select_related("answered_by")),
        "waiting": list(task.messages.filter(delivered_at__isnull=True)),
    }


def computer_executor(*, host: Host, name: str) -> dict | None:
    """The host's computer executor `name` that runs steps (not one a model drives), or None."""
    return next(
        (
            executor
            for executor in host.executors
            if executor.get("name") == name
            and executor.get("kind") == "computer"
            and not executor.get("goal")
        ),
        None,
    )


def desktop_screenshot_latest(*, host: Host, executor: str) -> TaskArtifact | None:
    """The newest screenshot of the host's screen through `executor`: the last step screenshot of
    the newest computer task of the host's team on this host with that executor that has one.
    Its bytes are not loaded (the team's artifact view serves them)."""
    shots = TaskArtifact.objects.filter(
        task__host=host,
        task__team_id=host.team_id,
        task__executor=executor,
        task__executor_kind="computer",
        name__startswith="step-",
        content_type="image/png",
    ).defer("data")
    newest = shots.order_by("-task_id").values_list("task_id", flat=True).first()
    if newest is None:
        return None
    return max(shots.filter(task_id=newest), key=_step_index)


def _step_index(artifact: TaskArtifact) -> int:
    match = STEP_SCREENSHOT.fullmatch(artifact.name)
    return int(match.group(1)) if match else -1
