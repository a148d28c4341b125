"""Branch and remote names the hub and the agent accept, without pydantic (the agent checks
them before any git process runs; the hub before it sends anything).

A branch name must pass `git check-ref-format --branch` (the rules are re-implemented here;
tests/hostagent/test_git_hostile.py holds them against git's own) and our stricter ones:
printable ASCII letters, digits and `._/+-` only, no leading `-`, not `HEAD`, at most 200
characters. A remote is named as `git remote` lists it, never given as a URL.
"""

import re

from protocol.text import CONTROL

MAX_BRANCH = 200
MAX_REMOTE = 100
TASK_BRANCH_PREFIX = "codexhub/"

_BRANCH_CHARS = re.compile(r"[A-Za-z0-9._/+-]+")
_REMOTE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def branch_error(name: object) -> str | None:
    """Why git (`check-ref-format --branch`) or we refuse `name` as a branch, or None."""
    if not isinstance(name, str) or not name:
        return "it is empty"
    if len(name) > MAX_BRANCH:
        return f"it is longer than {MAX_BRANCH} characters"
    if CONTROL.search(name):
        return "it contains a control character"
    if " " in name:
        return "it contains a space"
    if name.startswith("-"):
        return "it starts with -"
    if name in ("HEAD", "@") or name.startswith("refs/"):
        return "it names a ref, not a branch"
    if "@{" in name:
        return "it contains @{"
    if ".." in name:
        return "it contains .."
    if "//" in name or name.startswith("/") or name.endswith("/"):
        return "it has an empty part between slashes"
    if name.endswith("."):
        return "it ends with ."
    for part in name.split("/"):
        if part.startswith("."):
            return "a part starts with ."
        if part.endswith(".lock"):
            return "a part ends with .lock"
    if not _BRANCH_CHARS.fullmatch(name):
        return "only letters, digits and . _ / + - are allowed"
    return None


def remote_error(name: object) -> str | None:
    """Why `name` is not the shape of a remote's name (like `origin`; never a URL), or None."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_REMOTE or not _REMOTE.fullmatch(name):
        return "a remote is named like origin: letters, digits, . _ and -, never a URL"
    if ".." in name or name.endswith(".lock") or name.endswith("."):
        return "a remote is named like origin: letters, digits, . _ and -, never a URL"
    return None
