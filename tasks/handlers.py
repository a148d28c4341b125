"""What a host reports about its tasks (stream "tasks"), agent sessions
included (docs/protocol.md, "Agent sessions (ACP)"): one registered handler
per message type (devices.handlers), loaded by TasksConfig.ready."""

from django.utils import timezone

from codexhub.events import group_send_on_commit
from codexhub.jobs import job_on_commit
from devices.handlers import InvalidMessage, handles
from devices.services import current_batch, host_group
from protocol import codex as protocol_codex
from protocol import git as protocol_git
from protocol import limits
from protocol import sessions as protocol_sessions
from protocol import tasks as protocol_tasks
from tasks.git import git_result_apply
from tasks.messages import session_resends
from tasks.models import (
    FINISHED_STATES,
    PermissionOutcome,
    PermissionRequest,
    PermissionState,
    SessionState,
    Task,
    TaskFileChange,
    TaskItem,
    TaskLog,
    TaskMessage,
    TaskState,
)
from tasks.services import end_session, record_end, task_audit, task_group, tell_phones
from tasks.sessions import tell_permission, tell_timeline
from tasks.threads import codex_threads_apply

OUTCOMES = {"succeeded": TaskState.SUCCEEDED, "failed": TaskState.FAILED, "cancelled": TaskState.CANCELLED}
MAX_PERMISSIONS = 500


def host_task(host_id: int, task_id: int) -> Task:
    """The host's task, locked for the update; raises InvalidMessage for any other.
    The tasks that a batch of messages names are loaded and locked at once."""
    task = current_batch().load("tasks", _tasks_named).get(task_id)
    if task is None or task.host_id != host_id:
        raise InvalidMessage(f"no task {task_id} for this host")
    return task


def _tasks_named(messages: list) -> dict[int, Task]:
    named = {m.payload.get("task_id") for m in messages if m.stream == "tasks"}
    ids = [task_id for task_id in named if type(task_id) is int and 0 < task_id < 2**62]
    return Task.objects.select_for_update().order_by("id").in_bulk(ids)


def _insert_logs(pieces: list[TaskLog]) -> None:
    TaskLog.objects.bulk_create(pieces, ignore_conflicts=True)


def _cancel_on_host(task: Task) -> None:
    group_send_on_commit(host_group(task.host_id), {"type": "task.cancel", "task_id": task.id})


@handles(protocol_tasks.TaskReceived)
def task_received_apply(*, host_id: int, message: protocol_tasks.TaskReceived) -> None:
    task = host_task(host_id, message.task_id)
    if task.state in FINISHED_STATES or task.cancel_requested_at:
        _cancel_on_host(task)  # expired or cancelled before the host got it: never run it
    if task.state in (TaskState.QUEUED, TaskState.ASSIGNED):
        now = timezone.now()
        task.state = TaskState.ASSIGNED
        task.received_at = task.received_at or now
        task.assigned_at = task.assigned_at or now
        task.save(update_fields=["state", "received_at", "assigned_at"])


@handles(protocol_tasks.TaskStarted)
def task_started_apply(*, host_id: int, message: protocol_tasks.TaskStarted) -> None:
    task = host_task(host_id, message.task_id)
    if task.state in FINISHED_STATES:
        _cancel_on_host(task)
        return
    if task.state in (TaskState.QUEUED, TaskState.ASSIGNED):
        now = timezone.now()
        task.state = TaskState.RUNNING
        task.started_at = now
        task.received_at = task.received_at or now
        if task.in_worktree:  # where it runs, as the host made it (docs/protocol.md, "Git")
            task.branch, task.base = message.branch or "", message.base or ""
            task.base_commit = message.base_commit or ""
        task.save(update_fields=["state", "started_at", "received_at", "branch", "base", "base_commit"])
        task_audit(task=task, action="task.started")
        tell_phones(task)
        for resend in session_resends(task) if task.is_session else []:
            group_send_on_commit(host_group(host_id), resend)


@handles(protocol_tasks.TaskLog)
def task_log_apply(*, host_id: int, message: protocol_tasks.TaskLog) -> None:
    task = host_task(host_id, message.task_id)
    if task.log_pruned:
        return
    # Output is data: the model kept it, cut and minus what Postgres text cannot hold.
    piece = TaskLog(task=task, seq=message.seq, text=message.text)
    current_batch().defer("task_logs", piece, _insert_logs)
    group_send_on_commit(task_group(task.id), {"type": "task.log", "task": task.id, "seq": message.seq})


