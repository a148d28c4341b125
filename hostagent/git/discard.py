"""Undo a task that ran in the user's working copy, file by file, from what the task recorded.

The task service scans the project before and after a task (hostagent/tasks/changes.py); a
`FileChange` is one changed path with the sha256 of its bytes before and after (None: the file
did not exist), which is what the scans' `Entry.hash` holds. The bytes from before come from
the change itself (`before_bytes`, the text the snapshot kept) or else from git: the blob at
HEAD, or in the index, whose sha256 is the recorded one (a project that is not a git
repository has only the kept text).

All or nothing: every file is checked first. A file that changed again since the task (its
sha256 is no longer `after`) or whose earlier bytes cannot be found is named in the refusal,
and then no file is written. Files are replaced atomically and never through a symlink
(hostagent/files.write_atomic).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from hostagent.files import WriteRefused, write_atomic
from hostagent.git import names
from hostagent.git.runner import Refused, git, git_bytes
from hostagent.git.worktrees import toplevel

CHANGED_SINCE = "these files changed since the task, so nothing was restored: {files}"
NO_COPY = (
    "these files as they were before the task are neither in git nor kept, so nothing was restored: {files}"
)
NOT_A_FILE = "these are not regular files, so nothing was restored: {files}"


@dataclass(frozen=True)
class FileChange:
    path: str  # `/`-joined, relative to the project root
    before: str | None  # sha256 hex of the bytes before the task; None: it did not exist
    after: str | None  # sha256 hex after the task; None: the task deleted it
    before_bytes: bytes | None = None


class DiscardRefused(Refused):
    def __init__(self, message: str, files: list[str]):
        super().__init__(message)
        self.files = files


def _current(full: str) -> tuple[str | None, int | None]:
    """(sha256 of the file now or None if absent, its mode). Raises DiscardRefused for a non-file."""
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return None, None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(full)
    digest = hashlib.sha256()
    with open(full, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest(), stat.S_IMODE(st.st_mode)


def _from_git(root: str, path: str, want: str) -> bytes | None:
    for spec in (f"HEAD:{path}", f":0:{path}"):
        oid = git(["rev-parse", "-q", "--verify", spec], root, check=False)
        if oid.returncode != 0:
            continue
        blob = _blob(root, oid.stdout.strip())
        if blob is not None and hashlib.sha256(blob).hexdigest() == want:
            return blob
    return None


def _repository(root: str) -> str | None:
    """The project's git top folder, or None when the project is not a repository: then the
    bytes from before come only from what the task kept."""
    try:
        return toplevel(root)
    except Refused:
        return None


def _blob(root: str, oid: str) -> bytes | None:
    return git_bytes(["cat-file", "blob", oid], root)


def discard_in_working_copy(project_root: str | os.PathLike[str], changes: Iterable[FileChange]) -> list[str]:
    """Put back every file `changes` names as it was before the task; returns the paths restored.
    Raises Refused (a path outside the project: before any git runs) or DiscardRefused (naming
    the files), having changed nothing."""
    changes = list(changes)
    root = os.path.realpath(project_root)
    targets = [(change, *names.inside(root, change.path)) for change in changes]
    repo = _repository(root)
    changed, missing, odd = [], [], []
    plan: list[tuple[str, str, bytes | None, int | None]] = []
    for change, rel, full in targets:
        try:
            now, mode = _current(full)
        except ValueError:
            odd.append(rel)
            continue
        if now != change.after:
            changed.append(rel)
            continue
        if change.before is None:
            plan.append((rel, full, None, mode))
            continue
        data = change.before_bytes
        if data is not None and hashlib.sha256(data).hexdigest() != change.before:
            data = None
        if data is None and repo is not None:
            data = _from_git(repo, rel, change.before)
        if data is None:
            missing.append(rel)
            continue
        plan.append((rel, full, data, mode))
    for message, files in ((NOT_A_FILE, odd), (CHANGED_SINCE, changed), (NO_COPY, missing)):
        if files:
            raise DiscardRefused(message.format(files=", ".join(sorted(files))), sorted(files))
    for rel, full, data, _mode in plan:
        if data is None:
            if os.path.lexists(full):
                os.unlink(full)
            continue
        try:
            write_atomic(root, rel, data, make_folders=True)
        except WriteRefused as exc:
            raise DiscardRefused(f"{rel}: {exc}", [rel]) from None
    return [rel for rel, *_ in plan]
