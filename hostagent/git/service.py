"""`GitService`: the phone's decisions about a task's change, as `git.request`s through a
HostLink (docs/protocol.md, "Git (stream `git`)").

- A request whose id cannot be read is logged and ignored; one whose id can be read but whose
  body the protocol refuses is answered `ok: false` with the reason.
- Each request id runs at most once (the ledger: running, then done). A duplicate is ignored:
  its `git.result` is in the outbox already. After each welcome, a request the ledger says is
  running but this process is not doing was cut short by a stop: it is answered `ok: false`
  with STOPPED, never run again (half a merge or push may have happened).
- Git work is serialised per project and runs in a worker thread; work on a task's worktree is
  refused while a task runs in it.
- The actions: `state` (of the working copy, or of a task's worktree), `commit`, `merge`
  (refused while the worktree has uncommitted changes; the worktree and branch go after it),
  `push`, `pull_request` (with `gh`, when the host has it) and `discard` (a worktree: removed
  with its branch; the working copy: its files put back from the ledger's record).
- git's own words go back verbatim in `error`; refusals name the files they are about.

Results go out with `link.send` on stream `git`, built through protocol.git.GitResult.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hostagent import git as gitops
from hostagent.git import gh, review
from hostagent.git.worktrees import Worktree
from hostagent.link import HostLink
from hostagent.requests import HubRequests, Invalid
from hostagent.tasks.ledger import WORKING_COPY, Ledger, Workspace
from protocol import limits
from protocol.branches import branch_error

if TYPE_CHECKING:
    from hostagent.tasks.service import TaskService
    from protocol.git import GitRequest

log = logging.getLogger("hostagent.git")

STREAM = "git"
REQUEST_ID = re.compile(limits.GIT_REQUEST)
STOPPED = "the agent stopped while doing this: look at the repository before trying again"
NOT_SHARED = "project {project!r} is not shared by this host"
NO_WORKTREE = "task {task_id} has no worktree in project {project!r}"
NOT_ITS_BRANCH = "{branch} is not the branch of task {task_id} ({own})"
NOT_ITS_PUSH = "{branch} is neither task {task_id}'s branch nor the branch it was merged into"
UNCOMMITTED = "commit or discard the changes of task {task_id} first: {files}"
TASK_RUNNING = "a task is running in the worktree of task {task_id}: try again when it has finished"
WC_TASK_RUNNING = "a task is running in the working copy of {project!r}: try again when it has finished"
NOT_WORKING_COPY_TASK = "task {task_id} did not run in the working copy of {project!r} on this host"
NOT_RECORDED = "this host keeps no record of what task {task_id} changed, so nothing was restored"
DISCARDED = "task {task_id}'s changes were discarded already"


class _Refused(gitops.Refused):
    """A request refused here, with the files it names (maybe none)."""

    def __init__(self, message: str, files: list[str] | None = None):
        super().__init__(message)
        self.files = files or []


def result_payload(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` as protocol.git.GitResult makes them (text cut and cleaned as the hub would).
    Raises ValueError for what the hub would refuse (a bug of ours).

    pydantic and the models are imported on the first request, not at start."""
    from pydantic import ValidationError

    from protocol.base import payload, reason
    from protocol.git import GitResult

    try:
        return payload(GitResult.model_validate(fields))
    except ValidationError as exc:
        raise ValueError(f"git.result: {reason(exc)}") from None


@dataclass
class _Work:
    """One validated request, with what the ledger knows of its task."""

    request: GitRequest
    root: str  # the project's real path
    worktree_task: int | None  # the task whose worktree it is about
    workspace: Workspace | None  # the ledger's record of that task


