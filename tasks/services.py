"""Tasks: creating them, handing them to hosts, applying what hosts report,
and the housekeeping that keeps none stuck. One function per verb."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.audit import audit_record
from accounts.groups import team_group
from accounts.models import User
from codexhub import events
from codexhub.events import group_send_on_commit
from codexhub.jobs import publish
from devices.handlers import InvalidMessage, handles
from devices.models import Host, HostState
from devices.services import current_batch, host_group
from projects.models import EntryKind, Project
from projects.paths import InvalidPath, mirror_path, path_hash
from projects.services import project_get
from protocol import limits
from protocol import tasks as protocol_tasks
from tasks.models import (
    FINISHED_STATES,
    LIVE_STATES,
    PermissionOutcome,
    PermissionRequest,
    PermissionState,
    SessionState,
    Task,
    TaskArtifact,
    TaskFileChange,
    TaskLog,
    TaskMessage,
    TaskState,
)
from tasks.steps import StepError, check_steps, parse_steps, steps_summary

logger = logging.getLogger(__name__)

MAX_PROMPT = limits.MAX_PROMPT
OUTCOMES = {"succeeded": TaskState.SUCCEEDED, "failed": TaskState.FAILED, "cancelled": TaskState.CANCELLED}
HOST_LOST = "host lost: the host went offline while it had the task"
ARTIFACT_TYPES = {"png": ("image/png", b"\x89PNG\r\n\x1a\n"), "pdf": ("application/pdf", b"%PDF-")}
MAX_ARTIFACT = limits.MAX_ARTIFACT

PROMPT_EMPTY = "Write what the task should do."
PROMPT_TOO_LONG = f"The prompt is too long: at most {MAX_PROMPT // 1024} KiB."
PROMPT_NUL = "The prompt contains a NUL character."
TARGET_NOT_IN_PROJECT = "There is no file {path!r} in this project."
TARGET_NEEDED = "{label} works on one file: choose the file first."
QUEUE_FULL = "This host already has {count} tasks waiting. Wait for some to run, or cancel some."
ALREADY_FINISHED = "This task already finished."


class TaskError(Exception):
    """A request that cannot be done; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def task_group(task_id: int) -> str:
    return f"task.{task_id}"


# The phone sends ---------------------------------------------------------------------


def host_executors(host: Host) -> list[dict]:
    return [e for e in host.executors if isinstance(e, dict)]


def _executor(host: Host, name: str) -> dict:
    offered = host_executors(host)
    for executor in offered:
        if executor["name"] == name:
            return executor
    if not offered:
        raise TaskError(f"{host.name} offers no executors yet: configure one in its agent.toml.")
    names = ", ".join(e["name"] for e in offered)
    raise TaskError(f"{host.name} does not offer {name[:40]!r}. It offers: {names}.")


def _prompt(raw: str) -> str:
    prompt = (raw or "").strip()
    if not prompt:
        raise TaskError(PROMPT_EMPTY)
    if len(prompt) > MAX_PROMPT:
        raise TaskError(PROMPT_TOO_LONG)
    if "\x00" in prompt:
        raise TaskError(PROMPT_NUL)
    return prompt


def _target(project: Project, raw: str) -> str:
    """A file of the project's mirror, or "" for none."""
    if not raw:
        return ""
    try:
        path = mirror_path(raw)
    except InvalidPath:
        raise TaskError(TARGET_NOT_IN_PROJECT.format(path=raw[:200])) from None
    if not project.entries.filter(path_hash=path_hash(path), kind=EntryKind.FILE).exists():
        raise TaskError(TARGET_NOT_IN_PROJECT.format(path=path[:200]))
    return path


def _steps(chosen: dict, raw: str | list) -> list[dict]:
    if chosen["kind"] != "browser":
        if raw:
            raise TaskError(f"{chosen['label']} takes a prompt, not browser steps.")
        return []
    try:
        return parse_steps(raw) if isinstance(raw, str) else check_steps(raw)
    except StepError as exc:
        raise TaskError(str(exc)) from None


