"""Opening a pull request with GitHub's CLI, `gh`, when the host has it: its own login, no prompt.

`gh pr create --head <branch> --base <into> --title=<title> --body-file -` runs in the
project's root as an argv list (the title glued to its option, so it is its value whatever it
starts with; the body on stdin), with the runner's no-prompt environment and a timeout. The
pull request's address is the last line gh prints that is an https URL.
"""

from __future__ import annotations

import os
import shutil

from hostagent.git import names
from hostagent.git.runner import PUSH_TIMEOUT, GitError, Refused, run
from hostagent.git.worktrees import toplevel
from protocol import limits
from protocol.text import CONTROL

GH = "gh"
MAX_TITLE = 256
NOT_INSTALLED = "gh is not installed on this host"
TITLE_BAD = "a pull request's title is 1-256 characters without control characters"
NO_URL = "gh printed no pull request address"


def gh_installed() -> bool:
    return shutil.which(GH) is not None


def pull_request_create(
    project_root: str | os.PathLike[str], branch: str, into: str, title: str, body: str
) -> str:
    """Open a pull request of `branch` into `into`; returns its address. Raises Refused (bad
    names or title: before anything runs; gh missing) or GitError (gh's own words)."""
    names.check_branch(branch)
    names.check_branch(into)
    if not title.strip() or len(title) > MAX_TITLE or CONTROL.search(title):
        raise Refused(TITLE_BAD)
    if "\0" in body:
        raise Refused("a pull request's body contains a NUL character")
    root = toplevel(project_root)
    program = shutil.which(GH)
    if program is None:
        raise Refused(NOT_INSTALLED)
    argv = [program, "pr", "create", "--head", branch, "--base", into, f"--title={title}", "--body-file", "-"]
    result = run(argv, root, timeout=PUSH_TIMEOUT, stdin=body)
    if result.returncode != 0:
        text = result.stderr.strip() or result.stdout.strip() or f"gh pr create failed ({result.returncode})"
        raise GitError(text, argv=argv, returncode=result.returncode, stderr=result.stderr)
    urls = [line.strip() for line in result.stdout.splitlines() if _is_url(line.strip())]
    if not urls:
        raise GitError(f"{NO_URL}: {result.stdout.strip()[:500]}", argv=argv)
    return urls[-1]


def _is_url(line: str) -> bool:
    return (
        line.startswith("https://")
        and len("https://") < len(line) <= limits.MAX_URL
        and not any(c.isspace() for c in line)
    )