class GitService(HubRequests):
    kind, request_type, result_type, stream = "git", "git.request", "git.result", STREAM
    request_id, stopped = REQUEST_ID, STOPPED

    def __init__(self, projects: dict[str, str], ledger: Ledger, *, tasks: TaskService | None = None):
        super().__init__(ledger)
        self.projects = dict(projects)
        self.tasks = tasks  # to keep out of a worktree (or working copy) a task is running in
        self.locks: dict[str, asyncio.Lock] = {}

    def attach(self, link: HostLink) -> None:
        link.extend({"git.request": self.on_request}, after_welcome=self.on_welcome)
        self.link = link
        self._offer()

    def set_projects(self, projects: dict[str, str]) -> None:
        """Take requests for `projects` from now on (a live config edit); the caller sends hello."""
        self.projects = dict(projects)
        self._offer()

    def _offer(self) -> None:
        self.link.offer("git", bool(self.projects))
        self.link.offer("gh", bool(self.projects) and gh.gh_installed())

    async def stop(self) -> None:
        for task in list(self.running):
            task.cancel()
        await asyncio.gather(*list(self.running), return_exceptions=True)

    # Serving -----------------------------------------------------------------------------------

    def parse(self, message: dict[str, Any]) -> GitRequest:
        from pydantic import ValidationError

        from protocol.base import reason
        from protocol.git import GitRequest

        try:
            return GitRequest.model_validate(message)
        except ValidationError as exc:
            raise Invalid(reason(exc)) from None

    async def serve(self, request: GitRequest) -> None:
        await self.answer(request.request, await self._outcome(request))

    def result_payload(self, fields: dict[str, Any]) -> dict[str, Any]:
        return result_payload(fields)

    def shrink(self, fields: dict[str, Any]) -> bool:
        """Only a state's diff can be too large for a frame: halve it, at a line's end."""
        state = fields.get("state")
        if not state or not state.get("diff"):
            return False
        diff = state["diff"][: len(state["diff"]) // 2]
        state["diff"], state["diff_truncated"] = diff[: diff.rfind("\n") + 1], True
        return True

    async def _outcome(self, request: GitRequest) -> dict[str, Any]:
        """The result's fields: ok, or the refusal or git's error (with the files it names)."""
        try:
            return {"ok": True, **await self._run(request)}
        except gitops.MergeConflict as exc:
            return {"ok": False, "error": str(exc), "files": exc.files}
        except (gitops.DirtyFiles, gitops.DiscardRefused, _Refused) as exc:
            return {"ok": False, "error": str(exc), "files": exc.files}
        except (gitops.Refused, gitops.GitError) as exc:
            return {"ok": False, "error": str(exc)}

    async def _run(self, request: GitRequest) -> dict[str, Any]:
        if request.project not in self.projects:
            raise _Refused(NOT_SHARED.format(project=request.project))
        async with self.locks.setdefault(request.project, asyncio.Lock()):
            work = self._work(request)
            worktree_lock = self._worktree_lock(work)
            if worktree_lock is not None and worktree_lock.locked():
                raise _Refused(TASK_RUNNING.format(task_id=work.worktree_task))
            if worktree_lock is None:
                return await self._do(work)
            async with worktree_lock:
                return await self._do(work)

    def _work(self, request: GitRequest) -> _Work:
        root = os.path.realpath(self.projects[request.project])
        if request.task_id is None:
            return _Work(request, root, None, None)
        workspace = self.ledger.workspace(request.task_id)
        if workspace is not None and workspace.project != request.project:
            workspace = None  # another project's task: as good as unknown here
        worktree_task = workspace.worktree_task if workspace is not None else request.task_id
        if worktree_task != request.task_id:
            workspace = self.ledger.workspace(worktree_task)
        return _Work(request, root, worktree_task, workspace)

    def _worktree_lock(self, work: _Work) -> asyncio.Lock | None:
        touches_worktree = work.request.action in ("state", "commit", "merge", "discard")
        if self.tasks is None or work.worktree_task is None or not touches_worktree:
            return None
        if work.request.action == "discard" and work.request.workspace == WORKING_COPY:
            return None
        return self.tasks.worktree_lock(work.worktree_task)

    async def _do(self, work: _Work) -> dict[str, Any]:
        """Mark the request running, then do it in a worker thread; the ledger is written here,
        on the loop's thread, before and after."""
        request = work.request
        if not self.ledger.request_start(self.kind, request.request):
            raise _Refused(STOPPED)  # cannot happen: on_request checked it
        log.info("git %s in %s (request %s)", request.action, request.project, request.request)
        if request.action == "discard" and request.workspace == WORKING_COPY:
            return await self._discard_working_copy(work)
        action: Callable[[_Work], dict[str, Any]] = ACTIONS[request.action]
        fields = await asyncio.to_thread(action, work)
        if request.action == "merge" and work.worktree_task is not None:
            assert request.into is not None
            self.ledger.mark_merged(work.worktree_task, request.into)
        if request.action == "discard" and work.worktree_task is not None:
            self.ledger.mark_discarded(work.worktree_task)
        return fields

    async def _discard_working_copy(self, work: _Work) -> dict[str, Any]:
        request = work.request
        assert request.task_id is not None
        workspace = self.ledger.workspace(request.task_id)
        if workspace is None or workspace.kind != WORKING_COPY or workspace.project != request.project:
            raise _Refused(NOT_WORKING_COPY_TASK.format(task_id=request.task_id, project=request.project))
        if workspace.discarded:
            raise _Refused(DISCARDED.format(task_id=request.task_id))
        if not workspace.recorded:
            raise _Refused(NOT_RECORDED.format(task_id=request.task_id))
        if self.tasks is not None and self.tasks.running_in_working_copy(request.project):
            raise _Refused(WC_TASK_RUNNING.format(project=request.project))
        changes = [
            gitops.FileChange(c.path, c.before, c.after, c.before_bytes)
            for c in self.ledger.changes(request.task_id)
        ]
        restored = await asyncio.to_thread(gitops.discard_in_working_copy, work.root, changes)
        self.ledger.mark_discarded(request.task_id)
        return {"restored": sorted(restored)}


# The actions, each in a worker thread ----------------------------------------------------------


def _worktree(work: _Work, *, prunable: bool = False) -> Worktree:
    """The worktree of the request's task (its folder must exist unless `prunable`)."""
    for tree in gitops.worktrees(work.root):
        if tree.task_id == work.worktree_task and (prunable or not tree.prunable):
            return tree
    task_id = work.request.task_id
    raise _Refused(NO_WORKTREE.format(task_id=task_id, project=work.request.project))


def _state(work: _Work) -> dict[str, Any]:
    where = _worktree(work).path if work.worktree_task is not None else work.root
    state = gitops.repo_state(where)
    diff, truncated = review.uncommitted_diff(where, state, limits.MAX_REPO_DIFF)
    dirty = [{"path": _shown(d.path), "status": d.status} for d in state.dirty[: limits.MAX_DIRTY]]
    return {
        "state": {
            "branch": state.branch if branch_error(state.branch) is None else None,
            "head": state.head,
            "upstream": state.upstream,
            "ahead": state.ahead,
            "behind": state.behind,
            "dirty": dirty,
            "dirty_count": len(state.dirty),
            "diff": diff,
            "diff_truncated": truncated,
            "branches": review.branches(where)[: limits.MAX_BRANCHES],
            "remotes": review.remotes(where)[: limits.MAX_REMOTES],
        }
    }


def _shown(path: str) -> str:
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _commit(work: _Work) -> dict[str, Any]:
    request = work.request
    assert request.message is not None and request.requested_by is not None
    tree = _worktree(work)
    user = gitops.HubUser(request.requested_by.name, request.requested_by.email)
    return {"commit": gitops.commit(tree.path, request.message, user)}


def _merge(work: _Work) -> dict[str, Any]:
    request = work.request
    assert request.branch is not None and request.into is not None and work.worktree_task is not None
    tree = _worktree(work)
    if request.branch != tree.branch:
        raise _Refused(NOT_ITS_BRANCH.format(branch=request.branch, task_id=request.task_id, own=tree.branch))
    dirty = sorted(_shown(d.path) for d in gitops.repo_state(tree.path).dirty)
    if dirty:
        raise _Refused(UNCOMMITTED.format(task_id=request.task_id, files=", ".join(dirty)), dirty)
    merged = gitops.merge(work.root, request.branch, request.into)
    try:
        gitops.worktree_cleanup(work.root, work.worktree_task, request.into)
    except (gitops.Refused, gitops.GitError) as exc:
        log.warning("merged task %d, but its worktree stays: %s", work.worktree_task, exc)
    return {"merge": merged.kind, "commit": merged.commit}


def _pushable(work: _Work) -> None:
    """Refuses a branch that is neither the task's nor the one it was merged into (or its base)."""
    request = work.request
    allowed = set()
    if work.workspace is not None:
        allowed = {work.workspace.branch, work.workspace.base, work.workspace.merged_into}
    try:
        allowed.add(_worktree(work).branch)
    except _Refused:
        if work.workspace is None:
            raise
    if request.branch not in allowed:
        raise _Refused(NOT_ITS_PUSH.format(branch=request.branch, task_id=request.task_id))


def _push(work: _Work) -> dict[str, Any]:
    request = work.request
    assert request.branch is not None
    _pushable(work)
    remote = request.remote or review.push_remote(work.root, request.branch)
    gitops.push(work.root, request.branch, remote)
    return {}


def _pull_request(work: _Work) -> dict[str, Any]:
    request = work.request
    assert request.branch is not None and request.into is not None and request.title is not None
    if not gh.gh_installed():
        raise _Refused(gh.NOT_INSTALLED)
    _pushable(work)
    url = gh.pull_request_create(work.root, request.branch, request.into, request.title, request.body or "")
    return {"pr_url": url}


def _discard_worktree(work: _Work) -> dict[str, Any]:
    assert work.worktree_task is not None
    _worktree(work, prunable=True)
    gitops.worktree_remove(work.root, work.worktree_task)
    return {}


ACTIONS: dict[str, Callable[[_Work], dict[str, Any]]] = {
    "state": _state,
    "commit": _commit,
    "merge": _merge,
    "push": _push,
    "pull_request": _pull_request,
    "discard": _discard_worktree,
}
