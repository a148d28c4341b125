"""Agent sessions (docs/protocol.md, "Agent sessions (ACP)"): what the phone
sends to an open session (answers, follow-ups, stop turn, end). One function
per verb; what the host reports is applied in tasks.handlers."""

from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, User
from accounts.permissions import role_can_manage
from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from codexhub.jobs import job_on_commit
from devices.models import ApproveRole, Host
from devices.services import host_group
from tasks.messages import answer_message, followup_message
from tasks.models import PermissionRequest, PermissionState, SessionState, Task, TaskMessage, TaskState
from tasks.render import permission_verdict
from tasks.services import (
    ALREADY_FINISHED,
    MAX_PROMPT,
    task_audit,
    task_cancel,
    task_group,
    tell_phones,
    typed_text,
)

MAX_UNDELIVERED = 20
NOT_A_SESSION = "Only an agent session takes this: this task runs a command once."
NO_MESSAGES = "A model drives this task toward its goal: it takes no messages. Send a new task instead."
SESSION_ENDED = "This session has ended: run the task again to start a new one."
NOT_WORKING = "The agent is not working on a turn."
MESSAGE_EMPTY = "Write a message."
MESSAGE_TOO_LONG = f"The message is too long: at most {MAX_PROMPT // 1024} KiB."
MESSAGE_NUL = "The message contains a NUL character."
TOO_MANY_WAITING = f"{MAX_UNDELIVERED} messages already wait for the agent. Wait until it takes some."
ONLY_MANAGERS_ANSWER = "Only the team's owners and admins may answer for this host."
NOT_AN_OPTION = "That is not one of the answers the agent offered."
ALREADY_ANSWERED = "Already answered: {verdict}."
NOT_RUNNING = "The task is not running any more."
NO_SUCH_REQUEST = "No such request."


def may_answer(*, user: User, host: Host) -> bool:
    """Whether the user may answer the permission requests of the host's agents."""
    role = Membership.objects.filter(user=user, team_id=host.team_id).values_list("role", flat=True).first()
    if role is None:
        return False
    return host.approve_role == ApproveRole.MEMBER or role_can_manage(role)


def permission_answer(*, user: User, request: PermissionRequest, option_id: str) -> PermissionRequest:
    """Answer once; the host hears it after the commit, and again on every
    reconnect until it reports the request closed. Raises ServiceError."""
    task = request.task
    if not Membership.objects.filter(user=user, team_id=task.team_id).exists():
        raise ServiceError(NO_SUCH_REQUEST, status=404)
    if not may_answer(user=user, host=task.host):
        raise ServiceError(ONLY_MANAGERS_ANSWER, status=403)
    option = request.option(option_id) if isinstance(option_id, str) else None
    if option is None:
        raise ServiceError(NOT_AN_OPTION)
    with transaction.atomic():
        # Conditional: a second phone (or a notification button) may have answered meanwhile.
        answered = PermissionRequest.objects.filter(
            id=request.id, state=PermissionState.PENDING, task__state=TaskState.RUNNING
        ).update(
            state=PermissionState.ANSWERED, option_id=option_id, answered_by=user, answered_at=timezone.now()
        )
        request.refresh_from_db()
        if not answered:
            if not request.pending:
                raise ServiceError(ALREADY_ANSWERED.format(verdict=permission_verdict(request)), status=409)
            raise ServiceError(NOT_RUNNING, status=409)
        task_audit(
            task=task,
            action="task.permission_answered",
            actor=user,
            request=request.request_id,
            title=request.title,
            option=option_id,
        )
        group_send_on_commit(host_group(task.host_id), answer_message(request))
        tell_permission(request)
    return request


def task_message_send(*, user: User, task: Task, text: str) -> TaskMessage:
    """A follow-up for the session: the agent takes it when its turn ends. Raises ServiceError."""
    if not task.is_session:
        raise ServiceError(NOT_A_SESSION, status=409)
    if task.model_drives:
        raise ServiceError(NO_MESSAGES, status=409)
    text = typed_text(text, empty=MESSAGE_EMPTY, too_long=MESSAGE_TOO_LONG, nul=MESSAGE_NUL)
    with transaction.atomic():
        task = Task.objects.select_for_update().get(id=task.id)  # one count at a time
        if not task.session_open:
            raise ServiceError(SESSION_ENDED, status=409)
        if task.messages.filter(delivered_at__isnull=True).count() >= MAX_UNDELIVERED:
            raise ServiceError(TOO_MANY_WAITING, status=429)
        message = TaskMessage.objects.create(task=task, text=text, created_by=user)
        task_audit(task=task, action="task.message_sent", actor=user, text=text[:1000])
        if task.state in (TaskState.ASSIGNED, TaskState.RUNNING):
            group_send_on_commit(host_group(task.host_id), followup_message(message))
        tell_timeline(task, f"message:{message.id}")
    return message


def task_interrupt(*, user: User, task: Task) -> Task:
    """Stop the running turn; the session stays open. Raises ServiceError."""
    if not task.is_session:
        raise ServiceError(NOT_A_SESSION, status=409)
    task.refresh_from_db()
    if task.state != TaskState.RUNNING or task.session_state != SessionState.WORKING:
        raise ServiceError(NOT_WORKING, status=409)
    with transaction.atomic():
        task_audit(task=task, action="task.interrupt_requested", actor=user)
        group_send_on_commit(host_group(task.host_id), {"type": "task.interrupt", "task_id": task.id})
    return task


def task_end(*, user: User, task: Task) -> Task:
    """Ask the host (once) to end the session. Raises ServiceError."""
    if not task.is_session:
        raise ServiceError(NOT_A_SESSION, status=409)
    if task.state == TaskState.QUEUED:
        return task_cancel(task=task, user=user)  # the host never got it: nothing to end there
    with transaction.atomic():
        asked = Task.objects.filter(
            id=task.id, state__in=(TaskState.ASSIGNED, TaskState.RUNNING), end_requested_at__isnull=True
        ).update(end_requested_at=timezone.now())
        task.refresh_from_db()
        if not asked:
            if task.finished:
                raise ServiceError(ALREADY_FINISHED, status=409)
            return task  # asked before: one effect
        task_audit(task=task, action="task.end_requested", actor=user)
        group_send_on_commit(host_group(task.host_id), {"type": "task.end", "task_id": task.id})
        tell_phones(task)
    return task


def tell_timeline(task: Task, key: str) -> None:
    group_send_on_commit(task_group(task.id), {"type": "task.item", "task": task.id, "key": key})


def tell_permission(request: PermissionRequest) -> None:
    event = {
        "type": "task.permission",
        "task": request.task_id,
        "request": request.id,
        "state": request.state,
    }
    group_send_on_commit(task_group(request.task_id), event)
    if not request.pending:
        _clear_notices(request.id)


def _clear_notices(request_id: int) -> None:
    """Answered here or elsewhere, or closed: take its notification off every device."""
    from tasks.jobs import clear_permission_job

    job_on_commit(clear_permission_job, request_id)