def task_create(
    *,
    user: User,
    project_id: int,
    executor: str,
    prompt: str,
    target: str = "",
    steps: str | list = "",
    rerun_of: Task | None = None,
) -> Task:
    """Commit a queued task and dispatch it (dispatch_on_commit). Raises
    Project.DoesNotExist (another team's or no project) or TaskError."""
    project = project_get(user=user, project_id=project_id)
    host = project.host
    chosen = _executor(host, executor)
    steps = _steps(chosen, steps)
    prompt = _prompt(prompt or (steps_summary(steps) if steps else ""))
    target = _target(project, target)
    if chosen.get("needs_file") and not target:
        raise TaskError(TARGET_NEEDED.format(label=chosen["label"]))
    waiting = Task.objects.filter(host=host, state=TaskState.QUEUED).count()
    if waiting >= settings.TASK_QUEUE_PER_HOST:
        raise TaskError(QUEUE_FULL.format(count=waiting), status=429)
    with transaction.atomic():
        task = Task.objects.create(
            team_id=host.team_id,
            host=host,
            project=project,
            created_by=user,
            rerun_of=rerun_of,
            executor=chosen["name"],
            executor_label=chosen["label"],
            target=target,
            prompt=prompt,
            steps=steps,
            expires_at=timezone.now() + timedelta(seconds=settings.TASK_TTL),
            # The prompt is the session's first turn: it works on it from the start.
            session_state=SessionState.WORKING if chosen["kind"] == "acp" else "",
        )
        audit_record(
            action="task.created",
            team=host.team,
            actor=user,
            target=f"task {task.id} on host {host.id} {host.name}",
            project=project.name,
            executor=task.executor,
            file=target,
            prompt=prompt[:1000],
            steps=len(steps),
        )
        tell_phones(task)
        dispatch_on_commit(host.id)
    return task


def dispatch_on_commit(host_id: int) -> None:
    """Once the task is committed, send the host its queued tasks from here:
    the assignment is on its way before the response. If that fails, the
    dispatch job does it; the housekeeping sweep covers a crash in between."""
    transaction.on_commit(lambda: _dispatch_now(host_id))


def _dispatch_now(host_id: int) -> None:
    from tasks.jobs import dispatch_job

    try:
        host_dispatch(host_id=host_id)
    except Exception as exc:
        logger.warning("dispatch to host %s failed here (%s): handed to the dispatch job", host_id, exc)
        publish(dispatch_job, host_id)


def task_rerun(*, user: User, task: Task) -> Task:
    """A new task with the same input."""
    return task_create(
        user=user,
        project_id=task.project_id,
        executor=task.executor,
        prompt=task.prompt,
        target=task.target,
        steps=task.steps,
        rerun_of=task,
    )


def task_cancel(*, task: Task, user: User) -> Task:
    """Cancel at once if the host never got it; otherwise ask the host (once)."""
    now = timezone.now()
    with transaction.atomic():
        done = Task.objects.filter(id=task.id, state=TaskState.QUEUED).update(
            state=TaskState.CANCELLED, finished_at=now, cancelled_by=user, cancel_requested_at=now
        )
        asked = 0
        if not done:
            asked = Task.objects.filter(
                id=task.id, state__in=LIVE_STATES, cancel_requested_at__isnull=True
            ).update(cancel_requested_at=now, cancelled_by=user)
        if not done and not asked:
            if not Task.objects.filter(id=task.id, state__in=LIVE_STATES).exists():
                raise TaskError(ALREADY_FINISHED, status=409)
            task.refresh_from_db()
            return task  # asked before: one effect
        if asked:
            group_send_on_commit(host_group(task.host_id), {"type": "task.cancel", "task_id": task.id})
        audit_record(
            action="task.cancel_requested" if asked else "task.cancelled",
            team_id=task.team_id,
            actor=user,
            target=f"task {task.id} on host {task.host_id}",
        )
        task.refresh_from_db()
        if done:
            _end_session(task)
        tell_phones(task)
        if done:
            _notify_end(task)
    return task


