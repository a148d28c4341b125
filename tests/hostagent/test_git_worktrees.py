"""Two tasks on one project, each on its own branch in its own worktree under the data folder."""

from __future__ import annotations

import os
import re

import pytest

from hostagent import git as gitops
from hostagent.git.worktrees import NO_BRANCH, worktrees_dir
from tests.kits.gitrepo import make_repo, sh, snapshot

ALICE = gitops.HubUser("Alice", "alice@example.com")


@pytest.fixture
def project(tmp_path):
    return make_repo(tmp_path / "project", {"app.py": "print('hi')\n", "notes.txt": "one\n"})


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "agent"


def test_it_gives_each_task_its_own_branch_and_worktree(project, data_dir):
    before = snapshot(project)
    first = gitops.worktree_create(project, 7, "fix-app", data_dir=data_dir)
    second = gitops.worktree_create(project, 8, "notes", data_dir=data_dir)

    assert first.branch == "codexhub/7-fix-app"
    assert second.branch == "codexhub/8-notes"
    for tree in (first, second):
        assert tree.path.startswith(os.path.realpath(data_dir) + os.sep)
        assert not tree.path.startswith(str(project))

    with open(os.path.join(first.path, "app.py"), "w") as f:
        f.write("print('fixed')\n")
    with open(os.path.join(second.path, "new.txt"), "w") as f:
        f.write("new\n")

    # Neither sees the other's change, and the user's working copy is untouched.
    assert open(os.path.join(second.path, "app.py")).read() == "print('hi')\n"
    assert not os.path.exists(os.path.join(first.path, "new.txt"))
    assert (project / "app.py").read_text() == "print('hi')\n"
    assert not (project / "new.txt").exists()
    assert snapshot(project)[:2] == before[:2]

    gitops.commit(first.path, "Fix app", ALICE)
    gitops.commit(second.path, "Add new.txt", ALICE)
    assert sh(project, "show", "-s", "--format=%s", first.branch).strip() == "Fix app"
    assert sh(project, "ls-tree", "--name-only", second.branch).split() == ["app.py", "new.txt", "notes.txt"]
    assert sh(project, "ls-tree", "--name-only", "main").split() == ["app.py", "notes.txt"]
    assert snapshot(project)[:2] == before[:2]


def test_it_puts_worktrees_beside_the_agent_config(tmp_path):
    assert worktrees_dir(tmp_path / "cfg" / "agent.toml") == tmp_path / "cfg" / "worktrees"


def test_it_branches_from_a_named_base(project, data_dir):
    sh(project, "branch", "release")
    sh(project, "checkout", "-q", "-b", "other")
    (project / "other.txt").write_text("x\n")
    sh(project, "add", "other.txt")
    sh(project, "commit", "-q", "-m", "other")

    tree = gitops.worktree_create(project, 3, "on-release", "release", data_dir=data_dir)
    assert tree.head == sh(project, "rev-parse", "release").strip()
    default = gitops.worktree_create(project, 4, "on-current", data_dir=data_dir)
    assert default.head == sh(project, "rev-parse", "other").strip()


def test_it_refuses_a_detached_working_copy_without_a_base(project, data_dir):
    sh(project, "checkout", "-q", "--detach")
    with pytest.raises(gitops.Refused, match=re.escape(NO_BRANCH)):
        gitops.worktree_create(project, 3, "x", data_dir=data_dir)


def test_it_refuses_a_task_twice(project, data_dir):
    gitops.worktree_create(project, 3, "x", data_dir=data_dir)
    with pytest.raises(gitops.Refused, match="already exists"):
        gitops.worktree_create(project, 3, "x", data_dir=data_dir)


def test_remove_discards_worktree_and_branch(project, data_dir):
    before = snapshot(project)
    tree = gitops.worktree_create(project, 5, "scratch", data_dir=data_dir)
    with open(os.path.join(tree.path, "app.py"), "a") as f:
        f.write("# uncommitted\n")

    gitops.worktree_remove(project, 5)

    assert not os.path.exists(tree.path)
    assert sh(project, "branch", "--list", "codexhub/*") == ""
    assert gitops.worktrees(project) == []
    assert snapshot(project) == before


def test_stale_lists_worktrees_of_tasks_not_live(project, data_dir):
    gitops.worktree_create(project, 1, "a", data_dir=data_dir)
    gitops.worktree_create(project, 2, "b", data_dir=data_dir)
    gone = gitops.worktree_create(project, 3, "c", data_dir=data_dir)
    sh(project, "branch", "codexhub-not-ours")
    os.rename(gone.path, gone.path + "-moved")  # its folder vanished behind git's back

    stale = gitops.worktrees_stale(project, {2})

    assert sorted((t.task_id, t.branch) for t in stale) == [(1, "codexhub/1-a"), (3, "codexhub/3-c")]
    assert [t.prunable for t in sorted(stale, key=lambda t: t.task_id)] == [False, True]
    gitops.worktree_remove(project, 3)  # a vanished worktree is still removable
    assert [t.task_id for t in gitops.worktrees(project)] == [1, 2]


def test_cleanup_after_merge(project, data_dir):
    tree = gitops.worktree_create(project, 9, "done", data_dir=data_dir)
    with open(os.path.join(tree.path, "app.py"), "w") as f:
        f.write("print('done')\n")
    gitops.commit(tree.path, "Done", ALICE)
    with pytest.raises(gitops.Refused, match="is not merged into main"):
        gitops.worktree_cleanup(project, 9, "main")

    gitops.merge(project, tree.branch, "main")
    gitops.worktree_cleanup(project, 9, "main")

    assert not os.path.exists(tree.path)
    assert sh(project, "branch", "--list", "codexhub/*") == ""
    assert (project / "app.py").read_text() == "print('done')\n"
