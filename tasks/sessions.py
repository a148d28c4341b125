"""Agent sessions (docs/protocol.md, "Agent sessions (ACP)"): what the phone
sends to an open session (answers, follow-ups, stop turn, end) and what the
host reports about it (timeline items, turns, permission requests). One
function per verb; the task itself lives in tasks.services."""

from django.db import transaction
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import MANAGER_ROLES, Membership, User
from codexhub.events import group_send_on_commit
from devices.handlers import InvalidMessage, handles
from devices.models import ApproveRole, Host
from devices.services import host_group
from protocol import limits
from protocol import sessions as protocol_sessions
from tasks.models import (
    PermissionOutcome,
    PermissionRequest,
    PermissionState,
    SessionState,
    Task,
    TaskItem,
    TaskMessage,
    TaskState,
)
from tasks.render import permission_verdict
from tasks.services import (
    ALREADY_FINISHED,
    MAX_PROMPT,
    TaskError,
    answer_message,
    followup_message,
    host_task,
    task_cancel,
    task_group,
    tell_phones,
)

MAX_UNDELIVERED = 20
MAX_PERMISSIONS = 500
NOT_A_SESSION = "Only an agent session takes this: this task runs a command once."
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


# Agent sessions: what the phone sends (docs/protocol.md, "Agent sessions") --------------


def may_answer(*, user: User, host: Host) -> bool:
    """Whether the user may answer the permission requests of the host's agents."""
    role = Membership.objects.filter(user=user, team_id=host.team_id).values_list("role", flat=True).first()
    if role is None:
        return False
    return host.approve_role == ApproveRole.MEMBER or role in MANAGER_ROLES


def permission_answer(*, user: User, request: PermissionRequest, option_id: str) -> PermissionRequest:
    """Answer once; the host hears it after the commit, and again on every
    reconnect until it reports the request closed. Raises TaskError."""
    task = request.task
    if not Membership.objects.filter(user=user, team_id=task.team_id).exists():
        raise TaskError(NO_SUCH_REQUEST, status=404)
    if not may_answer(user=user, host=task.host):
        raise TaskError(ONLY_MANAGERS_ANSWER, status=403)
    option = request.option(option_id) if isinstance(option_id, str) else None
    if option is None:
        raise TaskError(NOT_AN_OPTION)
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
                raise TaskError(ALREADY_ANSWERED.format(verdict=permission_verdict(request)), status=409)
            raise TaskError(NOT_RUNNING, status=409)
        audit_record(
            action="task.permission_answered",
            team_id=task.team_id,
            actor=user,
            target=f"task {task.id} on host {task.host_id}",
            request=request.request_id,
            title=request.title,
            option=option_id,
        )
        group_send_on_commit(host_group(task.host_id), answer_message(request))
        _tell_permission(request)
    return request


