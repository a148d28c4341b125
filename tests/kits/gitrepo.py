"""Real git repositories for the host agent's git tests (hostagent/git/)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

IDENTITY = {
    "GIT_AUTHOR_NAME": "Host Owner",
    "GIT_AUTHOR_EMAIL": "owner@host.example",
    "GIT_COMMITTER_NAME": "Host Owner",
    "GIT_COMMITTER_EMAIL": "owner@host.example",
}


def sh(repo: Path | str, *args: str) -> str:
    """git in `repo`, as the test's own hand (not through the code under test)."""
    env = {**os.environ, **IDENTITY, "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A repository on branch main with one commit holding `files`."""
    path.mkdir(parents=True, exist_ok=True)
    sh(path, "init", "-q", "-b", "main")
    sh(path, "config", "user.name", "Host Owner")
    sh(path, "config", "user.email", "owner@host.example")
    for name, text in (files or {"README.md": "hello\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    sh(path, "add", "-A")
    sh(path, "commit", "-q", "-m", "first")
    return path


def snapshot(repo: Path) -> tuple[str, str, str]:
    """(HEAD, `git status --porcelain`, every ref): equal before and after means nothing changed."""
    return sh(repo, "rev-parse", "HEAD"), sh(repo, "status", "--porcelain"), sh(repo, "show-ref")


class GitCalls:
    """Counts the processes the code under test starts."""

    def __init__(self) -> None:
        self.argvs: list[list[str]] = []


@pytest.fixture
def git_calls(monkeypatch: pytest.MonkeyPatch) -> GitCalls:
    calls = GitCalls()
    real = subprocess.Popen

    def counting(argv, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.argvs.append(list(argv))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr("hostagent.git.runner.subprocess.Popen", counting)
    return calls
