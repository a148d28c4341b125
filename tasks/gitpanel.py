"""What the pages show of git: the decide panel of a task's page (its chain's branch, what
became of it, what is waiting, git's own words when it failed, the decisions on offer with
their exact effect) and a project's repository page. Nothing here writes."""

import re
from dataclasses import dataclass

from accounts.models import User
from projects.models import Project
from tasks.diffview import FileDiff, file_diffs
from tasks.git import chain_outcome, chain_tasks, git_user, may_decide, ran_since_commit
from tasks.models import LIVE_STATES, GitAction, GitActionState, RepoSnapshot, Task

DIFF_CUT = "The host cut the diff: it shows the first 256 KiB."


@dataclass(frozen=True)
class Decision:
    name: str  # the URL's action
    title: str  # what the sheet is called
    effect: str  # exactly what happens, in words
    confirm: str  # the confirm button
    danger: bool = False


def task_git_panel(*, task: Task, user: User) -> dict:
    """The context of templates/tasks/_git_panel.html; {} when git has nothing to show."""
    root = task.worktree_of or task
    actions = list(GitAction.objects.filter(chain=root).order_by("-id")[:20])
    changed = root.file_changes.exists()
    if not (root.in_worktree or actions or (root.finished and changed)):
        return {}
    outcome = chain_outcome(root)
    pending = next((a for a in actions if a.pending), None)
    finished = next((a for a in actions if not a.pending), None)
    live = chain_tasks(root.id).filter(state__in=LIVE_STATES).exists()
    can_decide = may_decide(user=user, host=task.host)
    idle = can_decide and pending is None and not live
    worktree_open = root.in_worktree and bool(root.branch) and not outcome.closed
    return {
        "git_root": root,
        "git_outcome": outcome,
        "git_pending": pending,
        "git_failed": finished if finished and finished.state == GitActionState.FAILED else None,
        "git_live": live,
        "git_can_decide": can_decide,
        "git_ran_since_commit": outcome.commit and ran_since_commit(root, outcome),
        "git_commit_title": outcome.commit_message.split("\n", 1)[0],
        "git_decisions": _decisions(task, root, outcome, changed, user) if idle else [],
        "git_can_continue": worktree_open and pending is None and not live,
        "git_message": task.prompt.strip()[:16384],
        "git_remotes": _remotes(task.project),
    }


def _decisions(task: Task, root: Task, outcome, changed: bool, user: User) -> list[Decision]:
    if not root.in_worktree:
        if outcome.discarded or not root.finished or not changed:
            return []
        count = root.file_changes.count()
        files = f"{count} file{'s' if count != 1 else ''}"
        effect = (
            f"Put back the {files} this task changed in the working copy of {root.project.name}, as they "
            "were before it. If any of them changed since, nothing is written."
        )
        return [Decision("discard", "Discard", effect, "Put the files back", danger=True)]
    if outcome.merged:
        into = outcome.merged_into
        if outcome.pushed_branch == into and outcome.pushed_at and outcome.pushed_at >= outcome.merged_at:
            return []  # the merge is pushed: nothing left to decide
        return [Decision("push", "Push", f"Push {into} to the remote.", f"Push {into}")]
    if not root.branch or outcome.discarded:
        return []
    return _worktree_decisions(task, root, outcome, user)


def _worktree_decisions(task: Task, root: Task, outcome, user: User) -> list[Decision]:
    branch, base, host = root.branch, root.base, task.host.name
    committed, uncommitted = bool(outcome.commit), ran_since_commit(root, outcome)
    decisions = []
    if uncommitted:  # nothing new to commit otherwise
        trailer = git_user(user)
        effect = (
            f"Commit every change in the worktree on {branch}, with this message and the line "
            f"“Requested-by: {trailer['name']} <{trailer['email']}>”. "
            f"The author is whoever {host}'s git says."
        )
        decisions.append(Decision("commit", "Commit", effect, f"Commit on {branch}"))
    if committed and base and not uncommitted:
        effect = (
            f"Merge {branch} into {base} on {host}. Then its worktree and the branch {branch} are removed."
        )
        decisions.append(Decision("merge", f"Merge into {base}", effect, f"Merge {branch} into {base}"))
    if committed:
        effect = f"Push {branch} to the remote: the one named below, else its upstream's, else origin."
        decisions.append(Decision("push", "Push", effect, f"Push {branch}"))
    pushed = outcome.pushed_branch == branch
    if committed and base and pushed and not outcome.pr_url and "gh" in task.host.capabilities:
        title = outcome.commit_message.split("\n", 1)[0].strip()
        effect = (
            f"Open a pull request from {branch} into {base} with gh on {host}, titled “{title}”, "
            "the prompt as its description."
        )
        decisions.append(Decision("pull-request", "Pull request", effect, "Open the pull request"))
    effect = (
        f"Delete the worktree and the branch {branch} on {host}, with every change on it that is not "
        "merged, commits too. This cannot be undone."
    )
    decisions.append(Decision("discard", "Discard", effect, f"Discard {branch}", danger=True))
    return decisions


def _remotes(project: Project) -> list[str]:
    snapshot = RepoSnapshot.objects.filter(project=project).first()
    return list(snapshot.state.get("remotes", [])) if snapshot else []


# The repository page ---------------------------------------------------------------------


@dataclass
class _Change:
    """What tasks.diffview reads of a file change, cut from a repository's whole diff."""

    path: str
    op: str
    diff: str
    binary: bool = False
    too_large: bool = False


_FILE_START = re.compile(r"^(?=diff --git )", re.MULTILINE)
_GIT_HEADER = re.compile(r"^diff --git a/(.*) b/(.*)$")


def split_diff(text: str) -> list[_Change]:
    """`git diff`'s output, one change per file."""
    changes = []
    for piece in _FILE_START.split(text):
        if not piece.startswith("diff --git "):
            continue
        head = piece.split("\n@@", 1)[0]
        lines = head.split("\n")
        named = _GIT_HEADER.match(lines[0])
        path = named.group(2) if named else lines[0][len("diff --git ") :]
        for line in lines:
            if line.startswith("+++ b/"):
                path = line[len("+++ b/") :]
        op = "modified"
        if "\nnew file mode" in head or "\n--- /dev/null" in head:
            op = "created"
        elif "\ndeleted file mode" in head or "\n+++ /dev/null" in head:
            op = "deleted"
        binary = "\nBinary files " in head or "\nGIT binary patch" in head
        changes.append(_Change(path=path, op=op, diff=piece, binary=binary))
    return changes


def repo_page(*, project: Project, asked: GitAction | None) -> dict:
    """The context of the repository page: the last state the host reported, its diff
    ready to read, and the request in flight (waiting) or git's words if it failed."""
    snapshot = RepoSnapshot.objects.filter(project=project).first()
    state = snapshot.state if snapshot else None
    diffs: list[FileDiff] = file_diffs(split_diff(state.get("diff", ""))) if state else []
    return {
        "project": project,
        "snapshot": snapshot,
        "state": state,
        "changes": diffs,
        "diff_cut": DIFF_CUT if state and state.get("diff_truncated") else "",
        "waiting": asked is not None and asked.pending,
        "failed": asked if asked is not None and asked.state == GitActionState.FAILED else None,
    }
