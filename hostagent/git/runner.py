"""Running git (and gh): an argv list, no shell, no prompt, no terminal, a timeout, its words kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

GIT = "git"
TIMEOUT = 60.0  # seconds for a local operation
PUSH_TIMEOUT = 300.0  # a push talks to another machine


class Refused(ValueError):
    """A name, message or path we will not hand to git; no git process ran."""


class GitError(Exception):
    """git said no: `stderr` is its own text, verbatim."""

    def __init__(
        self, message: str, *, argv: Sequence[str] = (), returncode: int | None = None, stderr: str = ""
    ):
        super().__init__(message)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class GitTimeout(GitError):
    """git ran past its timeout and was killed."""


class MergeConflict(GitError):
    """The merge would conflict in `files`; nothing was changed."""

    def __init__(self, message: str, files: list[str]):
        super().__init__(message)
        self.files = files


class DirtyFiles(Refused):
    """`files` have uncommitted changes the operation would touch; nothing was changed."""

    def __init__(self, message: str, files: list[str]):
        super().__init__(message)
        self.files = files


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # https credentials: the helper's or none, never a question
    env["GIT_EDITOR"] = "true"  # a merge or commit that would open an editor takes its message as is
    env["GH_PROMPT_DISABLED"] = "1"  # gh: fail rather than ask
    env["GH_NO_UPDATE_NOTIFIER"] = "1"
    env.pop("GIT_DIR", None)  # the repository is the cwd's, whatever the agent was started from
    env.pop("GIT_WORK_TREE", None)
    env.pop("GIT_INDEX_FILE", None)
    return env


def git(
    args: Sequence[str],
    cwd: str | os.PathLike[str],
    *,
    timeout: float = TIMEOUT,
    check: bool = True,
    stdin: str | None = None,
) -> Result:
    """Run `git <args>` in `cwd`. Raises GitError (git's stderr verbatim) if it fails and `check`,
    GitTimeout past `timeout`. Output is decoded as UTF-8 with surrogateescape, so a path that is
    not UTF-8 survives a round trip to the file system."""
    returncode, out, err = _run(args, cwd, timeout, stdin.encode("utf-8") if stdin is not None else None)
    result = Result(
        returncode, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape")
    )
    if check and result.returncode != 0:
        text = result.stderr.strip() or result.stdout.strip() or f"git {args[0]} failed"
        raise GitError(text, argv=[GIT, *args], returncode=result.returncode, stderr=result.stderr)
    return result


def run(
    argv: Sequence[str], cwd: str | os.PathLike[str], *, timeout: float = TIMEOUT, stdin: str | None = None
) -> Result:
    """Another program (gh) the way git runs here: no shell, no prompt, no terminal, a timeout
    (GitTimeout), output decoded as `git` does. Never raises for an exit code: check `returncode`."""
    returncode, out, err = _run(
        argv[1:], cwd, timeout, stdin.encode("utf-8") if stdin is not None else None, argv[0]
    )
    return Result(returncode, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape"))


def git_head(
    args: Sequence[str], cwd: str | os.PathLike[str], limit: int, *, timeout: float = TIMEOUT
) -> tuple[bytes, bool]:
    """The first `limit` bytes of git's output and whether there was more (git is then stopped):
    for a diff that may be far larger than what is kept. Raises GitError if git failed."""
    argv = [GIT, *args]
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)", argv=argv) from None
    # The pipes are read here; a timeout only kills the group, which ends the reads.
    fired: list[bool] = []

    def stop() -> None:
        fired.append(True)
        _signal_group(process)

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        out, more, err = _read_head(process, limit)
    finally:
        timer.cancel()
    if more:
        return out[:limit], True
    if fired:
        raise GitTimeout(f"git {args[0]} took longer than {timeout:g} seconds and was stopped", argv=argv)
    if process.returncode != 0:
        text = err.decode("utf-8", "surrogateescape").strip() or f"git {args[0]} failed"
        raise GitError(text, argv=argv, returncode=process.returncode, stderr=text)
    return out, False


def _read_head(process: subprocess.Popen[bytes], limit: int) -> tuple[bytes, bool, bytes]:
    """(stdout up to limit + 1 bytes, whether there was more, stderr) and the process reaped."""
    assert process.stdout is not None and process.stderr is not None
    # stderr is drained beside stdout: git blocked on a full stderr pipe would never end stdout.
    errors: list[bytes] = []
    drain = threading.Thread(target=_read_into, args=(process.stderr, errors), daemon=True)
    drain.start()
    out = process.stdout.read(limit + 1)
    more = len(out) > limit
    if more:
        _signal_group(process)
    process.stdout.close()
    process.wait()
    drain.join()
    return out, more, errors[0] if errors else b""


def _read_into(stream: IO[bytes], into: list[bytes]) -> None:
    into.append(stream.read())


def git_bytes(args: Sequence[str], cwd: str | os.PathLike[str], *, timeout: float = TIMEOUT) -> bytes | None:
    """git's output as bytes (a blob), or None if it failed."""
    returncode, out, _err = _run(args, cwd, timeout, None)
    return out if returncode == 0 else None


def _run(
    args: Sequence[str], cwd: str | os.PathLike[str], timeout: float, stdin: bytes | None, program: str = GIT
) -> tuple[int, bytes, bytes]:
    argv = [program, *args]
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=_env(),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # No controlling terminal: ssh can't ask for a passphrase or a host key, it fails.
            # Its own process group: a timeout stops the hooks and ssh git started, too.
            start_new_session=True,
        )
    except FileNotFoundError:
        raise GitError(f"{program} is not installed (or not on PATH)", argv=argv) from None
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise GitTimeout(
            f"{program} {args[0]} took longer than {timeout:g} seconds and was stopped", argv=argv
        ) from None
    except BaseException:
        _kill_group(process)
        raise
    return process.returncode, out, err


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    _signal_group(process)
    process.communicate()


def _signal_group(process: subprocess.Popen[bytes]) -> None:
    try:
        if sys.platform == "win32":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    except OSError:  # already gone
        pass
