"""Hostile names, messages and paths are refused before any git process runs."""

from __future__ import annotations

import subprocess

import pytest

from hostagent import git as gitops
from hostagent.git import names
from tests.kits.gitrepo import git_calls, make_repo

__all__ = ["git_calls"]

ALICE = gitops.HubUser("Alice", "alice@example.com")
HOSTILE_BRANCHES = [
    "--upload-pack=x",
    "-b",
    "../x",
    "a/../b",
    "x..y",
    "HEAD",
    "@",
    "refs/heads/main",
    "with space",
    "tab\there",
    "new\nline",
    "nul\0",
    "esc\x1b[0m",
    "del\x7f",
    "rtl\u202egnp",
    "main@{1}",
    "x.lock",
    "a/b.lock/c",
    ".hidden",
    "a/.b",
    "trailing.",
    "trailing/",
    "/leading",
    "a//b",
    "star*",
    "q?",
    "[x",
    "a:b",
    "a~1",
    "a^2",
    "back\\slash",
    "",
    "x" * 201,
]


@pytest.fixture
def project(tmp_path):
    return make_repo(tmp_path / "project")


@pytest.mark.parametrize("name", HOSTILE_BRANCHES)
def test_hostile_branch_names_run_no_git(project, git_calls, name):
    with pytest.raises(gitops.Refused):
        gitops.merge(project, name, "main")
    with pytest.raises(gitops.Refused):
        gitops.merge(project, "main", name)
    with pytest.raises(gitops.Refused):
        gitops.push(project, name, "origin")
    with pytest.raises(gitops.Refused):
        gitops.worktree_create(project, 1, "ok", name, data_dir=project.parent / "agent")
    assert git_calls.argvs == []


@pytest.mark.parametrize(
    "remote",
    ["https://evil.example/x.git", "git@evil.example:x", "../other", "--upload-pack=x", "a b", "ext::sh"],
)
def test_a_url_or_option_as_remote_runs_no_git(project, git_calls, remote):
    with pytest.raises(gitops.Refused, match="never a URL"):
        gitops.push(project, "main", remote)
    assert git_calls.argvs == []


def test_a_remote_the_repository_does_not_name_is_refused(project, git_calls):
    with pytest.raises(gitops.Refused, match=r"not a remote of this repository \(it has: none\)"):
        gitops.push(project, "main", "origin")
    assert ["git", "remote"] in git_calls.argvs  # the counter sees the processes that do run
    assert not any(argv[1] == "push" for argv in git_calls.argvs)


@pytest.mark.parametrize(
    ("task_id", "slug"),
    [(0, "ok"), (-1, "ok"), (True, "ok"), (1, "Upper"), (1, "a b"), (1, "--x"), (1, "a--b")],
)
def test_bad_task_ids_and_slugs_run_no_git(project, git_calls, task_id, slug):
    with pytest.raises(gitops.Refused):
        gitops.worktree_create(project, task_id, slug, data_dir=project.parent / "agent")
    assert git_calls.argvs == []


@pytest.mark.parametrize(
    ("message", "user"),
    [
        ("has a \0 NUL", ALICE),
        ("x" * (names.MAX_MESSAGE + 1), ALICE),
        ("   \n", ALICE),
        ("fine", gitops.HubUser("Eve <evil@x>", "eve@example.com")),
        ("fine", gitops.HubUser("Eve\nSigned-off-by: Bob", "eve@example.com")),
        ("fine", gitops.HubUser("Eve", "not an email")),
        ("fine", gitops.HubUser("Eve", "eve@example.com>\nX: y")),
    ],
)
def test_bad_messages_and_users_run_no_git(project, git_calls, message, user):
    with pytest.raises(gitops.Refused):
        gitops.commit(project, message, user)
    assert git_calls.argvs == []


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../../x", ".git/config", "a\0b", "", "a//b", "./a"]
)
def test_paths_outside_the_project_run_no_git(project, git_calls, path):
    change = gitops.FileChange(path, None, None)
    with pytest.raises(gitops.Refused, match="not a path inside the project"):
        gitops.discard_in_working_copy(project, [change])
    assert git_calls.argvs == []


def test_a_path_through_a_symlink_out_of_the_project_is_refused(project, tmp_path, git_calls):
    (tmp_path / "elsewhere").mkdir()
    (project / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(gitops.Refused, match="not a path inside the project"):
        gitops.discard_in_working_copy(project, [gitops.FileChange("link/x", None, None)])
    assert git_calls.argvs == []


@pytest.mark.parametrize("name", HOSTILE_BRANCHES)
def test_git_agrees_where_we_refuse_less(name):
    """Whatever we accept, git accepts: our checks are at least as strict as check-ref-format."""
    if "\0" in name:
        return  # argv cannot carry it at all
    ours = names.branch_error(name) is None
    theirs = (
        subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True).returncode == 0
    )
    assert not ours
    assert ours <= theirs


@pytest.mark.parametrize(
    "name", ["main", "feature/x-1", "codexhub/12-fix-login", "v1.2.3", "a+b", "release_2"]
)
def test_ordinary_names_pass_both(name):
    assert names.branch_error(name) is None
    assert subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True).returncode == 0
