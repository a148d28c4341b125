"""What an ACP agent may read and write through the host agent (docs/protocol.md, "What the agent may touch").

Only inside the project root: an absolute, NUL-free path whose real path
(symlinks resolved; for a new file, the real path of the folders that exist on
the way) is inside the realpath'd root and not inside a `.git` folder. Reads
and writes are of UTF-8 text of at most 2 MiB; a write creates missing folders
(inside the root only) and replaces the file atomically, keeping its mode, through
hostagent.files (no symlink followed below the root, even one swapped in after the check).
Anything else raises Refused, whose message says why. The functions block: run
them in a worker thread.
"""

from __future__ import annotations

import os
import stat

from hostagent.files import WriteRefused, write_atomic
from hostagent.mirror.scan import is_within

MAX_FILE = 2 * 1024 * 1024
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not hang the worker thread


class Refused(Exception):
    """The agent may not touch this path (or not this way); the message says why."""


class NotFound(Exception):
    """The file does not exist (an answer, not a refusal)."""


def resolve(root: str, path: object) -> str:
    """The real path of `path` if the agent may touch it. Raises Refused."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise Refused("not a path")
    if not os.path.isabs(path):
        raise Refused("path must be absolute")
    real = os.path.realpath(path)
    if not is_within(real, root):
        raise Refused("outside the project")
    if ".git" in os.path.relpath(real, root).split(os.sep):
        raise Refused("inside .git")
    return real


def display_path(root: str, path: str) -> str:
    """`path` as the phone shows it: relative to the root (with /) when inside it, else as given."""
    if not os.path.isabs(path):
        return path
    for candidate in (os.path.normpath(path), os.path.realpath(path)):
        if is_within(candidate, root):
            relative = os.path.relpath(candidate, root)
            return "." if relative == "." else relative.replace(os.sep, "/")
    return path


def read_text(root: str, path: str, line: int | None = None, limit: int | None = None) -> str:
    """The file's text, from 1-based `line` and at most `limit` lines when given."""
    real = resolve(root, path)
    try:
        fd = os.open(real, os.O_RDONLY | NOFOLLOW | NONBLOCK)
    except FileNotFoundError:
        raise NotFound(path) from None
    except OSError as exc:
        raise Refused(exc.strerror or "cannot open it") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Refused("not a regular file")
        if info.st_size > MAX_FILE:
            raise Refused("larger than 2 MiB")
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise Refused("larger than 2 MiB")
    text = data.decode("utf-8", errors="replace")
    if line is None and limit is None:
        return text
    start = max(0, (line or 1) - 1)
    lines = text.splitlines(keepends=True)
    end = len(lines) if limit is None else start + max(0, limit)
    return "".join(lines[start:end])


def write_text(root: str, path: str, content: str) -> None:
    """Replace (or create) the file with `content`, keeping an existing file's mode."""
    real = resolve(root, path)
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError:
        raise Refused("not valid UTF-8 text") from None
    if len(data) > MAX_FILE:
        raise Refused("larger than 2 MiB")
    relative = os.path.relpath(real, root).replace(os.sep, "/")
    if relative == ".":
        raise Refused("not a regular file")
    # Folders may change after `resolve`: the write opens each one without following a symlink.
    try:
        write_atomic(root, relative, data, make_folders=True)
    except WriteRefused as exc:
        raise Refused(str(exc)) from None
    except OSError as exc:
        raise Refused(f"cannot write it: {exc.strerror or exc}") from None
