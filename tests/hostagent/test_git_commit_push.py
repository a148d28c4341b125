"""Commit with a Requested-by trailer, push to a remote the repository names, the repository's state."""

from __future__ import annotations

import os

import pytest

from hostagent import git as gitops
from hostagent.git.ops import NOTHING_TO_COMMIT
from tests.kits.gitrepo import make_repo, sh

ALICE = gitops.HubUser("Alice", "alice@example.com")


@pytest.fixture
def project(tmp_path):
    repo = make_repo(tmp_path / "project", {"app.py": "a = 1\n"})
    sh(tmp_path, "init", "-q", "--bare", "-b", "main", "remote.git")
    sh(repo, "remote", "add", "origin", str(tmp_path / "remote.git"))
    sh(repo, "push", "-q", "-u", "origin", "main")
    return repo


def test_it_commits_everything_with_the_hub_user_as_a_trailer(project, tmp_path):
    tree = gitops.worktree_create(project, 1, "x", data_dir=tmp_path / "agent")
    with open(os.path.join(tree.path, "app.py"), "w") as f:
        f.write("a = 2\n")
    with open(os.path.join(tree.path, "new.py"), "w") as f:
        f.write("b = 1\n")

    sha = gitops.commit(tree.path, "Fix #12: count from 2\n\n# kept, not a comment", ALICE)

    message = sh(project, "log", "-1", "--format=%B", sha)
    assert (
        message
        == "Fix #12: count from 2\n\n# kept, not a comment\n\nRequested-by: Alice <alice@example.com>\n\n"
    )
    assert sh(project, "log", "-1", "--format=%an <%ae>", sha).strip() == "Host Owner <owner@host.example>"
    assert sorted(sh(project, "show", "--name-only", "--format=", sha).split()) == ["app.py", "new.py"]
    assert sh(tree.path, "status", "--porcelain") == ""


def test_it_refuses_an_empty_commit(project, tmp_path):
    tree = gitops.worktree_create(project, 1, "x", data_dir=tmp_path / "agent")
    with pytest.raises(gitops.Refused, match=NOTHING_TO_COMMIT):
        gitops.commit(tree.path, "nothing", ALICE)


def test_a_failing_hook_fails_the_commit_with_its_own_words(project, tmp_path):
    hook = project / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'lint says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    tree = gitops.worktree_create(project, 1, "x", data_dir=tmp_path / "agent")
    with open(os.path.join(tree.path, "app.py"), "w") as f:
        f.write("a = 2\n")
    with pytest.raises(gitops.GitError, match="lint says no"):
        gitops.commit(tree.path, "blocked", ALICE)


def test_it_pushes_a_task_branch_and_reports_state(project, tmp_path):
    tree = gitops.worktree_create(project, 1, "x", data_dir=tmp_path / "agent")
    with open(os.path.join(tree.path, "app.py"), "w") as f:
        f.write("a = 2\n")
    sha = gitops.commit(tree.path, "Two", ALICE)

    gitops.push(project, tree.branch, "origin")

    assert sh(tmp_path / "remote.git", "rev-parse", tree.branch).strip() == sha


def test_repo_state(project):
    state = gitops.repo_state(project)
    assert (state.branch, state.upstream, state.ahead, state.behind, state.dirty) == (
        "main",
        "origin/main",
        0,
        0,
        [],
    )
    sh(project, "commit", "-q", "--allow-empty", "-m", "local")
    (project / "app.py").write_text("a = 9\n")
    (project / "dir").mkdir()
    (project / "dir" / "new file.txt").write_text("n\n")
    state = gitops.repo_state(project)
    assert (state.ahead, state.behind) == (1, 0)
    assert [(d.path, d.status) for d in state.dirty] == [("app.py", ".M"), ("dir/new file.txt", "?")]


def test_push_reports_git_verbatim_when_the_remote_is_gone(project, tmp_path):
    os.rename(tmp_path / "remote.git", tmp_path / "gone.git")
    with pytest.raises(gitops.GitError) as caught:
        gitops.push(project, "main", "origin")
    assert "does not appear to be a git repository" in str(caught.value)
    assert caught.value.stderr.startswith("fatal:")
