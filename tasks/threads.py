"""Codex threads (docs/protocol.md, "Codex threads"): a finished codex task's thread resumed
as a new task (thread_resume); the host's recent threads asked of it (codex_threads_request,
and again when its link opens: codex_threads_resends) and recorded from its answer
(codex_threads_apply); and one of those resumed as a task of the project it belongs to
(host_thread_resume). One function per verb.

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
LIST_RESEND = 600  # seconds a list asked of an offline host is still sent when it links again

NO_SUCH_TASK = "No such task."
NOT_CODEX = "Only a Codex task can be resumed: {label} keeps no thread."
NO_THREAD = "This task has no Codex thread to resume: its host never reported one."
NOT_FINISHED = "This task is still running: send it a message instead."
NO_CODEX = '{host} offers no Codex executor: add one (type = "codex") to its agent.toml.'
NO_SUCH_CODEX = "{host} offers no Codex executor named {name}."
NOT_LISTED = "{host} did not list that thread: open its Codex threads again."
NOT_IN_A_PROJECT = (
    "That thread ran in {cwd}, which is in no project {host} shares: it cannot be resumed here."
)
PROJECT_GONE = "{host} does not share {project} any more."


def codex_executors(host: Host) -> list[dict]:
    """The host's codex executors, as it offered them."""
    return [e for e in host_executors(host) if e.get("kind") == "codex"]


def codex_executor(host: Host, name: str = "") -> dict | None:
    """The host's codex executor called `name`; its first one for "". None when it has none;
    raises ServiceError (404) for a name it does not offer."""
    offered = codex_executors(host)
    if not offered:
        return None
    if not name:
        return offered[0]
    chosen = next((e for e in offered if e.get("name") == name), None)
    if chosen is None:
        raise ServiceError(NO_SUCH_CODEX.format(host=host.name, name=ascii(name)[:40]), status=404)
    return chosen


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


def codex_threads_latest(*, host: Host, executor: str) -> CodexThreadList | None:
    return CodexThreadList.objects.filter(host=host, executor=executor).order_by("-id").first()


def codex_threads_request(*, user: User, host: Host, executor: str = "") -> CodexThreadList | None:
    """Ask the host for the recent threads of its codex `executor` (its first for ""), at most
    one request at a time: one waiting (for less than LIST_WAIT) or answered in the last
    LIST_FRESH seconds stands for a new one. The latest list; None when the host offers no
    codex. An offline host is asked when its link opens again (codex_threads_resends)."""
    _require_member(user, host.team_id)
    chosen = codex_executor(host, executor)
    if chosen is None:
        return None
    with transaction.atomic():
        Host.objects.select_for_update().filter(id=host.id).first()
        latest = codex_threads_latest(host=host, executor=chosen["name"])
        now = timezone.now()
        if latest is not None and (
            (latest.pending and latest.created_at > now - timedelta(seconds=LIST_WAIT))
            or (latest.finished_at and latest.finished_at > now - timedelta(seconds=LIST_FRESH))
        ):
            return latest
        request = secrets.token_urlsafe(24)
        asked = CodexThreadList.objects.create(
            team_id=host.team_id, host=host, executor=chosen["name"], request=request, requested_by=user
        )
        if host.online:
            group_send_on_commit(host_group(host.id), _request_message(asked))
        return asked


def _request_message(asked: CodexThreadList) -> dict:
    return CodexThreadsRequest(request=asked.request, executor=asked.executor).model_dump()


def codex_threads_resends(*, host_id: int) -> list[dict]:
    """The lists a host whose link just opened has not answered: the latest of each executor,
    asked in the last LIST_RESEND seconds (a page may still wait for it)."""
    since = timezone.now() - timedelta(seconds=LIST_RESEND)
    waiting = CodexThreadList.objects.filter(host_id=host_id, finished_at__isnull=True, created_at__gt=since)
    latest: dict[str, CodexThreadList] = {}
    for asked in waiting.order_by("id"):
        latest[asked.executor] = asked
    return [_request_message(asked) for asked in latest.values()]


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


def host_thread_resume(*, user: User, host: Host, thread_id: str, prompt: str, executor: str = "") -> Task:
    """A task continuing one of the threads the host's codex `executor` (its first for "")
    listed last, in the project it mapped the thread's folder to. Raises ServiceError: a thread
    not listed, or of no shared project."""
    _require_member(user, host.team_id)
    chosen = codex_executor(host, executor)
    if chosen is None:
        raise ServiceError(NO_CODEX.format(host=host.name), status=409)
    lists = CodexThreadList.objects.filter(host=host, executor=chosen["name"], ok=True)
    latest = lists.order_by("-id").first()
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
        executor=chosen["name"],
        prompt=prompt,
        workspace="working_copy",  # the thread's own folder holds its work, not a new branch
        resume_thread=thread_id,
        resumed_from=resumed_from,
    )
