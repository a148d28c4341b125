"""Git (docs/protocol.md, "Git"): where a new task runs (task_workspace), the follow-up
of a task in its worktree (task_continue), and what a person decides about a chain's
changes (git_commit, git_merge, git_push, git_pull_request, git_discard) or asks about a
project's repository (repo_state_request). One function per verb.

Each decision is a GitAction, sent to the host as a `git.request` built through
protocol.git.GitRequest, and again on every link open (git_resends) until its
`git.result` comes back (git_result_apply), or it fails after GIT_ACTION_TTL
(git_actions_expire). A chain is a worktree task and its continuations (its first task
is the root, Task.worktree_task_id; a working-copy task is a chain of one): it has at
most one decision pending, and what became of it is its GitOutcome."""

import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from pydantic import ValidationError

from accounts.models import Membership, User
from accounts.permissions import role_can_manage
from codexhub.errors import ServiceError
from codexhub.events import group_send_on_commit
from devices.models import ApproveRole, Host
from devices.services import host_group
from projects.models import Project
from projects.services import project_group
from protocol import limits
from protocol.base import reason
from protocol.branches import branch_error, remote_error
from protocol.git import GitRequest, GitResult
from protocol.text import CONTROL
from tasks.models import (
    LIVE_STATES,
    GitAction,
    GitActionKind,
    GitActionState,
    GitOutcome,
    RepoSnapshot,
    Task,
    Workspace,
)
from tasks.services import task_audit, task_create, task_group, tell_phones

STATE_FRESH = 5  # seconds a repository state is shown as it is, without asking the host again
HOST_DID_NOT_ANSWER = "the host did not answer"

# Where a task runs
NOT_GIT = "{project} is not a git repository: its tasks run in the working copy."
WORKSPACE_UNKNOWN = "Choose where it runs: on its own branch or in the working copy."
BROWSER_IN_WORKTREE = "A browser task changes no files: it runs in the working copy."
COMPUTER_IN_WORKTREE = (
    "A desktop task runs on the host's screen, not in a branch: it runs in the working copy."
)
BASE_ONLY_FOR_WORKTREE = "A base branch is only for a task on its own branch."
NOT_A_BRANCH = "{name} is not a branch name: {why}"

# Deciding
NO_SUCH_TASK = "No such task."
ONLY_MANAGERS_DECIDE = "Only the team's owners and admins may commit, merge, push or discard on {host}."
ONE_AT_A_TIME = "Waiting for {host} to answer: {action}. One decision at a time on a branch."
STILL_RUNNING = "A task on this branch is still running: decide once it has finished."
ONLY_DISCARD = "This task ran in the working copy: its changes can only be discarded."
NO_BRANCH = "This task has no branch: it never started on one."
MERGED = "{branch} was merged into {into}: its worktree and branch are gone."
DISCARDED = "{branch} was discarded: its worktree and branch are gone."
COMMIT_FIRST = "Commit first: the last run on {branch} is not committed."
NOTHING_COMMITTED = "Commit first: nothing is committed on {branch} yet."
NO_BASE = "The host did not say which branch this task started from, so there is nothing to merge into."
MESSAGE_EMPTY = "Write a commit message."
MESSAGE_TOO_LONG = f"The commit message is too long: at most {limits.MAX_COMMIT_MESSAGE:,} characters."
MESSAGE_NUL = "The commit message contains a NUL character."
NOT_A_REMOTE = "{name} is not a remote: {why}"
NO_GH = (
    "{host} cannot open pull requests: install the GitHub CLI (gh) there, sign it in, and restart its agent."
)
PUSH_FIRST = "Push {branch} first: a pull request needs it on the remote."
PR_OPEN = "A pull request is open already: {url}"
NOT_FINISHED = "This task has not finished: discard its changes once it has."
NOTHING_TO_DISCARD = "This task changed no files: there is nothing to discard."
ALREADY_DISCARDED = "Its changes were discarded already."
NOT_SENT = "Not sent: {reason}."

# Continuing
CONTINUE_WORKING_COPY = "Only a task on its own branch can be continued: this one ran in the working copy."


# Where a new task runs ------------------------------------------------------------------


