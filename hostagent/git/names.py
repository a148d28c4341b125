"""What we hand to git, checked first: branch and remote names, task ids, slugs, messages, users, paths.

Every check here runs in Python, before any git process: a hostile name never reaches git's
option parser. Branch and remote names are checked by protocol/branches.py, which the hub
shares.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from hostagent.git.runner import Refused
from protocol import branches
from protocol.branches import TASK_BRANCH_PREFIX, branch_error
from protocol.text import CONTROL

PREFIX = TASK_BRANCH_PREFIX
MAX_BRANCH = branches.MAX_BRANCH
MAX_SLUG = 40
MAX_MESSAGE = 64 * 1024
MAX_USER_NAME = 100
MAX_EMAIL = 254

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_EMAIL = re.compile(r"[^\s<>@]+@[^\s<>@]+")

BRANCH_BAD = "{name} is not a branch name we accept: {why}"
REMOTE_BAD = "{name} is not a remote name (a remote of the repository, like origin; never a URL)"
SLUG_BAD = "the slug must be 1-40 lowercase letters, digits and single dashes"
TASK_ID_BAD = "a task id is a positive integer"
MESSAGE_EMPTY = "the commit message is empty"
MESSAGE_NUL = "the commit message contains a NUL character"
MESSAGE_LONG = f"the commit message is longer than {MAX_MESSAGE} bytes"
USER_BAD = "the hub user's name must be 1-100 characters without control characters, < or >"
EMAIL_BAD = "the hub user's email must look like name@example.com"
PATH_BAD = "{path} is not a path inside the project"


def check_branch(name: object) -> str:
    error = branch_error(name)
    if error is not None:
        raise Refused(BRANCH_BAD.format(name=ascii(name), why=error))
    assert isinstance(name, str)
    return name


def check_remote_name(name: object) -> str:
    """The shape of a remote's name; the caller then looks it up in `git remote`."""
    if branches.remote_error(name) is not None:
        raise Refused(REMOTE_BAD.format(name=ascii(name)))
    assert isinstance(name, str)
    return name


def check_task_id(task_id: object) -> int:
    if not isinstance(task_id, int) or isinstance(task_id, bool) or task_id < 1:
        raise Refused(TASK_ID_BAD)
    return task_id


def check_slug(slug: object) -> str:
    if not isinstance(slug, str) or len(slug) > MAX_SLUG or not _SLUG.fullmatch(slug):
        raise Refused(SLUG_BAD)
    return slug


def slugify(title: str) -> str:
    """A slug for a task's branch from its title: `Fix the login page!` -> `fix-the-login-page`."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > MAX_SLUG:
            break
        slug = candidate
    return slug or "task"


def task_branch(task_id: int, slug: str) -> str:
    return f"{PREFIX}{check_task_id(task_id)}-{check_slug(slug)}"


def task_id_of(branch: str) -> int | None:
    """The task id in a `codexhub/<id>-<slug>` branch name, or None for any other branch."""
    match = re.fullmatch(r"codexhub/([1-9][0-9]*)-[a-z0-9-]+", branch)
    return int(match.group(1)) if match else None


def check_message(message: object) -> str:
    if not isinstance(message, str):
        raise Refused(MESSAGE_EMPTY)
    if "\0" in message:
        raise Refused(MESSAGE_NUL)
    if len(message.encode("utf-8", "surrogatepass")) > MAX_MESSAGE:
        raise Refused(MESSAGE_LONG)
    if not message.strip():
        raise Refused(MESSAGE_EMPTY)
    return message


@dataclass(frozen=True)
class HubUser:
    """The hub user who asked for a change: named in the commit's `Requested-by:` trailer."""

    name: str
    email: str

    def trailer(self) -> str:
        if (
            not self.name.strip()
            or len(self.name) > MAX_USER_NAME
            or CONTROL.search(self.name)
            or "<" in self.name
            or ">" in self.name
        ):
            raise Refused(USER_BAD)
        if len(self.email) > MAX_EMAIL or CONTROL.search(self.email) or not _EMAIL.fullmatch(self.email):
            raise Refused(EMAIL_BAD)
        return f"Requested-by: {self.name.strip()} <{self.email}>"


def inside(root: str, relative: object) -> tuple[str, str]:
    """(the `/`-joined relative path, its absolute path) for a path below `root`, which must be
    a real path. Refuses absolute paths, `..`, `.git`, NUL and control characters; symlinks on
    the way are resolved and must stay below `root`. The file itself need not exist."""
    if not isinstance(relative, str) or not relative or "\0" in relative or CONTROL.search(relative):
        raise Refused(PATH_BAD.format(path=ascii(relative)))
    parts = relative.replace(os.sep, "/").split("/")
    if relative.startswith("/") or os.path.isabs(relative) or any(p in ("", ".", "..") for p in parts):
        raise Refused(PATH_BAD.format(path=ascii(relative)))
    if parts[0] == ".git":
        raise Refused(PATH_BAD.format(path=ascii(relative)))
    full = os.path.join(root, *parts)
    parent = os.path.realpath(os.path.dirname(full))
    if parent != root and not parent.startswith(root + os.sep):
        raise Refused(PATH_BAD.format(path=ascii(relative)))
    return "/".join(parts), os.path.join(parent, parts[-1])
