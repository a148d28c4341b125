"""The notices of tasks: a task ended, an agent session waits for its sender,
an agent asks for a permission (with Allow / Reject buttons whose tokens
answer for one user only). notifications.services carries them."""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.timesince import timesince

from accounts.models import User
from accounts.permissions import manager_users_of
from codexhub.errors import ServiceError
from notifications.services import (
    Notice,
    notice_clear,
    notice_push,
    notice_was_sent,
    preference_for,
    reminders_due,
    team_reminder,
)
from projects.paths import path_visible
from tasks.models import PermissionRequest, PermissionState, Task, TaskState
from tasks.sessions import may_answer

ANSWER_SALT = "codexhub.notifications.permission-answer"  # kept: tokens already sent still answer
OUTCOME_TITLES: dict[str, str] = {
    TaskState.SUCCEEDED: "Done",
    TaskState.FAILED: "Failed",
    TaskState.CANCELLED: "Cancelled",
    TaskState.EXPIRED: "Expired",
}
ANSWER_NOT_OURS = "That answer is not one this hub sent."
ANSWER_TOO_OLD = "This notification is too old to answer: open the task."
ANSWER_FOR_SOMEONE_ELSE = "This notification was sent to someone else."


def _first_words(text: str, limit: int) -> str:
    """Host and agent text (titles, errors naming files) with hidden characters shown."""
    words = " ".join(path_visible(text).split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def _where(task: Task) -> str:
    return f"{path_visible(task.project.name)} on {task.host.name}"


def _task_with_people(task_id: int) -> Task | None:
    return Task.objects.select_related("project", "host", "created_by").filter(id=task_id).first()


# A task ended -------------------------------------------------------------------------


def task_message(task: Task) -> Notice:
    """Names the outcome, the task's first words, the project and the host; no
    file content, no full prompt, no secret."""
    outcome = OUTCOME_TITLES.get(task.state, task.state)
    if task.error and task.state == TaskState.FAILED:
        outcome = f"Failed: {_first_words(task.error, 40)}"
    return Notice(
        title=f"{outcome} · {_first_words(task.prompt, 60)}",
        body=_where(task),
        url=f"/tasks/{task.id}/",
        tag=f"task-{task.id}",
    )


def _wanted(task: Task, user: User) -> bool:
    preference = preference_for(user=user)
    if task.state == TaskState.SUCCEEDED:
        return preference.task_succeeded
    if task.state == TaskState.CANCELLED and task.cancelled_by_id == task.created_by_id:
        return False  # they stopped it themselves
    return preference.task_failed


def notify_task(*, task_id: int) -> int:
    """Tell the task's sender that it ended, once per device. Returns pushes sent."""
    task = _task_with_people(task_id)
    if task is None or task.created_by is None or not task.finished or not _wanted(task, task.created_by):
        return 0
    return notice_push(user=task.created_by, notice=task_message(task), key=f"task:{task.id}")


# An agent session waits -----------------------------------------------------------------


def notify_turn(*, task_id: int, turn: int) -> int:
    """An agent session's sender: the agent finished a turn and waits for a
    message. Told if they want to hear of finished tasks; each turn once."""
    task = _task_with_people(task_id)
    if task is None or task.created_by is None or not task.session_open:
        return 0
    if not preference_for(user=task.created_by).task_succeeded:
        return 0
    notice = Notice(
        title=f"Your turn · {_first_words(task.prompt, 60)}",
        body=f"The agent waits for your message in {_where(task)}",
        url=f"/tasks/{task.id}/",
        tag=f"task-{task.id}",
    )
    return notice_push(user=task.created_by, notice=notice, key=f"turn:{task.id}:{turn}")


# An agent asks ----------------------------------------------------------------------------


def _pending_request(request_id: int) -> PermissionRequest | None:
    return (
        PermissionRequest.objects.select_related("task__project", "task__host", "task__created_by")
        .filter(id=request_id, state=PermissionState.PENDING)
        .first()
    )


def notify_permission(*, request_id: int) -> int:
    """Ask the people who may answer an agent's permission request: the task's
    sender if their role allows it, else the team's owners and admins. Each
    device once; Web Push carries Allow and Reject buttons."""
    request = _pending_request(request_id)
    if request is None:
        return 0
    sent = 0
    for user in _answerers(request.task):
        if preference_for(user=user).permission_asked:
            notice = permission_message(request, user)
            sent += notice_push(user=user, notice=notice, key=f"permission:{request.id}")
    return sent


def _answerers(task: Task) -> list[User]:
    if task.created_by is not None and may_answer(user=task.created_by, host=task.host):
        return [task.created_by]
    managers = manager_users_of(team_id=task.team_id).order_by("id")
    return [user for user in managers if may_answer(user=user, host=task.host)]


def permission_message(request: PermissionRequest, user: User, *, reminder: bool = False) -> Notice:
    task = request.task
    actions = tuple(
        {"action": f"option-{index}", "title": option["name"], "token": answer_token(request, user, option)}
        for index, option in enumerate(_push_options(request.options))
    )
    asks = "Still waiting" if reminder else "Agent asks"
    since = f"asked {timesince(request.created_at)} ago · " if reminder else ""
    return Notice(
        title=f"{asks}: {_first_words(request.title, 60)}",
        body=f"{since}{_where(task)} · {_first_words(task.prompt, 60)}",
        url=f"/tasks/{task.id}/#permission-{request.id}",
        tag=f"permission-{request.id}",
        actions=actions,
    )


def _push_options(options: list[dict]) -> list[dict]:
    """Two buttons at most (Chrome shows two): allow once and reject once, else
    their "always" kin. Anything else is answered on the page."""
    chosen = []
    for kinds in (("allow_once", "allow_always"), ("reject_once", "reject_always")):
        match = next((o for kind in kinds for o in options if o.get("kind") == kind), None)
        if match is not None:
            chosen.append(match)
    return chosen


def answer_token(request: PermissionRequest, user: User, option: dict) -> str:
    """A signed, user-bound answer: it lets the service worker answer from the
    notification without a CSRF token, and answers nothing for anyone else."""
    return signing.dumps({"r": request.id, "u": user.id, "o": option["option_id"]}, salt=ANSWER_SALT)


def answer_from_token(*, user: User, token: object) -> tuple[int, str]:
    """(request id, option id) a notification button carried. Raises ServiceError."""
    if not isinstance(token, str) or len(token) > 1000:
        raise ServiceError(ANSWER_NOT_OURS)
    try:
        max_age = timedelta(seconds=settings.PERMISSION_ANSWER_MAX_AGE)
        data = signing.loads(token, salt=ANSWER_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise ServiceError(ANSWER_TOO_OLD, status=410) from None
    except signing.BadSignature:
        raise ServiceError(ANSWER_NOT_OURS) from None
    if data.get("u") != user.id:
        raise ServiceError(ANSWER_FOR_SOMEONE_ELSE, status=403)
    return data["r"], data["o"]


# Nobody answered yet ------------------------------------------------------------------------


def _reminder_key(request_id: int) -> str:
    return f"permission-remind:{request_id}"


def permission_reminders() -> int:
    """Remind once of each question that waited longer than its team allows
    (notifications' TeamReminder): the people asked, and with the team's
    escalation its owners and admins too. Run by the housekeeping sweep.
    Returns requests reminded of."""
    pending = PermissionRequest.objects.filter(state=PermissionState.PENDING, task__state=TaskState.RUNNING)
    pending = pending.select_related("task")
    waits = reminders_due(team_ids={request.task.team_id for request in pending})
    now, reminded = timezone.now(), 0
    for request in pending:
        wait = waits.get(request.task.team_id)
        if wait is None or request.created_at > now - wait or notice_was_sent(key=_reminder_key(request.id)):
            continue
        notify_permission_reminder(request_id=request.id)
        reminded += 1
    return reminded


def notify_permission_reminder(*, request_id: int) -> int:
    request = _pending_request(request_id)
    if request is None:
        return 0
    people = [user for user in _answerers(request.task) if preference_for(user=user).permission_asked]
    if _escalates(request.task.team_id):
        managers = manager_users_of(team_id=request.task.team_id).order_by("id")
        people += [
            user for user in managers if user not in people and may_answer(user=user, host=request.task.host)
        ]
    key = _reminder_key(request.id)
    return sum(
        notice_push(user=user, notice=permission_message(request, user, reminder=True), key=key)
        for user in people
    )


def _escalates(team_id: int) -> bool:
    return team_reminder(team_id=team_id).escalate


# Answered ---------------------------------------------------------------------------------


def clear_permission(*, request_id: int) -> int:
    """A request answered (here or on another device) or closed by its host:
    its notices are read in every inbox and taken down from every device."""
    request = PermissionRequest.objects.filter(id=request_id).first()
    if request is None or request.pending:
        return 0
    keys = [f"permission:{request.id}", _reminder_key(request.id)]
    return notice_clear(keys=keys, tag=f"permission-{request.id}")