@handles(protocol_tasks.TaskStep)
def task_step_apply(*, host_id: int, message: protocol_tasks.TaskStep) -> None:
    """One step's result while the task runs: the page shows it at once."""
    task = host_task(host_id, message.task_id)
    if message.step.index >= len(task.steps):
        raise InvalidMessage(f"task {task.id} has {len(task.steps)} steps, not step {message.step.index}")
    if task.state in FINISHED_STATES:
        return  # task.finished's results stand
    result = message.step.model_dump()
    others = [kept for kept in task.step_results if kept.get("index") != result["index"]]
    if len(others) == len(task.step_results):
        _audit_desktop_steps(task, [result])
    task.step_results = sorted([*others, result], key=lambda kept: kept["index"])
    task.save(update_fields=["step_results"])
    event = {"type": "task.step", "task": task.id, "index": result["index"]}
    group_send_on_commit(task_group(task.id), event)


@handles(protocol_tasks.TaskFinished)
def task_finished_apply(*, host_id: int, message: protocol_tasks.TaskFinished) -> None:
    task = host_task(host_id, message.task_id)
    if task.state in FINISHED_STATES:
        return  # the first verdict stands (e.g. "host lost" before the host came back)
    task.state = OUTCOMES[message.outcome]
    task.exit_code = message.exit_code
    task.error = message.error or ""
    task.duration = message.duration
    task.log_truncated = message.log_truncated
    task.finished_at = timezone.now()
    known = {kept.get("index") for kept in task.step_results}
    task.step_results = [result.model_dump() for result in message.steps or []]
    _audit_desktop_steps(task, [r for r in task.step_results if r["index"] not in known])
    fields = ["state", "exit_code", "error", "duration", "log_truncated", "finished_at", "step_results"]
    task.save(update_fields=fields)
    TaskFileChange.objects.bulk_create(
        TaskFileChange(task=task, **change.model_dump()) for change in message.changes or []
    )
    end_session(task)
    record_end(task, reason=task.error)


def _audit_desktop_steps(task: Task, results: list[dict]) -> None:
    """Each input on a host's desktop is in the audit trail (a browser's steps are not input
    on the machine; their results are on the task)."""
    if task.executor_kind != "computer":
        return
    for result in results:
        task_audit(
            task=task,
            action="computer.step",
            index=result["index"],
            step=result["action"],
            ok=result["ok"],
            error=result["error"],
        )


# Agent sessions -----------------------------------------------------------------------


def _session_task(host_id: int, task_id: int) -> Task:
    task = host_task(host_id, task_id)
    if not task.is_session:
        raise InvalidMessage(f"task {task.id} is not an agent session")
    return task


@handles(protocol_sessions.TaskItem)
def task_item_apply(*, host_id: int, message: protocol_sessions.TaskItem) -> None:
    task = host_task(host_id, message.task_id)  # a session's, or a command's structured output
    key, kind, data = message.key, message.kind, message.data.model_dump()
    if task.finished:
        return
    if kind == "tool" and data.get("tool_kind") == "computer":
        _audit_model_action(task, key, data)
    replaced = TaskItem.objects.filter(task=task, key=key).update(
        kind=kind, data=data, updated_at=timezone.now()
    )
    if not replaced:
        if task.items.count() >= limits.MAX_ITEMS:
            return  # the timeline keeps its first entries; the log still has everything
        TaskItem.objects.create(task=task, key=key, kind=kind, data=data)
    tell_timeline(task, key)


def _audit_model_action(task: Task, key: str, data: dict) -> None:
    """An action a computer-use model took on the host's desktop, once it ended."""
    if data.get("status") not in ("completed", "failed"):
        return
    before = TaskItem.objects.filter(task=task, key=key).values_list("data", flat=True).first() or {}
    if before.get("status") == data["status"]:
        return  # the same end, sent again
    task_audit(
        task=task, action="computer.action", item=key, title=data.get("title", ""), status=data["status"]
    )


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
    tell_permission(request)
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
    tell_permission(request)


def _notify_permission(request: PermissionRequest) -> None:
    from tasks.jobs import notify_permission_job

    job_on_commit(notify_permission_job, request.id)


def _notify_turn_end(task: Task) -> None:
    """The agent waits for its sender: say so now, not when the session idles out.
    Numbered by the follow-ups delivered, so a repeated report pushes once."""
    from tasks.jobs import notify_turn_job

    turn = task.messages.filter(delivered_at__isnull=False).count() + 1
    job_on_commit(notify_turn_job, task.id, turn)


# Git --------------------------------------------------------------------------------------


@handles(protocol_git.GitResult)
def git_result_received(*, host_id: int, message: protocol_git.GitResult) -> None:
    git_result_apply(host_id=host_id, result=message)


# Codex threads ----------------------------------------------------------------------------


@handles(protocol_codex.TaskThread)
def task_thread_apply(*, host_id: int, message: protocol_codex.TaskThread) -> None:
    task = _session_task(host_id, message.task_id)
    if task.finished or task.thread_id == message.thread_id:
        return
    task.thread_id = message.thread_id
    task.save(update_fields=["thread_id"])
    tell_phones(task)


@handles(protocol_codex.CodexThreads)
def codex_threads_received(*, host_id: int, message: protocol_codex.CodexThreads) -> None:
    codex_threads_apply(host_id=host_id, result=message)
