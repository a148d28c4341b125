"""Reading tasks for pages and sockets; nothing here writes."""

from accounts.models import User
from tasks.models import Task, TaskLog


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
