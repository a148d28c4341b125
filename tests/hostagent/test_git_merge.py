"""Merging task branches: fast-forward, a merge commit, a conflict that changes nothing."""

from __future__ import annotations

import os

import pytest

from hostagent import git as gitops
from tests.kits.gitrepo import make_repo, sh, snapshot

ALICE = gitops.HubUser("Alice", "alice@example.com")


@pytest.fixture
def project(tmp_path):
    return make_repo(tmp_path / "project", {"app.py": "a = 1\n", "notes.txt": "one\n"})


def _task(project, data_dir, task_id, files):
    tree = gitops.worktree_create(project, task_id, f"t{task_id}", data_dir=data_dir)
    for name, text in files.items():
        with open(os.path.join(tree.path, name), "w") as f:
            f.write(text)
    gitops.commit(tree.path, f"task {task_id}", ALICE)
    return tree


def test_it_merges_two_tasks_then_reports_a_third_that_conflicts(project, tmp_path):
    data = tmp_path / "agent"
    first = _task(project, data, 1, {"app.py": "a = 2\n"})
    second = _task(project, data, 2, {"notes.txt": "two\n"})
    third = _task(project, data, 3, {"app.py": "a = 3\n"})

    merged = gitops.merge(project, first.branch, "main")
    assert merged.kind == "fast-forward"
    assert (project / "app.py").read_text() == "a = 2\n"  # main is checked out: the files follow

    merged = gitops.merge(project, second.branch, "main")
    assert merged.kind == "merge"
    assert (project / "notes.txt").read_text() == "two\n"
    assert sh(project, "rev-parse", "HEAD").strip() == merged.commit
    assert sh(project, "status", "--porcelain") == ""

    before = snapshot(project)
    with pytest.raises(gitops.MergeConflict) as caught:
        gitops.merge(project, third.branch, "main")
    assert caught.value.files == ["app.py"]
    assert "conflicts in app.py; nothing was changed" in str(caught.value)
    assert snapshot(project) == before
    assert not (project / ".git" / "MERGE_HEAD").exists()
    assert (project / "app.py").read_text() == "a = 2\n"


def test_it_merges_into_a_branch_checked_out_nowhere_without_touching_the_working_copy(project, tmp_path):
    sh(project, "branch", "release")
    (project / "wip.txt").write_text("the user's own work\n")
    (project / "app.py").write_text("a = 'local edit'\n")
    before = snapshot(project)
    first = _task(project, tmp_path / "agent", 1, {"notes.txt": "one!\n"})
    sh(project, "commit", "-q", "--allow-empty", "-m", "moved on")  # main gains a commit the task lacks
    sh(project, "branch", "-f", "release", "main")  # release now has a commit the task lacks

    result = gitops.merge(project, first.branch, "release")

    assert result.kind == "merge"
    assert sh(project, "rev-parse", "release").strip() == result.commit
    assert sh(project, "show", f"{result.commit}:notes.txt") == "one!\n"
    assert sh(project, "log", "-1", "--format=%P", "release").split() == [
        sh(project, "rev-parse", "main").strip(),
        sh(project, "rev-parse", first.branch).strip(),
    ]
    now = snapshot(project)
    assert now[1] == before[1]  # the working copy's changes are as they were
    assert (project / "app.py").read_text() == "a = 'local edit'\n"


def test_it_fast_forwards_a_branch_checked_out_nowhere(project, tmp_path):
    sh(project, "branch", "release")
    first = _task(project, tmp_path / "agent", 1, {"notes.txt": "one!\n"})
    result = gitops.merge(project, first.branch, "release")
    assert result.kind == "fast-forward"
    assert result.commit == sh(project, "rev-parse", first.branch).strip()
    assert gitops.merge(project, first.branch, "release").kind == "up-to-date"


def test_it_refuses_when_the_working_copy_has_changes_the_merge_would_touch(project, tmp_path):
    first = _task(project, tmp_path / "agent", 1, {"app.py": "a = 2\n"})
    (project / "app.py").write_text("a = 'mine'\n")
    (project / "notes.txt").write_text("unrelated edit\n")
    before = snapshot(project)

    with pytest.raises(gitops.DirtyFiles) as caught:
        gitops.merge(project, first.branch, "main")

    assert caught.value.files == ["app.py"]
    assert "uncommitted changes to files the merge changes: app.py" in str(caught.value)
    assert snapshot(project) == before
    assert (project / "app.py").read_text() == "a = 'mine'\n"


def test_it_merges_beside_unrelated_local_changes(project, tmp_path):
    first = _task(project, tmp_path / "agent", 1, {"app.py": "a = 2\n"})
    (project / "notes.txt").write_text("unrelated edit\n")
    assert gitops.merge(project, first.branch, "main").kind == "fast-forward"
    assert (project / "app.py").read_text() == "a = 2\n"
    assert (project / "notes.txt").read_text() == "unrelated edit\n"
