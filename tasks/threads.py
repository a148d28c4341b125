"""Codex threads (docs/protocol.md, "Codex threads"): a finished codex task's thread resumed
as a new task (thread_resume), the host's recent threads asked of it (codex_threads_request)
and recorded from its answer (codex_threads_apply), and one of those resumed as a task of the
project it belongs to (host_thread_resume). One function per verb.

Only threads the host reported are resumed: a task's own (Task.thread_id), or one of the
latest list the host answered whose folder it mapped to a project it shares; the host checks
the thread's folder again before codex continues it."""

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.groups import team_group
from accounts.models import Membership, User
from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from devices.models import Host
from devices.services import host_group
from projects.models import Project
from protocol.codex import CodexThreads, CodexThreadsRequest
from tasks.git import STILL_RUNNING, chain_outcome, chain_tasks
from tasks.models import LIVE_STATES, CodexThreadList, Task
from tasks.services import host_executors, task_create

LIST_FRESH = 10  # seconds a host's answered list stands for a new one
LIST_WAIT = 60  # seconds a list may wait for the host before it is asked again

NO_SUCH_TASK = "No such task."
NOT_CODEX = "Only a Codex task can be resumed: {label} keeps no thread."
NO_THREAD = "This task has no Codex thread to resume: its host never reported one."
NOT_FINISHED = "This task is still running: send it a message instead."
NO_CODEX = '{host} offers no Codex executor: add one (type = "codex") to its agent.toml.'
NOT_LISTED = "{host} did not list that thread: open its Codex threads again."
NOT_IN_A_PROJECT = (
    "That thread ran in {cwd}, which is in no project {host} shares: it cannot be resumed here."
)
PROJECT_GONE = "{host} does not share {project} any more."


def codex_executor(host: Host) -> dict | None:
    """The host's first codex executor, as it offered it."""
    return next((e for e in host_executors(host) if e.get("kind") == "codex"), None)


def _require_member(user: User, team_id: int) -> None:
    if not Membership.objects.filter(user=user, team_id=team_id).exists():
        raise ServiceError(NO_SUCH_TASK, status=404)


# A task's own thread ---------------------------------------------------------------------------


def thread_resume(*, user: User, task: Task, prompt: str) -> Task:
    """A new task continuing the finished codex task's thread with `prompt`: in the task's
    worktree while its branch is open, else where a new task of the project runs.
    Raises ServiceError."""
    _require_member(user, task.team_id)
    offered = next((e for e in host_executors(task.host) if e.get("name") == task.executor), None)
    if offered is None or offered.get("kind") != "codex":
        raise ServiceError(NOT_CODEX.format(label=task.executor_label or task.executor), status=409)
    if not task.thread_id:
        raise ServiceError(NO_THREAD, status=409)
    if not task.finished:
        raise ServiceError(NOT_FINISHED, status=409)
    with transaction.atomic():
        worktree_of = _open_worktree(task)
        return task_create(
            user=user,
            project_id=task.project_id,
            executor=task.executor,
            prompt=prompt,
            worktree_of=worktree_of,
            resume_thread=task.thread_id,
            resumed_from=task,
        )


def _open_worktree(task: Task) -> Task | None:
    """The first task of the chain whose worktree the resumed thread continues in, or None
    (the task ran in the working copy, or its branch was merged or discarded)."""
    if not task.in_worktree:
        return None
    root = Task.objects.select_for_update().get(id=task.worktree_task_id)
    outcome = chain_outcome(root)
    if not root.branch or outcome.merged or outcome.discarded:
        return None
    if chain_tasks(root.id).filter(state__in=LIVE_STATES).exists():
        raise ServiceError(STILL_RUNNING, status=409)
    return root


# The host's threads ------------------------------------------------------------------------------


def codex_threads_latest(*, host: Host) -> CodexThreadList | None:
    return CodexThreadList.objects.filter(host=host).order_by("-id").first()


def codex_threads_request(*, user: User, host: Host) -> CodexThreadList | None:
    """Ask the host for its recent threads, at most one request at a time: one waiting (for
    less than LIST_WAIT) or answered in the last LIST_FRESH seconds stands for a new one.
    The latest list; None when the host offers no codex. Asked only of an online host."""
    _require_member(user, host.team_id)
    executor = codex_executor(host)
    if executor is None:
        return None
    with transaction.atomic():
        Host.objects.select_for_update().filter(id=host.id).first()
        latest = codex_threads_latest(host=host)
        now = timezone.now()
        if latest is not None and (
            (latest.pending and latest.created_at > now - timedelta(seconds=LIST_WAIT))
            or (latest.finished_at and latest.finished_at > now - timedelta(seconds=LIST_FRESH))
        ):
            return latest
        if not host.online:
            return latest
        request = secrets.token_urlsafe(24)
        message = CodexThreadsRequest(request=request, executor=executor["name"]).model_dump()
        asked = CodexThreadList.objects.create(
            team_id=host.team_id, host=host, executor=executor["name"], request=request, requested_by=user
        )
        group_send_on_commit(host_group(host.id), message)
        return asked


def codex_threads_apply(*, host_id: int, result: CodexThreads) -> None:
    """A host's `codex.threads`: the list it answers for; one it does not know (or another
    host's), or already has, is ignored. The host's pages are told."""
    asked = (
        CodexThreadList.objects.select_for_update()
        .filter(request=result.request, host_id=host_id, finished_at__isnull=True)
        .first()
    )
    if asked is None:
        return
    asked.ok, asked.error = result.ok, "" if result.ok else (result.error or "the host gave no reason")
    asked.threads = [thread.model_dump() for thread in result.threads]
    asked.finished_at = timezone.now()
    asked.save(update_fields=["ok", "error", "threads", "finished_at"])
    # The host's Codex threads pages fetch it again.
    group_send_on_commit(team_group(asked.team_id), {"type": "codex.threads", "host": host_id})


def host_thread_resume(*, user: User, host: Host, thread_id: str, prompt: str) -> Task:
    """A task continuing one of the threads the host listed last, in the project it mapped the
    thread's folder to. Raises ServiceError: a thread not listed, or of no shared project."""
    _require_member(user, host.team_id)
    executor = codex_executor(host)
    if executor is None:
        raise ServiceError(NO_CODEX.format(host=host.name), status=409)
    latest = CodexThreadList.objects.filter(host=host, ok=True).order_by("-id").first()
    thread = latest.thread(thread_id) if latest is not None and isinstance(thread_id, str) else None
    if thread is None:
        raise ServiceError(NOT_LISTED.format(host=host.name), status=404)
    if not thread.get("project"):
        raise ServiceError(NOT_IN_A_PROJECT.format(cwd=thread.get("cwd") or "?", host=host.name))
    project = Project.objects.filter(host=host, name=thread["project"], removed_at__isnull=True).first()
    if project is None:
        raise ServiceError(PROJECT_GONE.format(host=host.name, project=thread["project"]), status=409)
    # A thread a task of the hub ran before: the new task links to it.
    resumed_from = Task.objects.filter(host=host, thread_id=thread_id).order_by("-id").first()
    return task_create(
        user=user,
        project_id=project.id,
        executor=executor["name"],
        prompt=prompt,
        workspace="working_copy",  # the thread's own folder holds its work, not a new branch
        resume_thread=thread_id,
        resumed_from=resumed_from,
    )