# Artifacts (browser tasks) -------------------------------------------------------------


def artifact_store(*, host: Host, task_id: int, name: str, content_type: str, data: bytes) -> TaskArtifact:
    """A screenshot or PDF from the host running the task. Raises TaskError."""
    task = Task.objects.filter(id=task_id, host=host).first()
    if task is None:
        raise TaskError("No such task on this host.", status=404)
    if task.state not in (TaskState.ASSIGNED, TaskState.RUNNING):
        raise TaskError("This task is not running.", status=409)
    match = limits.ARTIFACT_NAME.fullmatch(name)
    if match is None:
        raise TaskError("An artifact is named step-<n>.png or step-<n>.pdf.")
    expected_type, magic = ARTIFACT_TYPES[match.group(1)]
    if content_type != expected_type or not data.startswith(magic):
        raise TaskError(f"{name} must be sent as {expected_type}, and be one.", status=415)
    if len(data) > MAX_ARTIFACT:
        raise TaskError(f"An artifact is at most {MAX_ARTIFACT // 1024 // 1024} MiB.", status=413)
    artifact, _ = TaskArtifact.objects.update_or_create(
        task=task, name=name, defaults={"content_type": expected_type, "data": data, "size": len(data)}
    )
    return artifact


def artifact_get(*, task: Task, name: str) -> TaskArtifact:
    """The task's artifact (the task already scoped to the user's teams), or TaskArtifact.DoesNotExist."""
    return task.artifacts.get(name=name)


# Reading -----------------------------------------------------------------------------


