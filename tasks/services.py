"""Tasks: what the phone asks of them (create, run again, cancel), handing them
to hosts, and what every end of a task does. One function per verb. Host
reports are applied in tasks.handlers, pages read through tasks.selectors,
messages for hosts are built in tasks.messages, and tasks.housekeeping keeps
none stuck."""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.audit import audit_record
from accounts.groups import team_group
from accounts.models import User
from codexhub import events
from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from codexhub.jobs import job_on_commit, publish
from devices.models import Host, HostState
from devices.services import host_group
from projects.models import EntryKind, Project
from projects.paths import InvalidPath, mirror_path, path_hash
from protocol import limits
from tasks.messages import assignment, session_resends
from tasks.models import (
    LIVE_STATES,
    PermissionOutcome,
    PermissionState,
    SessionState,
    Task,
    TaskArtifact,
    TaskState,
    Workspace,
)
from tasks.steps import StepError, check_steps, parse_steps, steps_summary

logger = logging.getLogger(__name__)

MAX_PROMPT = limits.MAX_PROMPT
ARTIFACT_TYPES = {"png": ("image/png", b"\x89PNG\r\n\x1a\n"), "pdf": ("application/pdf", b"%PDF-")}
MAX_ARTIFACT = limits.MAX_ARTIFACT

PROMPT_EMPTY = "Write what the task should do."
PROMPT_TOO_LONG = f"The prompt is too long: at most {MAX_PROMPT // 1024} KiB."
PROMPT_NUL = "The prompt contains a NUL character."
STEPS_NEEDED = "{label} runs browser steps: add at least one, or choose a coding agent to send a prompt."
COMPUTER_STEPS_NEEDED = (
    "{label} runs desktop steps: add at least one, or choose a coding agent to send a prompt."
)
STEP_KINDS = ("browser", "computer")  # executors that take steps instead of a prompt
GOAL_NOT_STEPS = "{label} takes a goal in words (a model drives the desktop), not steps."
TARGET_NOT_IN_PROJECT = "There is no file {path!r} in this project."
TARGET_NEEDED = "{label} works on one file: choose the file first."
QUEUE_FULL = "This host already has {count} tasks waiting. Wait for some to run, or cancel some."
ALREADY_FINISHED = "This task already finished."
NO_SUCH_PROJECT = "No such project."
NO_MODELS = "{label} offers no choice of model: send the task without one."
MODEL_NOT_OFFERED = "{label} does not offer the model {model!r}: choose one of the list."
EFFORT_NOT_OFFERED = "The reasoning effort {effort!r} is not one this model offers ({efforts})."
PROJECT_GONE = "The project is gone: the task cannot run again."
NOT_CODEX_RESUME = "{label} is not Codex: it cannot continue a Codex thread."


def task_group(task_id: int) -> str:
    return f"task.{task_id}"


def task_audit(*, task: Task, action: str, actor: User | None = None, **detail: Any) -> None:
    """An audit log entry for the task's team, naming the task and its host."""
    target = f"task {task.id} on host {task.host_id}"
    audit_record(action=action, team_id=task.team_id, actor=actor, target=target, **detail)


# The phone sends ----------------------------------------------------------------------


def host_executors(host: Host) -> list[dict]:
    return [e for e in host.executors if isinstance(e, dict)]


def _executor(host: Host, name: str) -> dict:
    offered = host_executors(host)
    for executor in offered:
        if executor["name"] == name:
            return executor
    if not offered:
        raise ServiceError(f"{host.name} offers no executors yet: configure one in its agent.toml.")
    names = ", ".join(e["name"] for e in offered)
    raise ServiceError(f"{host.name} does not offer {name[:40]!r}. It offers: {names}.")


def typed_text(raw: object, *, empty: str, too_long: str, nul: str) -> str:
    """What the user wrote for the agent, stripped: a ServiceError with the message
    given when it is empty (or no text), longer than MAX_PROMPT or holds a NUL."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise ServiceError(empty)
    if len(text) > MAX_PROMPT:
        raise ServiceError(too_long)
    if "\x00" in text:
        raise ServiceError(nul)
    return text


def _target(project: Project, raw: str) -> str:
    """A file of the project's mirror, or "" for none."""
    if not raw:
        return ""
    try:
        path = mirror_path(raw)
    except InvalidPath:
        raise ServiceError(TARGET_NOT_IN_PROJECT.format(path=raw[:200])) from None
    if not project.entries.filter(path_hash=path_hash(path), kind=EntryKind.FILE).exists():
        raise ServiceError(TARGET_NOT_IN_PROJECT.format(path=path[:200]))
    return path


def drives_itself(chosen: dict) -> bool:
    """A computer executor a model drives: its task is a goal in words, and a session."""
    return chosen["kind"] == "computer" and chosen.get("goal") is True


