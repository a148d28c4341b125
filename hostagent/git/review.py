"""What the phone sees of a repository: its uncommitted diff (untracked files shown as new
files), its local branches and its remotes, within the protocol's limits.

The diff is `git diff HEAD` (the staged changes of a repository with no commit yet), read no
further than needed, then each untracked file as git would show it added. It is cut at a
line's end to `limit` characters, saying so.
"""

from __future__ import annotations

import os
import stat

from hostagent.git import names
from hostagent.git.ops import RepoState
from hostagent.git.runner import Refused, git, git_head
from protocol.branches import TASK_BRANCH_PREFIX, branch_error, remote_error

READ_FACTOR = 4  # bytes of git's diff read per character kept (UTF-8 is at most 4 bytes a character)
DIFF_OPTIONS = ["--no-color", "--no-ext-diff", "--no-textconv", "--no-renames"]
BINARY_PEEK = 8000  # git too looks for a NUL in the first 8000 bytes


def uncommitted_diff(root: str, state: RepoState, limit: int) -> tuple[str, bool]:
    """(the diff of every uncommitted change in the worktree at `root`, whether it was cut)."""
    against = ["HEAD"] if state.head is not None else ["--cached"]
    data, more = git_head(["diff", *DIFF_OPTIONS, *against, "--"], root, limit * READ_FACTOR)
    pieces = [_text(data)]
    size = len(pieces[0])
    for dirty in state.dirty:
        if more or size > limit:
            break
        if dirty.status != "?":
            continue
        piece, more = _new_file(root, dirty.path, limit - size + 1)
        pieces.append(piece)
        size += len(piece)
    return _cut("".join(pieces), limit, more)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _cut(diff: str, limit: int, more: bool) -> tuple[str, bool]:
    if len(diff) <= limit and not more:
        return diff, False
    head = diff[:limit]
    end = head.rfind("\n")
    return head[: end + 1], True


def _new_file(root: str, path: str, room: int) -> tuple[str, bool]:
    """`path` (untracked) as `git diff` shows an added file, at most about `room` characters of it
    (then cut after a whole line), and whether it was cut."""
    try:
        _, full = names.inside(root, path)
        st = os.lstat(full)
    except (Refused, OSError):
        return "", False
    shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    cut = False
    if stat.S_ISLNK(st.st_mode):
        mode, data = "120000", os.readlink(full).encode("utf-8", "surrogateescape")
    elif stat.S_ISREG(st.st_mode):
        mode, data = ("100755" if st.st_mode & 0o111 else "100644"), _read(full, room * READ_FACTOR)
        cut = st.st_size > len(data)
    else:
        return "", False
    header = f"diff --git a/{shown} b/{shown}\nnew file mode {mode}\n"
    if not data:
        return header, cut
    if b"\0" in data[:BINARY_PEEK]:
        return header + f"Binary files /dev/null and b/{shown} differ\n", False
    if cut:
        data = data[: data.rfind(b"\n") + 1]  # whole lines only
        if not data:
            return header, True
    lines = _text(data).split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    body = "".join(f"+{line}\n" for line in lines)
    if not ends_with_newline:
        body += "\\ No newline at end of file\n"
    count = f"1,{len(lines)}" if len(lines) != 1 else "1"
    return header + f"--- /dev/null\n+++ b/{shown}\n@@ -0,0 +{count} @@\n" + body, cut


def _read(full: str, room: int) -> bytes:
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return b""
        return f.read(max(room, 0))


def branches(root: str) -> list[str]:
    """Local branches the protocol can name, other branches before the task branches."""
    out = git(["for-each-ref", "--format=%(refname:strip=2)", "refs/heads/"], root).stdout
    found = [name for name in out.splitlines() if branch_error(name) is None]
    return sorted(found, key=lambda name: (name.startswith(TASK_BRANCH_PREFIX), name))


def remotes(root: str) -> list[str]:
    return [name for name in git(["remote"], root).stdout.split() if remote_error(name) is None]


def push_remote(root: str, branch: str) -> str:
    """Where `branch` goes when no remote is named: its upstream's remote, else origin, else the
    only remote. Raises Refused if none of these is."""
    names.check_branch(branch)
    listed = remotes(root)
    upstream = git(
        ["for-each-ref", "--format=%(upstream:remotename)", f"refs/heads/{branch}"], root
    ).stdout.strip()
    if upstream in listed:
        return upstream
    if "origin" in listed:
        return "origin"
    if len(listed) == 1:
        return listed[0]
    if not listed:
        raise Refused("the repository has no remote to push to")
    raise Refused(f"name the remote to push to: the repository has {', '.join(listed)}")