def task_workspace(
    *, project: Project, executor_kind: str, workspace: str, base_branch: str
) -> tuple[str, str]:
    """(workspace, base branch) of a new task: by default its own branch for a coding task
    on a git repository, else the working copy. Raises ServiceError (400)."""
    if not workspace:
        in_worktree = project.is_git and executor_kind not in ("browser", "computer")
        workspace = Workspace.WORKTREE if in_worktree else Workspace.WORKING_COPY
    if workspace not in Workspace.values:
        raise ServiceError(WORKSPACE_UNKNOWN)
    if workspace == Workspace.WORKTREE and not project.is_git:
        raise ServiceError(NOT_GIT.format(project=project.name))
    if workspace == Workspace.WORKTREE and executor_kind == "browser":
        raise ServiceError(BROWSER_IN_WORKTREE)
    if workspace == Workspace.WORKTREE and executor_kind == "computer":
        raise ServiceError(COMPUTER_IN_WORKTREE)
    if base_branch and workspace != Workspace.WORKTREE:
        raise ServiceError(BASE_ONLY_FOR_WORKTREE)
    if base_branch and (why := branch_error(base_branch)):
        raise ServiceError(NOT_A_BRANCH.format(name=_quoted(base_branch), why=why))
    return workspace, base_branch


def _quoted(text: str, limit: int = 80) -> str:
    """A name as typed, for an error message: quoted, escaped, cut."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# Chains -----------------------------------------------------------------------------------


def chain_tasks(root_id: int) -> QuerySet[Task]:
    """The first task of a chain and its continuations."""
    return Task.objects.filter(Q(id=root_id) | Q(worktree_of_id=root_id))


def chain_outcome(root: Task) -> GitOutcome:
    """What became of the chain so far (unsaved and empty before its first result)."""
    return GitOutcome.objects.filter(task=root).first() or GitOutcome(task=root)


def ran_since_commit(root: Task, outcome: GitOutcome) -> bool:
    """A task of the chain ran after its last commit and may have changed the worktree:
    one still live, or one that reported changed files."""
    if outcome.committed_at is None:
        return True
    later = chain_tasks(root.id).filter(created_at__gt=outcome.committed_at)
    return later.filter(Q(state__in=LIVE_STATES) | Q(file_changes__isnull=False)).exists()


def may_decide(*, user: User, host: Host) -> bool:
    """Whether the user may commit, merge, push and discard on the host (Host.git_role)."""
    role = Membership.objects.filter(user=user, team_id=host.team_id).values_list("role", flat=True).first()
    if role is None:
        return False
    return host.git_role == ApproveRole.MEMBER or role_can_manage(role)


def _require_decider(user: User, task: Task) -> None:
    if not Membership.objects.filter(user=user, team_id=task.team_id).exists():
        raise ServiceError(NO_SUCH_TASK, status=404)
    if not may_decide(user=user, host=task.host):
        raise ServiceError(ONLY_MANAGERS_DECIDE.format(host=task.host.name), status=403)


class _Chain:
    """A chain locked for a decision: its root row is held until the commit, so two
    decisions (or a decision and a continuation) on one chain never race."""

    def __init__(self, task: Task):
        self.root = (
            Task.objects.select_for_update().select_related("host", "project").get(id=task.worktree_task_id)
        )
        self.outcome = chain_outcome(self.root)

    def require_idle(self) -> None:
        pending = GitAction.objects.filter(chain=self.root, state=GitActionState.PENDING).first()
        if pending is not None:
            action = pending.get_action_display().lower()
            raise ServiceError(ONE_AT_A_TIME.format(host=self.root.host.name, action=action), status=409)
        if chain_tasks(self.root.id).filter(state__in=LIVE_STATES).exists():
            raise ServiceError(STILL_RUNNING, status=409)

    def require_open_worktree(self) -> None:
        root, outcome = self.root, self.outcome
        if not root.in_worktree:
            raise ServiceError(ONLY_DISCARD, status=409)
        if not root.branch:
            raise ServiceError(NO_BRANCH, status=409)
        if outcome.merged:
            raise ServiceError(MERGED.format(branch=root.branch, into=outcome.merged_into), status=409)
        if outcome.discarded:
            raise ServiceError(DISCARDED.format(branch=root.branch), status=409)

    def require_committed(self) -> None:
        if not self.outcome.commit:
            raise ServiceError(NOTHING_COMMITTED.format(branch=self.root.branch), status=409)

    def require_base(self) -> str:
        if not self.root.base:
            raise ServiceError(NO_BASE, status=409)
        return self.root.base


def _decide(user: User, task: Task, action: str, fields_of: Callable[[_Chain], dict]) -> GitAction:
    """Check who decides, lock the chain, check its state (fields_of raises ServiceError
    or gives the request's fields), and send the request once committed."""
    _require_decider(user, task)
    with transaction.atomic():
        chain = _Chain(task)
        chain.require_idle()
        fields = fields_of(chain)
        return _send(
            user=user, host=chain.root.host, project=chain.root.project, action=action,
            fields={"task_id": chain.root.id, **fields}, task=task, chain=chain.root,
        )  # fmt: skip


def _send(
    *, user: User | None, host: Host, project: Project, action: str, fields: dict, task=None, chain=None
) -> GitAction:
    request = secrets.token_urlsafe(24)
    try:
        message = GitRequest.model_validate(
            {"request": request, "action": action, "project": project.name, **fields}
        )
    except ValidationError as exc:  # the checks above should have said why in the person's words
        raise ServiceError(NOT_SENT.format(reason=reason(exc))) from None
    wire = message.wire()
    try:
        with transaction.atomic():
            git_action = GitAction.objects.create(
                team_id=host.team_id, host=host, project=project, task=task, chain=chain,
                action=action, request=request, params=wire, requested_by=user,
            )  # fmt: skip
    except IntegrityError:  # another request of the chain (or state) got there first
        label = GitActionKind(action).label.lower()
        raise ServiceError(ONE_AT_A_TIME.format(host=host.name, action=label), status=409) from None
    if task is not None:
        detail = {
            key: _cut(value)
            for key, value in wire.items()
            if key not in ("type", "action", "request", "requested_by")
        }
        task_audit(task=task, action=f"git.{action}.requested", actor=user, request=request, **detail)
        tell_phones(task)
    # Sent now if the host is online; else it waits, and goes out when the link opens.
    group_send_on_commit(host_group(host.id), wire)
    return git_action


def _cut(value: object) -> object:
    return value[:1000] if isinstance(value, str) else value


# Decisions ------------------------------------------------------------------------------------


def git_commit(*, user: User, task: Task, message: str) -> GitAction:
    """Commit everything in the chain's worktree on its branch, with `message` and a
    Requested-by trailer naming the user. Raises ServiceError."""
    text = _commit_message(message)
    requested_by = git_user(user)

    def fields(chain: _Chain) -> dict:
        chain.require_open_worktree()
        return {"message": text, "requested_by": requested_by}

    return _decide(user, task, GitActionKind.COMMIT, fields)


def _commit_message(raw: object) -> str:
    text = raw.replace("\r\n", "\n").strip() if isinstance(raw, str) else ""
    if not text:
        raise ServiceError(MESSAGE_EMPTY)
    if len(text) > limits.MAX_COMMIT_MESSAGE:
        raise ServiceError(MESSAGE_TOO_LONG)
    if "\x00" in text:
        raise ServiceError(MESSAGE_NUL)
    return text


def git_user(user: User) -> dict[str, str]:
    """The name and email a commit's Requested-by trailer gives: the full name, else the
    email's local part, without < > and control characters."""
    local = user.email.partition("@")[0]
    for candidate in (user.get_full_name(), local, "someone"):
        name = re.sub(r"\s+", " ", CONTROL.sub("", candidate).replace("<", "").replace(">", "")).strip()
        if name:
            return {"name": name[: limits.MAX_GIT_USER], "email": user.email}
    raise AssertionError("unreachable")


def git_merge(*, user: User, task: Task) -> GitAction:
    """Merge the chain's branch into the branch it started from, once its last run is
    committed. The host removes the worktree and branch after a clean merge."""

    def fields(chain: _Chain) -> dict:
        chain.require_open_worktree()
        chain.require_committed()
        if ran_since_commit(chain.root, chain.outcome):
            raise ServiceError(COMMIT_FIRST.format(branch=chain.root.branch), status=409)
        return {"branch": chain.root.branch, "into": chain.require_base()}

    return _decide(user, task, GitActionKind.MERGE, fields)


def git_push(*, user: User, task: Task, remote: str = "") -> GitAction:
    """Push the chain's branch, or after a merge the branch it was merged into, to
    `remote` (a name like origin; "": the branch's upstream, else origin)."""
    remote = _remote(remote)

    def fields(chain: _Chain) -> dict:
        if not chain.outcome.merged:
            chain.require_open_worktree()
            chain.require_committed()
        branch = chain.outcome.merged_into or chain.root.branch
        return {"branch": branch, "remote": remote or None}

    return _decide(user, task, GitActionKind.PUSH, fields)


def _remote(raw: object) -> str:
    remote = raw.strip() if isinstance(raw, str) else ""
    if remote and (why := remote_error(remote)):
        raise ServiceError(NOT_A_REMOTE.format(name=_quoted(remote), why=why))
    return remote


def git_pull_request(*, user: User, task: Task) -> GitAction:
    """Open a pull request (gh, on the host) from the pushed branch into the chain's base:
    titled by the commit message's first line, the chain's prompt as its body."""
    if "gh" not in task.host.capabilities:
        raise ServiceError(NO_GH.format(host=task.host.name), status=409)

    def fields(chain: _Chain) -> dict:
        root, outcome = chain.root, chain.outcome
        chain.require_open_worktree()
        chain.require_committed()
        if outcome.pr_url:
            raise ServiceError(PR_OPEN.format(url=outcome.pr_url), status=409)
        if outcome.pushed_branch != root.branch:
            raise ServiceError(PUSH_FIRST.format(branch=root.branch), status=409)
        title = (outcome.commit_message.split("\n", 1)[0].strip() or root.title)[: limits.MAX_PR_TITLE]
        return {
            "branch": root.branch,
            "into": chain.require_base(),
            "title": title,
            "body": root.prompt[: limits.MAX_PR_BODY],
            "remote": outcome.pushed_remote or None,
        }

    return _decide(user, task, GitActionKind.PULL_REQUEST, fields)


def git_discard(*, user: User, task: Task) -> GitAction:
    """A worktree chain: remove its worktree and branch, uncommitted changes too. A task
    in the working copy: put back every file it changed, if none changed since."""

    def fields(chain: _Chain) -> dict:
        root = chain.root
        if root.in_worktree:
            chain.require_open_worktree()
            return {"workspace": Workspace.WORKTREE}
        if chain.outcome.discarded:
            raise ServiceError(ALREADY_DISCARDED, status=409)
        if not root.finished:
            raise ServiceError(NOT_FINISHED, status=409)
        if not root.file_changes.exists():
            raise ServiceError(NOTHING_TO_DISCARD, status=409)
        return {"workspace": Workspace.WORKING_COPY}

    return _decide(user, task, GitActionKind.DISCARD, fields)


def task_continue(*, user: User, task: Task, prompt: str, executor: str | None = None) -> Task:
    """A follow-up task in the chain's worktree and branch (worktree_of = the chain's first
    task): only while the worktree is open, no task of the chain runs and no decision waits.
    Raises ServiceError."""
    if not Membership.objects.filter(user=user, team_id=task.team_id).exists():
        raise ServiceError(NO_SUCH_TASK, status=404)
    if not task.in_worktree:
        raise ServiceError(CONTINUE_WORKING_COPY, status=409)
    with transaction.atomic():
        chain = _Chain(task)
        chain.require_open_worktree()
        chain.require_idle()
        return task_create(
            user=user,
            project_id=chain.root.project_id,
            executor=executor or task.executor,
            prompt=prompt,
            worktree_of=chain.root,
        )


def repo_state_request(*, user: User, project: Project) -> GitAction:
    """Ask the project's host for its repository's state, at most one request at a time:
    the pending one, or a result younger than STATE_FRESH, stands for a new one."""
    if not project.is_git:
        raise ServiceError(NOT_GIT.format(project=project.name), status=409)
    with transaction.atomic():
        Project.objects.select_for_update().filter(id=project.id).first()
        asked = GitAction.objects.filter(project=project, action=GitActionKind.STATE).order_by("-id").first()
        fresh_after = timezone.now() - timedelta(seconds=STATE_FRESH)
        if asked is not None and (asked.finished_at is None or asked.finished_at > fresh_after):
            return asked  # waiting for the host, or answered a moment ago
        return _send(user=user, host=project.host, project=project, action=GitActionKind.STATE, fields={})


# What the host answers -------------------------------------------------------------------------

OUTCOME_OF: dict[str, Callable[[GitAction, GitResult], dict]] = {
    GitActionKind.COMMIT: lambda a, r: {
        "commit": r.commit or "", "commit_message": a.params["message"], "committed_at": timezone.now(),
    },
    GitActionKind.MERGE: lambda a, r: {
        "merged_into": a.params["into"], "merge_commit": r.commit or "", "merged_at": timezone.now(),
    },
    GitActionKind.PUSH: lambda a, r: {
        "pushed_remote": a.params.get("remote", ""), "pushed_branch": a.params["branch"],
        "pushed_at": timezone.now(),
    },
    GitActionKind.PULL_REQUEST: lambda a, r: {"pr_url": r.pr_url or ""},
    GitActionKind.DISCARD: lambda a, r: {"discarded_at": timezone.now(), "restored": r.restored},
}  # fmt: skip


def git_result_apply(*, host_id: int, result: GitResult) -> None:
    """A host's `git.result`: the request's outcome, the chain's or the project's state, the
    phones told. A request the hub does not know (or another host's), or already has, is ignored."""
    action = (
        GitAction.objects.select_for_update(of=("self",))
        .select_related("task", "project")
        .filter(request=result.request, host_id=host_id)
        .first()
    )
    if action is None or not action.pending:
        return
    if result.ok and action.action == GitActionKind.STATE and result.state is not None:
        state = result.state.model_dump(mode="json")
        RepoSnapshot.objects.update_or_create(
            project=action.project, defaults={"state": state, "taken_at": timezone.now()}
        )
    elif result.ok and action.chain_id is not None:
        GitOutcome.objects.update_or_create(
            task_id=action.chain_id, defaults=OUTCOME_OF[action.action](action, result)
        )
    error = "" if result.ok else (result.error or "the host gave no reason")
    _finish(
        action,
        ok=result.ok,
        error=error,
        files=result.files,
        result=result.model_dump(mode="json", exclude={"state"}),
    )


def _finish(action: GitAction, *, ok: bool, error: str, files: list[str], result: dict) -> None:
    action.state = GitActionState.SUCCEEDED if ok else GitActionState.FAILED
    action.error, action.files, action.result, action.finished_at = error, files, result, timezone.now()
    action.save(update_fields=["state", "error", "files", "result", "finished_at"])
    task, root_id = action.task, action.chain_id
    if task is not None and root_id is not None:  # a decision (a project's state has neither)
        failure: dict[str, Any] = {} if ok else {"error": error, "files": files[:20]}
        task_audit(task=task, action=f"git.{action.action}.{action.state}", request=action.request, **failure)
        _tell_chain(task, root_id)
    # The repository page follows the project (a merge or a discard changes it too).
    group_send_on_commit(
        project_group(action.project_id), {"type": "projects.changed", "project": action.project_id}
    )


def _tell_chain(task: Task, root_id: int) -> None:
    """Every page of the chain shows its decisions: the task decided on is told as any
    change, the chain's other tasks on their own groups."""
    tell_phones(task)
    others = chain_tasks(root_id).exclude(id=task.id).values_list("id", "state")
    for task_id, state in others:
        group_send_on_commit(task_group(task_id), {"type": "task.changed", "task": task_id, "state": state})


def git_resends(*, host_id: int) -> list[dict]:
    """The requests a host whose link just opened has not answered, oldest first."""
    pending = GitAction.objects.filter(host_id=host_id, state=GitActionState.PENDING).order_by("id")
    return [action.params for action in pending]


def git_actions_expire(*, now=None) -> int:
    """Fail the requests pending longer than GIT_ACTION_TTL: the host did not answer."""
    deadline = (now or timezone.now()) - timedelta(seconds=settings.GIT_ACTION_TTL)
    expired = 0
    stale = GitAction.objects.filter(state=GitActionState.PENDING, created_at__lte=deadline)
    for action_id in stale.values_list("id", flat=True):
        with transaction.atomic():
            locked = GitAction.objects.select_for_update(of=("self",))
            action = locked.select_related("task").get(id=action_id)
            if action.pending:
                _finish(action, ok=False, error=HOST_DID_NOT_ANSWER, files=[], result={})
                expired += 1
    return expired