def _steps(chosen: dict, raw: str | list) -> list[dict]:
    kind = chosen["kind"]
    if drives_itself(chosen):
        if raw and (not isinstance(raw, str) or raw.strip()):
            raise ServiceError(GOAL_NOT_STEPS.format(label=chosen["label"]))
        return []
    if kind not in STEP_KINDS:
        if raw:
            raise ServiceError(f"{chosen['label']} takes a prompt, not browser steps.")
        return []
    if isinstance(raw, str) and not raw.strip():
        needed = COMPUTER_STEPS_NEEDED if kind == "computer" else STEPS_NEEDED
        raise ServiceError(needed.format(label=chosen["label"]))
    allowed = tuple(chosen.get("actions") or ())  # a computer executor's, as its host offers them
    try:
        if isinstance(raw, str):
            return parse_steps(raw, kind, allowed)
        return check_steps(raw, kind, allowed)
    except StepError as exc:
        raise ServiceError(str(exc)) from None


def _check_model(chosen: dict, model: str, effort: str) -> None:
    """A model and effort only for a codex executor, among those its host's Codex offers."""
    if not (model or effort):
        return
    offered = {m["id"]: m for m in chosen.get("models") or []}
    if chosen["kind"] != "codex" or not offered:
        raise ServiceError(NO_MODELS.format(label=chosen["label"]))
    if model and model not in offered:
        raise ServiceError(MODEL_NOT_OFFERED.format(label=chosen["label"], model=model[:100]))
    takes = [offered[model]] if model else list(offered.values())
    efforts = sorted({e for m in takes for e in m["efforts"]})
    if effort and effort not in efforts:
        listed = ", ".join(efforts) or "none"
        raise ServiceError(EFFORT_NOT_OFFERED.format(effort=effort[:16], efforts=listed))


def _project(user: User, project_id: int) -> Project:
    visible = Project.objects.visible_to(user).select_related("host", "host__team")
    project = visible.filter(id=project_id).first()
    if project is None:
        raise ServiceError(NO_SUCH_PROJECT, status=404)
    return project


def task_create(
    *,
    user: User,
    project_id: int,
    executor: str,
    prompt: str,
    target: str = "",
    steps: str | list = "",
    rerun_of: Task | None = None,
    workspace: str = "",
    base_branch: str = "",
    worktree_of: Task | None = None,
    resume_thread: str = "",
    resumed_from: Task | None = None,
    model: str = "",
    effort: str = "",
) -> Task:
    """Commit a queued task and dispatch it (dispatch_on_commit). Where it runs
    (`workspace`, `base_branch`; `worktree_of`: the first task of the chain whose
    worktree it continues in) is checked by tasks.git.task_workspace; `resume_thread`: the
    Codex thread a codex executor continues (tasks.threads). Raises ServiceError (404 for
    another team's or no project)."""
    from tasks.git import task_workspace

    project = _project(user, project_id)
    host = project.host
    chosen = _executor(host, executor)
    steps = _steps(chosen, steps)
    prompt = prompt or (steps_summary(steps, chosen["kind"]) if steps else "")
    prompt = typed_text(prompt, empty=PROMPT_EMPTY, too_long=PROMPT_TOO_LONG, nul=PROMPT_NUL)
    target = _target(project, target)
    if worktree_of is not None:
        workspace, base_branch = Workspace.WORKTREE, ""
    workspace, base_branch = task_workspace(
        project=project, executor_kind=chosen["kind"], workspace=workspace, base_branch=base_branch
    )
    if resume_thread and chosen["kind"] != "codex":
        raise ServiceError(NOT_CODEX_RESUME.format(label=chosen["label"]))
    if chosen.get("needs_file") and not target:
        raise ServiceError(TARGET_NEEDED.format(label=chosen["label"]))
    _check_model(chosen, model, effort)
    waiting = Task.objects.filter(host=host, state=TaskState.QUEUED).count()
    if waiting >= settings.TASK_QUEUE_PER_HOST:
        raise ServiceError(QUEUE_FULL.format(count=waiting), status=429)
    with transaction.atomic():
        task = Task.objects.create(
            team_id=host.team_id,
            host=host,
            project=project,
            created_by=user,
            rerun_of=rerun_of,
            executor=chosen["name"],
            executor_label=chosen["label"],
            executor_kind=chosen["kind"],
            target=target,
            prompt=prompt,
            steps=steps,
            workspace=workspace,
            base_branch=base_branch,
            worktree_of=worktree_of,
            resume_thread=resume_thread,
            resumed_from=resumed_from,
            model=model,
            effort=effort,
            expires_at=timezone.now() + timedelta(seconds=settings.TASK_TTL),
            # The prompt is the session's first turn: it works on it from the start.
            session_state=SessionState.WORKING if _is_session(chosen) else "",
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
            workspace=workspace,
            base=base_branch,
            worktree_of=worktree_of.id if worktree_of else None,
            model=model,
            effort=effort,
        )
        tell_phones(task)
        dispatch_on_commit(host.id)
    return task