def _followup_text(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise TaskError(MESSAGE_EMPTY)
    if len(text) > MAX_PROMPT:
        raise TaskError(MESSAGE_TOO_LONG)
    if "\x00" in text:
        raise TaskError(MESSAGE_NUL)
    return text


def task_message_send(*, user: User, task: Task, text: str) -> TaskMessage:
    """A follow-up for the session: the agent takes it when its turn ends. Raises TaskError."""
    if not task.is_session:
        raise TaskError(NOT_A_SESSION, status=409)
    text = _followup_text(text)
    with transaction.atomic():
        task = Task.objects.select_for_update().get(id=task.id)  # one count at a time
        if not task.session_open:
            raise TaskError(SESSION_ENDED, status=409)
        if task.messages.filter(delivered_at__isnull=True).count() >= MAX_UNDELIVERED:
            raise TaskError(TOO_MANY_WAITING, status=429)
        message = TaskMessage.objects.create(task=task, text=text, created_by=user)
        audit_record(
            action="task.message_sent",
            team_id=task.team_id,
            actor=user,
            target=f"task {task.id} on host {task.host_id}",
            text=text[:1000],
        )
        if task.state in (TaskState.ASSIGNED, TaskState.RUNNING):
            group_send_on_commit(host_group(task.host_id), followup_message(message))
        _tell_timeline(task, f"message:{message.id}")
    return message


def task_interrupt(*, user: User, task: Task) -> Task:
    """Stop the running turn; the session stays open. Raises TaskError."""
    if not task.is_session:
        raise TaskError(NOT_A_SESSION, status=409)
    task.refresh_from_db()
    if task.state != TaskState.RUNNING or task.session_state != SessionState.WORKING:
        raise TaskError(NOT_WORKING, status=409)
    with transaction.atomic():
        audit_record(
            action="task.interrupt_requested",
            team_id=task.team_id,
            actor=user,
            target=f"task {task.id} on host {task.host_id}",
        )
        group_send_on_commit(host_group(task.host_id), {"type": "task.interrupt", "task_id": task.id})
    return task


def task_end(*, user: User, task: Task) -> Task:
    """Ask the host (once) to end the session. Raises TaskError."""
    if not task.is_session:
        raise TaskError(NOT_A_SESSION, status=409)
    if task.state == TaskState.QUEUED:
        return task_cancel(task=task, user=user)  # the host never got it: nothing to end there
    with transaction.atomic():
        asked = Task.objects.filter(
            id=task.id, state__in=(TaskState.ASSIGNED, TaskState.RUNNING), end_requested_at__isnull=True
        ).update(end_requested_at=timezone.now())
        task.refresh_from_db()
        if not asked:
            if task.finished:
                raise TaskError(ALREADY_FINISHED, status=409)
            return task  # asked before: one effect
        audit_record(
            action="task.end_requested",
            team_id=task.team_id,
            actor=user,
            target=f"task {task.id} on host {task.host_id}",
        )
        group_send_on_commit(host_group(task.host_id), {"type": "task.end", "task_id": task.id})
        tell_phones(task)
    return task


def task_timeline(*, task: Task) -> dict:
    """What the session page shows: the entries, the permission requests and
    the follow-ups no turn has carried yet."""
    return {
        "items": list(task.items.all()),
        "permissions": list(task.permissions.select_related("answered_by")),
        "waiting": list(task.messages.filter(delivered_at__isnull=True)),
    }


def _tell_timeline(task: Task, key: str) -> None:
    group_send_on_commit(task_group(task.id), {"type": "task.item", "task": task.id, "key": key})


def _tell_permission(request: PermissionRequest) -> None:
    event = {
        "type": "task.permission",
        "task": request.task_id,
        "request": request.id,
        "state": request.state,
    }
    group_send_on_commit(task_group(request.task_id), event)


def _notify_permission(request: PermissionRequest) -> None:
    from notifications import jobs

    jobs.enqueue(jobs.notify_permission_job, request.id)


def _notify_turn_end(task: Task) -> None:
    """The agent waits for its sender: say so now, not when the session idles out.
    Numbered by the follow-ups delivered, so a repeated report pushes once."""
    from notifications import jobs

    turn = task.messages.filter(delivered_at__isnull=False).count() + 1
    jobs.enqueue(jobs.notify_turn_job, task.id, turn)


# Agent sessions: what the host reports (stream "tasks") ---------------------------------


def _session_task(host_id: int, task_id: int) -> Task:
    task = host_task(host_id, task_id)
    if not task.is_session:
        raise InvalidMessage(f"task {task.id} is not an agent session")
    return task


@handles(protocol_sessions.TaskItem)
def task_item_apply(*, host_id: int, message: protocol_sessions.TaskItem) -> None:
    task = _session_task(host_id, message.task_id)
    key, kind, data = message.key, message.kind, message.data.model_dump()
    if task.finished:
        return
    replaced = TaskItem.objects.filter(task=task, key=key).update(
        kind=kind, data=data, updated_at=timezone.now()
    )
    if not replaced:
        if task.items.count() >= limits.MAX_ITEMS:
            return  # the timeline keeps its first entries; the log still has everything
        TaskItem.objects.create(task=task, key=key, kind=kind, data=data)
    _tell_timeline(task, key)


@handles(protocol_sessions.TaskTurn)
def task_turn_apply(*, host_id: int, message: protocol_sessions.TaskTurn) -> None:
    task = _session_task(host_id, message.task_id)
    state, message_id = message.state, message.message_id
    followup = task.messages.filter(id=message_id).first() if message_id else None
    if message_id and followup is None:
        raise InvalidMessage(f"no message {message_id} in task {task.id}")
    if task.finished:
        return
    if followup and followup.delivered_at is None:
        TaskMessage.objects.filter(id=followup.id).update(delivered_at=timezone.now())
    turn_ended = task.session_state == SessionState.WORKING and state == SessionState.WAITING
    task.session_state = state
    task.save(update_fields=["session_state"])
    if turn_ended and message.stop_reason != "cancelled":  # stopped by a person, who knows
        _notify_turn_end(task)
    group_send_on_commit(task_group(task.id), {"type": "task.turn", "task": task.id, "state": state})


@handles(protocol_sessions.TaskPermission)
def task_permission_apply(*, host_id: int, message: protocol_sessions.TaskPermission) -> None:
    task = _session_task(host_id, message.task_id)
    if task.finished or task.permissions.filter(request_id=message.request_id).exists():
        return  # a repeat: the first request stands
    if task.permissions.count() >= MAX_PERMISSIONS:
        raise InvalidMessage(f"a task has at most {MAX_PERMISSIONS} permission requests")
    request = PermissionRequest.objects.create(
        task=task,
        request_id=message.request_id,
        title=message.title,
        tool_kind=message.tool_kind,
        locations=message.locations,
        diffs=[diff.model_dump() for diff in message.diffs],
        options=[option.model_dump() for option in message.options],
        on_timeout=message.on_timeout,
        timeout_seconds=message.timeout_seconds,
    )
    _tell_permission(request)
    _notify_permission(request)


@handles(protocol_sessions.TaskPermissionClosed)
def task_permission_closed_apply(*, host_id: int, message: protocol_sessions.TaskPermissionClosed) -> None:
    task = _session_task(host_id, message.task_id)
    outcome, option_id = message.outcome, message.option_id
    request = task.permissions.filter(request_id=message.request_id).first()
    if request is None:
        raise InvalidMessage(f"no permission request {message.request_id!r} in task {task.id}")
    if option_id is not None and request.option(option_id) is None:
        raise InvalidMessage("option_id must be one of the request's options or null")
    if task.finished or request.state == PermissionState.CLOSED:
        return
    request.state, request.outcome, request.closed_at = PermissionState.CLOSED, outcome, timezone.now()
    request.option_id = option_id or (request.option_id if outcome == PermissionOutcome.SELECTED else "")
    request.save(update_fields=["state", "outcome", "option_id", "closed_at"])
    _tell_permission(request)
