"""A task's own branch and worktree, under the agent's data folder (never inside the project).

`<data dir>/worktrees/<project folder name>-<hash of its path>/<task-id>-<slug>` holds the
worktree of branch `codexhub/<task-id>-<slug>`; the data dir is the folder of agent.toml
(hostagent/config.py), passed in by the caller.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hostagent.config import ensure_dir
from hostagent.git import names
from hostagent.git.runner import Refused, git

WORKTREES_NAME = "worktrees"
NO_BRANCH = "the project's working copy is on no branch (a detached HEAD): name the base branch"
NOT_TOP = "{path} is not the top folder of a git repository"
NO_SUCH_BRANCH = "there is no branch {name}"
NO_TASK_WORKTREE = "task {task_id} has no worktree"
EXISTS = "{path} already exists"
NOT_MERGED = "{branch} is not merged into {into}: discard it instead"


@dataclass(frozen=True)
class Worktree:
    path: str
    branch: str
    task_id: int
    head: str = ""
    prunable: bool = False  # its folder is gone


def worktrees_dir(config_file: Path) -> Path:
    """Where task worktrees live: beside agent.toml, like the ledger and the outbox."""
    return config_file.parent / WORKTREES_NAME


def toplevel(folder: str | os.PathLike[str]) -> str:
    """The real path of `folder`, which must be the top of a git repository (or of a worktree)."""
    root = os.path.realpath(folder)
    if not os.path.isdir(root):
        raise Refused(NOT_TOP.format(path=ascii(str(folder))))
    top = git(["rev-parse", "--show-toplevel"], root, check=False)
    if top.returncode != 0 or os.path.realpath(top.stdout.rstrip("\n")) != root:
        raise Refused(NOT_TOP.format(path=ascii(str(folder))))
    return root


def current_branch(root: str) -> str | None:
    result = git(["symbolic-ref", "--quiet", "--short", "HEAD"], root, check=False)
    return result.stdout.strip() or None if result.returncode == 0 else None


def branch_exists(root: str, branch: str) -> bool:
    result = git(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"], root, check=False)
    return result.returncode == 0


def project_worktrees(data_dir: Path, root: str) -> Path:
    """The folder under `data_dir` the worktrees of the repository whose top level is `root` go in."""
    return _project_folder(data_dir, root)


def _project_folder(data_dir: Path, root: str) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(root))[:40] or "project"
    digest = hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return data_dir / f"{name}-{digest}"


def worktree_create(
    project_root: str | os.PathLike[str],
    task_id: int,
    slug: str,
    base: str | None = None,
    *,
    data_dir: Path,
) -> Worktree:
    """Branch `codexhub/<task_id>-<slug>` from `base` (default: the working copy's branch) in a
    new worktree under `data_dir`. Raises Refused (bad names: before any git runs) or GitError."""
    branch = names.task_branch(task_id, slug)
    if base is not None:
        names.check_branch(base)
    root = toplevel(project_root)
    if base is None:
        base = current_branch(root)
        if base is None:
            raise Refused(NO_BRANCH)
    if not branch_exists(root, base):
        raise Refused(NO_SUCH_BRANCH.format(name=base))
    folder = _project_folder(Path(os.path.realpath(data_dir)), root)
    path = folder / f"{task_id}-{slug}"
    if os.path.lexists(path):
        raise Refused(EXISTS.format(path=path))
    ensure_dir(folder)
    git(["worktree", "add", "-b", branch, "--", str(path), f"refs/heads/{base}"], root)
    head = git(["rev-parse", "HEAD"], str(path)).stdout.strip()
    return Worktree(str(path), branch, task_id, head)


def worktrees(project_root: str | os.PathLike[str]) -> list[Worktree]:
    """The project's codexhub task worktrees (`git worktree list`), prunable ones included."""
    root = toplevel(project_root)
    found = []
    for info in worktree_records(root):
        ref = info.get("branch", "")
        if not ref.startswith("refs/heads/"):
            continue
        branch = ref[len("refs/heads/") :]
        task_id = names.task_id_of(branch)
        if task_id is None or "worktree" not in info:
            continue
        found.append(Worktree(info["worktree"], branch, task_id, info.get("HEAD", ""), "prunable" in info))
    return found


def worktree_records(root: str) -> list[dict[str, str]]:
    """`git worktree list --porcelain -z`: one {attribute: value} per worktree."""
    out = git(["worktree", "list", "--porcelain", "-z"], root).stdout
    records = []
    for record in out.split("\0\0"):
        info: dict[str, str] = {}
        for line in record.split("\0"):
            key, _, value = line.partition(" ")
            if key:
                info[key] = value
        if info:
            records.append(info)
    return records


def _find(root: str, task_id: int) -> Worktree:
    for tree in worktrees(root):
        if tree.task_id == task_id:
            return tree
    raise Refused(NO_TASK_WORKTREE.format(task_id=task_id))


def _remove(root: str, tree: Worktree, *, force: bool) -> None:
    if os.path.isdir(tree.path):
        git(["worktree", "remove", *(["--force"] if force else []), "--", tree.path], root)
    git(["worktree", "prune"], root)


def worktree_remove(project_root: str | os.PathLike[str], task_id: int) -> None:
    """Discard task `task_id`'s work: its worktree (uncommitted changes too) and its branch go."""
    names.check_task_id(task_id)
    root = toplevel(project_root)
    tree = _find(root, task_id)
    _remove(root, tree, force=True)
    git(["branch", "-D", "--", tree.branch], root)
    _rmdir_empty(os.path.dirname(tree.path))


def worktree_cleanup(project_root: str | os.PathLike[str], task_id: int, merged_into: str) -> None:
    """After a merge: the worktree and branch go, only if the branch is merged into `merged_into`
    and the worktree holds no uncommitted change (git refuses, GitError)."""
    names.check_task_id(task_id)
    names.check_branch(merged_into)
    root = toplevel(project_root)
    tree = _find(root, task_id)
    merged = git(
        ["merge-base", "--is-ancestor", f"refs/heads/{tree.branch}", f"refs/heads/{merged_into}"],
        root,
        check=False,
    )
    if merged.returncode != 0:
        raise Refused(NOT_MERGED.format(branch=tree.branch, into=merged_into))
    _remove(root, tree, force=False)
    git(["branch", "-D", "--", tree.branch], root)
    _rmdir_empty(os.path.dirname(tree.path))


def worktrees_stale(project_root: str | os.PathLike[str], live: set[int]) -> list[Worktree]:
    """The task worktrees whose task is not in `live` (unknown to the ledger, or finished)."""
    return [tree for tree in worktrees(project_root) if tree.task_id not in live]


def _rmdir_empty(folder: str) -> None:
    try:
        os.rmdir(folder)  # the project's folder under worktrees/, once its last task is gone
    except OSError:
        pass