def _is_session(chosen: dict) -> bool:
    """A session from the start: an agent's, or a model's on the desktop (its timeline and permission
    requests)."""
    return chosen["kind"] in ("acp", "codex") or drives_itself(chosen)


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
    """A new task with the same input. Raises ServiceError."""
    if not Project.objects.visible_to(user).filter(id=task.project_id).exists():
        raise ServiceError(PROJECT_GONE)
    return task_create(
        user=user,
        project_id=task.project_id,
        executor=task.executor,
        prompt=task.prompt,
        target=task.target,
        steps=task.steps,
        rerun_of=task,
        model=task.model,
        effort=task.effort,
        workspace=task.workspace,  # a continuation runs again on a new branch, from its chain's base
        base_branch=(task.worktree_of or task).base_branch,
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
                raise ServiceError(ALREADY_FINISHED, status=409)
            task.refresh_from_db()
            return task  # asked before: one effect
        if asked:
            group_send_on_commit(host_group(task.host_id), {"type": "task.cancel", "task_id": task.id})
        task_audit(task=task, action="task.cancel_requested" if asked else "task.cancelled", actor=user)
        task.refresh_from_db()
        if done:
            end_session(task)
        tell_phones(task)
        if done:
            _notify_end(task)
    return task


# Artifacts (browser tasks) ------------------------------------------------------------


def artifact_store(*, host: Host, task_id: int, name: str, content_type: str, data: bytes) -> TaskArtifact:
    """A screenshot or PDF from the host running the task. Raises ServiceError."""
    task = Task.objects.filter(id=task_id, host=host).first()
    if task is None:
        raise ServiceError("No such task on this host.", status=404)
    if task.state not in (TaskState.ASSIGNED, TaskState.RUNNING):
        raise ServiceError("This task is not running.", status=409)
    match = limits.ARTIFACT_NAME.fullmatch(name)
    if match is None:
        raise ServiceError("An artifact is named step-<n>.png, step-<n>.pdf or action-<n>.png.")
    expected_type, magic = ARTIFACT_TYPES[match.group(1)]
    if content_type != expected_type or not data.startswith(magic):
        raise ServiceError(f"{name} must be sent as {expected_type}, and be one.", status=415)
    if len(data) > MAX_ARTIFACT:
        raise ServiceError(f"An artifact is at most {MAX_ARTIFACT // 1024 // 1024} MiB.", status=413)
    artifact, _ = TaskArtifact.objects.update_or_create(
        task=task, name=name, defaults={"content_type": expected_type, "data": data, "size": len(data)}
    )
    return artifact


# Handing tasks to hosts ---------------------------------------------------------------


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
    messages: list[dict] = [{"type": "task.assign", "task": assignment(t)} for t in resend + fresh]
    messages += [{"type": "task.cancel", "task_id": task_id} for task_id in cancels]
    sessions = Task.objects.filter(host_id=host_id, state=TaskState.RUNNING).exclude(session_state="")
    for task in sessions.order_by("id"):
        messages += session_resends(task)
    return messages


# Every end of a task ------------------------------------------------------------------


def end_session(task: Task) -> None:
    """The task finished: its session is over, and nobody can answer its questions any more."""
    if not task.is_session:
        return
    task.session_state = SessionState.ENDED
    Task.objects.filter(id=task.id).update(session_state=SessionState.ENDED)
    pending = task.permissions.filter(state=PermissionState.PENDING)
    asked = list(pending.values_list("id", flat=True))
    pending.update(
        state=PermissionState.CLOSED, outcome=PermissionOutcome.CANCELLED, closed_at=timezone.now()
    )
    if asked:
        from tasks.jobs import clear_permission_job  # nobody can answer them now: take them off the devices

        for request_id in asked:
            job_on_commit(clear_permission_job, request_id)


def record_end(task: Task, reason: str = "") -> None:
    """What every end of a task tells: the audit log, the phones, its sender."""
    task_audit(task=task, action=f"task.{task.state}", reason=reason)
    tell_phones(task)
    _notify_end(task)


def _notify_end(task: Task) -> None:
    """Its sender hears of the end after the commit; a failure there never touches the task."""
    from tasks.jobs import notify_task_job

    job_on_commit(notify_task_job, task.id)


def tell_phones(task: Task, state: str | None = None) -> None:
    event = {"type": "task.changed", "task": task.id, "state": state or task.state}
    group_send_on_commit(task_group(task.id), event)
    group_send_on_commit(team_group(task.team_id), event)