def task_get(*, user: User, task_id: int) -> Task:
    """A task of one of the user's teams, or Task.DoesNotExist."""
    return Task.objects.select_related("host", "project", "created_by", "team").get(
        id=task_id, team__memberships__user=user
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


# Handing tasks to hosts ----------------------------------------------------------------


def assignment(task: Task) -> dict:
    message = {
        "id": task.id,
        "project": task.project.name,
        "executor": task.executor,
        "prompt": task.prompt,
        "target": task.target,
    }
    if task.steps:
        message["steps"] = task.steps
    return message


def _assign_queued(host_id: int, now) -> list[Task]:
    """Move the host's live queued tasks to assigned, oldest first."""
    assigned = []
    queued = Task.objects.filter(host_id=host_id, state=TaskState.QUEUED, expires_at__gt=now).order_by("id")
    for task in queued.select_related("project"):
        # Conditional: a cancel or a second dispatcher may have moved it meanwhile.
        moved = Task.objects.filter(id=task.id, state=TaskState.QUEUED).update(
            state=TaskState.ASSIGNED, assigned_at=now, assign_count=F("assign_count") + 1
        )
        if moved:
            assigned.append(task)
    return assigned


def host_dispatch(*, host_id: int) -> int:
    """Assign the queued tasks of an online host and send them over its link.
    Returns how many went out. A lost message is sent again (link_assignments,
    housekeeping): the agent dedupes by task id."""
    host = Host.objects.filter(id=host_id, state=HostState.ACTIVE).first()
    if host is None or not host.online:
        return 0
    assigned = _assign_queued(host_id, timezone.now())
    for task in assigned:
        events.group_send(host_group(host_id), {"type": "task.assign", "task": assignment(task)})
        tell_phones(task, state=TaskState.ASSIGNED)
    return len(assigned)


def link_assignments(*, host_id: int) -> list[dict]:
    """What a host link that just opened must be sent, in order: the
    assignments it has not acked, then its queued tasks, then pending cancels,
    then what its running sessions have not reported (answers, follow-ups, ends)."""
    now = timezone.now()
    unacked = Task.objects.filter(host_id=host_id, state=TaskState.ASSIGNED, received_at__isnull=True)
    resend = list(unacked.filter(cancel_requested_at__isnull=True).select_related("project").order_by("id"))
    unacked.update(assigned_at=now, assign_count=F("assign_count") + 1)
    fresh = _assign_queued(host_id, now)
    for task in fresh:
        tell_phones(task, state=TaskState.ASSIGNED)
    cancels = Task.objects.filter(
        host_id=host_id, state__in=(TaskState.ASSIGNED, TaskState.RUNNING), cancel_requested_at__isnull=False
    ).values_list("id", flat=True)
    messages = [{"type": "task.assign", "task": assignment(t)} for t in resend + fresh]
    messages += [{"type": "task.cancel", "task_id": task_id} for task_id in cancels]
    sessions = Task.objects.filter(host_id=host_id, state=TaskState.RUNNING).exclude(session_state="")
    for task in sessions.order_by("id"):
        messages += _session_resends(task)
    return messages


# What the host reports (stream "tasks") ---------------------------------------------------


def host_task(host_id: int, task_id: int) -> Task:
    """The host's task, locked for the update; raises InvalidMessage for any other.
    The tasks that a batch of messages names are loaded and locked at once."""
    task = current_batch().load("tasks", _tasks_named).get(task_id)
    if task is None or task.host_id != host_id:
        raise InvalidMessage(f"no task {task_id} for this host")
    return task


def _tasks_named(messages: list) -> dict[int, Task]:
    ids = {m.payload.get("task_id") for m in messages if m.stream == "tasks"}
    ids = [task_id for task_id in ids if type(task_id) is int and 0 < task_id < 2**62]
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
        task.save(update_fields=["state", "started_at", "received_at"])
        audit_record(action="task.started", team_id=task.team_id, target=f"task {task.id} on host {host_id}")
        tell_phones(task)
        for resend in _session_resends(task) if task.is_session else []:
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
    task.step_results = [result.model_dump() for result in message.steps or []]
    fields = ["state", "exit_code", "error", "duration", "log_truncated", "finished_at", "step_results"]
    task.save(update_fields=fields)
    TaskFileChange.objects.bulk_create(
        TaskFileChange(task=task, **change.model_dump()) for change in message.changes or []
    )
    _end_session(task)
    _finished(task, reason=task.error)


def _finished(task: Task, reason: str = "") -> None:
    audit_record(
        action=f"task.{task.state}",
        team_id=task.team_id,
        target=f"task {task.id} on host {task.host_id}",
        reason=reason,
    )
    tell_phones(task)
    _notify_end(task)


def _notify_end(task: Task) -> None:
    """Its sender hears of the end after the commit; a failure there never touches the task."""
    from notifications.jobs import enqueue, notify_task_job

    enqueue(notify_task_job, task.id)


def tell_phones(task: Task, state: str | None = None) -> None:
    event = {"type": "task.changed", "task": task.id, "state": state or task.state}
    group_send_on_commit(task_group(task.id), event)
    group_send_on_commit(team_group(task.team_id), event)


# Agent sessions: what the host must hear again (the rest is in tasks.sessions) ----------


def answer_message(request: PermissionRequest) -> dict:
    return {
        "type": "task.answer",
        "task_id": request.task_id,
        "request_id": request.request_id,
        "option_id": request.option_id,
    }


def followup_message(message: TaskMessage) -> dict:
    return {
        "type": "task.message",
        "task_id": message.task_id,
        "message_id": message.id,
        "text": message.text,
    }


def _session_resends(task: Task) -> list[dict]:
    """What the host must hear again about a session until it reports it:
    answers not yet closed, follow-ups no turn carried, the end."""
    answered = task.permissions.filter(state=PermissionState.ANSWERED).order_by("id")
    waiting = task.messages.filter(delivered_at__isnull=True).order_by("id")
    resends = [answer_message(request) for request in answered]
    resends += [followup_message(message) for message in waiting]
    if task.end_requested_at:
        resends.append({"type": "task.end", "task_id": task.id})
    return resends


def _end_session(task: Task) -> None:
    """The task finished: its session is over, and nobody can answer its questions any more."""
    if not task.is_session:
        return
    task.session_state = SessionState.ENDED
    Task.objects.filter(id=task.id).update(session_state=SessionState.ENDED)
    task.permissions.filter(state=PermissionState.PENDING).update(
        state=PermissionState.CLOSED, outcome=PermissionOutcome.CANCELLED, closed_at=timezone.now()
    )


# Housekeeping ------------------------------------------------------------------------------


@dataclass
class Swept:
    expired: int = 0
    requeued: int = 0
    dispatched: int = 0
    host_lost: int = 0
    pruned: int = 0
    hosts_offline: int = 0


def housekeeping() -> Swept:
    """Run by Celery beat (or in-process without Redis) every TASK_SWEEP_INTERVAL."""
    now = timezone.now()
    swept = Swept()
    swept.expired = _fail_where(Q(state=TaskState.QUEUED, expires_at__lte=now), TaskState.EXPIRED, "")
    ack_deadline = now - timedelta(seconds=settings.TASK_ACK_TIMEOUT)
    swept.requeued = Task.objects.filter(
        state=TaskState.ASSIGNED, received_at__isnull=True, assigned_at__lte=ack_deadline
    ).update(state=TaskState.QUEUED)
    for host_id in set(Task.objects.filter(state=TaskState.QUEUED).values_list("host_id", flat=True)):
        swept.dispatched += host_dispatch(host_id=host_id)
    lost_after = now - timedelta(seconds=settings.TASK_HOST_LOST_GRACE)
    gone = (
        Q(host__last_seen_at__isnull=True)
        | Q(host__last_seen_at__lte=lost_after)
        | ~Q(host__state=HostState.ACTIVE)
    )
    held = Q(state=TaskState.RUNNING) | Q(state=TaskState.ASSIGNED, received_at__isnull=False)
    swept.host_lost = _fail_where(held & gone, TaskState.FAILED, HOST_LOST)
    swept.pruned = _prune_logs(now)
    swept.hosts_offline = _hosts_gone_quiet(now)
    if any(vars(swept).values()):
        logger.info("task housekeeping: %s", swept)
    return swept


def _fail_where(condition: Q, state: str, error: str) -> int:
    count = 0
    for task_id in Task.objects.filter(condition).values_list("id", flat=True):
        with transaction.atomic():
            task = Task.objects.select_for_update().get(id=task_id)
            if task.state in FINISHED_STATES:
                continue
            task.state, task.error, task.finished_at = state, error, timezone.now()
            task.save(update_fields=["state", "error", "finished_at"])
            _end_session(task)
            _finished(task, reason=error or state)
            count += 1
    return count


def _hosts_gone_quiet(now) -> int:
    """Hosts offline for HOST_OFFLINE_NOTIFY_AFTER, told once per outage."""
    from notifications.services import notify_host_offline

    quiet_since = now - timedelta(seconds=settings.HOST_OFFLINE_NOTIFY_AFTER)
    hosts = Host.objects.filter(state=HostState.ACTIVE, last_seen_at__lte=quiet_since).filter(
        Q(offline_notified_at__isnull=True) | Q(offline_notified_at__lt=F("last_seen_at"))
    )
    count = 0
    for host in hosts:
        if Host.objects.filter(id=host.id, last_seen_at=host.last_seen_at).update(offline_notified_at=now):
            notify_host_offline(host=host)
            count += 1
    return count


def _prune_logs(now) -> int:
    before = now - timedelta(days=settings.TASK_LOG_RETENTION_DAYS)
    old = Task.objects.filter(finished_at__lte=before, log_pruned=False)
    ids = list(old.values_list("id", flat=True)[:1000])
    if ids:
        TaskLog.objects.filter(task_id__in=ids).delete()
        Task.objects.filter(id__in=ids).update(log_pruned=True)
    return len(ids)
