"""Commit, merge, push and the state of a repository.

Where a merge happens: git's `merge-tree --write-tree` first merges in memory, touching
neither the working copy, the index nor any ref. A conflict is reported with its files and
nothing changed, so there is never a merge to abort. A clean merge then lands:

- `into` checked out in a worktree (the user's working copy or a task's): by `git merge` in
  that worktree, after refusing (DirtyFiles, naming them) if it has uncommitted changes in any
  file the merge changes; changes elsewhere stay as they are, as with a merge by hand.
- `into` checked out nowhere: the merge commit is written with `git commit-tree` from the tree
  merge-tree made, and the branch moved with `git update-ref <new> <old>`, which fails if the
  branch moved meanwhile. No temporary worktree, no checkout of 10,000 files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hostagent.git import names
from hostagent.git.runner import PUSH_TIMEOUT, DirtyFiles, GitError, MergeConflict, Refused, git
from hostagent.git.worktrees import branch_exists, toplevel, worktree_records

NOTHING_TO_COMMIT = "there is nothing to commit"
NOT_A_BRANCH = "{name} is not a branch of this repository"
NOT_A_REMOTE = "{name} is not a remote of this repository (it has: {remotes})"
CONFLICT = "merging {branch} into {into} conflicts in {files}; nothing was changed"
DIRTY = "{into} is checked out in {path} with uncommitted changes to files the merge changes: {files}"
ON_NO_BRANCH = "the working copy is on no branch"


@dataclass(frozen=True)
class MergeResult:
    kind: str  # "fast-forward", "merge" or "up-to-date"
    commit: str  # `into`'s commit after the merge


@dataclass
class DirtyFile:
    path: str
    status: str  # porcelain v2's XY ("?" for untracked, "U" pairs for unmerged)


@dataclass
class RepoState:
    branch: str | None  # None: a detached HEAD
    head: str | None  # None: no commit yet
    upstream: str | None
    ahead: int = 0
    behind: int = 0
    dirty: list[DirtyFile] = field(default_factory=list)


def commit(worktree: str | os.PathLike[str], message: str, hub_user: names.HubUser) -> str:
    """Stage every change in `worktree` and commit it: `message` as written (`#` lines kept),
    then `Requested-by: <hub user>`. The author is whoever the host's git config says. Returns
    the new commit. Raises Refused (before any git runs, for a bad message or user), GitError
    (with a hook's own words if one refused)."""
    names.check_message(message)
    trailer = hub_user.trailer()
    root = toplevel(worktree)
    if current_branch_or_none(root) is None:
        raise Refused(ON_NO_BRANCH)
    git(["add", "--all", "--", "."], root)
    staged = git(["diff", "--cached", "--quiet"], root, check=False)
    if staged.returncode == 0:
        raise Refused(NOTHING_TO_COMMIT)
    # The trailer is appended as text: `git commit --trailer` reads `#` lines as comments and
    # would put it above them.
    text = f"{message.rstrip()}\n\n{trailer}\n"
    git(["commit", "--cleanup=whitespace", "--file=-"], root, stdin=text)
    return git(["rev-parse", "HEAD"], root).stdout.strip()


def current_branch_or_none(root: str) -> str | None:
    result = git(["symbolic-ref", "--quiet", "--short", "HEAD"], root, check=False)
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def _checked_out(root: str, branch: str) -> str | None:
    """The worktree `branch` is checked out in, or None."""
    for info in worktree_records(root):
        if info.get("branch") == f"refs/heads/{branch}" and "worktree" in info:
            return info["worktree"]
    return None


def _rev(root: str, ref: str) -> str:
    return git(["rev-parse", "--verify", f"{ref}^{{commit}}"], root).stdout.strip()


def merge(project_root: str | os.PathLike[str], branch: str, into: str) -> MergeResult:
    """Merge `branch` into `into`: fast-forward when possible, else a merge commit. Raises Refused
    (bad names before any git runs; DirtyFiles), MergeConflict (with the files; nothing changed)
    or GitError."""
    names.check_branch(branch)
    names.check_branch(into)
    root = toplevel(project_root)
    for name in (branch, into):
        if not branch_exists(root, name):
            raise Refused(NOT_A_BRANCH.format(name=name))
    theirs = _rev(root, f"refs/heads/{branch}")
    ours = _rev(root, f"refs/heads/{into}")
    if git(["merge-base", "--is-ancestor", theirs, ours], root, check=False).returncode == 0:
        return MergeResult("up-to-date", ours)
    fast_forward = git(["merge-base", "--is-ancestor", ours, theirs], root, check=False).returncode == 0
    tree = None
    if not fast_forward:
        tree = _merge_tree(root, branch, into, ours, theirs)
    where = _checked_out(root, into)
    if where is not None:
        return _merge_in(where, branch, into, ours, theirs, fast_forward)
    if fast_forward:
        git(["update-ref", "-m", f"merge {branch}: Fast-forward", f"refs/heads/{into}", theirs, ours], root)
        return MergeResult("fast-forward", theirs)
    assert tree is not None
    message = f"Merge branch '{branch}' into {into}\n"
    new = git(["commit-tree", tree, "-p", ours, "-p", theirs, "-F", "-"], root, stdin=message).stdout.strip()
    git(["update-ref", "-m", f"merge {branch}", f"refs/heads/{into}", new, ours], root)
    return MergeResult("merge", new)


def _merge_tree(root: str, branch: str, into: str, ours: str, theirs: str) -> str:
    args = ["merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", ours, theirs]
    result = git(args, root, check=False)
    parts = result.stdout.split("\0")
    if result.returncode == 1:
        files = sorted({p for p in parts[1:] if p})
        raise MergeConflict(CONFLICT.format(branch=branch, into=into, files=", ".join(files)), files)
    if result.returncode != 0:
        text = result.stderr.strip() or "git merge-tree failed"
        raise GitError(text, returncode=result.returncode, stderr=result.stderr)
    return parts[0]


def _merge_in(where: str, branch: str, into: str, ours: str, theirs: str, fast_forward: bool) -> MergeResult:
    changed = set(git(["diff", "--name-only", "-z", "--no-renames", ours, theirs], where).stdout.split("\0"))
    changed.discard("")
    dirty = {d.path for d in _status(where).dirty}
    touched = sorted(changed & dirty)
    if touched:
        raise DirtyFiles(DIRTY.format(into=into, path=where, files=", ".join(touched)), touched)
    message = f"Merge branch '{branch}' into {into}"  # as the merge-tree path writes it
    args = ["merge", "--ff-only"] if fast_forward else ["merge", "--no-ff", "--no-edit", "-m", message]
    result = git([*args, theirs], where, check=False)
    if result.returncode != 0:
        # A hook refused, or git found a file it would overwrite: leave no merge half done.
        if git(["rev-parse", "-q", "--verify", "MERGE_HEAD"], where, check=False).returncode == 0:
            git(["merge", "--abort"], where, check=False)
        text = result.stderr.strip() or result.stdout.strip()
        raise GitError(text, returncode=result.returncode, stderr=result.stderr)
    return MergeResult("fast-forward" if fast_forward else "merge", _rev(where, "HEAD"))


def push(repo: str | os.PathLike[str], branch: str, remote: str) -> None:
    """`git push <remote> <branch>` with the host's own credentials and no prompt. `remote` must
    be one `git remote` lists (a URL is refused before any git runs)."""
    names.check_branch(branch)
    names.check_remote_name(remote)
    root = toplevel(repo)
    remotes = git(["remote"], root).stdout.split()
    if remote not in remotes:
        raise Refused(NOT_A_REMOTE.format(name=remote, remotes=", ".join(remotes) or "none"))
    if not branch_exists(root, branch):
        raise Refused(NOT_A_BRANCH.format(name=branch))
    git(["push", "--", remote, f"refs/heads/{branch}:refs/heads/{branch}"], root, timeout=PUSH_TIMEOUT)


def repo_state(project_root: str | os.PathLike[str]) -> RepoState:
    """Branch, upstream, ahead/behind and the files with uncommitted changes."""
    return _status(toplevel(project_root))


def _status(root: str) -> RepoState:
    out = git(["status", "--porcelain=v2", "--branch", "--untracked-files=all", "-z"], root).stdout
    state = RepoState(None, None, None)
    fields = out.split("\0")
    i = 0
    while i < len(fields):
        line = fields[i]
        i += 1
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2]
            state.head = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            state.branch = None if head == "(detached)" else head
        elif line.startswith("# branch.upstream "):
            state.upstream = line.split(" ", 2)[2]
        elif line.startswith("# branch.ab "):
            ahead, behind = line.split(" ")[2:4]
            state.ahead, state.behind = int(ahead), abs(int(behind))
        elif line.startswith("1 "):
            state.dirty.append(DirtyFile(line.split(" ", 8)[8], line.split(" ")[1]))
        elif line.startswith("2 "):
            state.dirty.append(DirtyFile(line.split(" ", 9)[9], line.split(" ")[1]))
            i += 1  # the path it was renamed from
        elif line.startswith("u "):
            state.dirty.append(DirtyFile(line.split(" ", 10)[10], line.split(" ")[1]))
        elif line.startswith("? "):
            state.dirty.append(DirtyFile(line[2:], "?"))
    return state
