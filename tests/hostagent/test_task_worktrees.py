"""Tasks in worktrees: each on a branch of its own beside the agent's data, run at once without
seeing each other or touching the working copy; a continuation in the same worktree; a worktree
that cannot be made fails the task with the reason."""

from __future__ import annotations

import os

from hostagent.git.names import slugify
from tests.kits.agent_git import edit_config, git_agent, ran, saw, started
from tests.kits.agent_tasks import applied, finished
from tests.kits.gitrepo import make_repo, sh, snapshot

FILES = {"notes.txt": "one\n", "app.py": "print('hi')\n"}


def repo(tmp_path):
    return make_repo(tmp_path / "project", FILES)


async def test_two_worktree_tasks_run_at_once_each_on_its_branch_and_the_working_copy_is_untouched(
    tmp_path,
):
    project = repo(tmp_path)
    main = sh(project, "rev-parse", "main").strip()
    before = snapshot(project)
    meet = tmp_path / "meet"
    meet.mkdir()
    first = f"Fix the notes\nmeet {meet} a 2\nnotes.txt=fixed"
    second = f"Add a todo list\nmeet {meet} b 2\ntodo.txt=buy milk"
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", first, workspace="worktree")
        await agent.edit(2, "docs", second, workspace="worktree", base="main")
        one, two = await ran(hub, 1), await ran(hub, 2)

    assert started(hub, 1) == {
        "task_id": 1,
        "branch": f"codexhub/1-{slugify(first)}",
        "base": "main",
        "base_commit": main,
    }
    assert started(hub, 2)["branch"] == f"codexhub/2-{slugify(second)}"
    # Both met (each waited for the other's mark), and neither saw the other's change.
    assert sorted(os.listdir(meet)) == ["a", "b"]
    assert saw(hub, 1) == saw(hub, 2) == FILES
    assert [(c["path"], c["op"]) for c in one["changes"]] == [("notes.txt", "modified")]
    assert [(c["path"], c["op"]) for c in two["changes"]] == [("todo.txt", "created")]
    assert sh(project, "show", f"codexhub/1-{slugify(first)}:notes.txt") == "one\n"  # not committed yet
    # The user's working copy: same HEAD, same files, nothing new.
    assert snapshot(project)[:2] == before[:2]
    assert (project / "notes.txt").read_text() == "one\n" and not (project / "todo.txt").exists()
    trees = sh(project, "worktree", "list", "--porcelain")
    assert trees.count("worktree ") == 3 and str(tmp_path / "worktrees") in trees


async def test_a_continuation_runs_in_the_first_tasks_worktree_and_sees_its_change(tmp_path):
    project = repo(tmp_path)
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Fix the notes\nnotes.txt=fixed", workspace="worktree")
        await ran(hub, 1)
        await agent.edit(2, "docs", "And the app\napp.py=print('bye')", workspace="worktree", worktree_of=1)
        done = await ran(hub, 2)

    first, second = started(hub, 1), started(hub, 2)
    assert second == {**first, "task_id": 2}  # same branch, base and base commit
    assert saw(hub, 2) == {**FILES, "notes.txt": "fixed\n"}
    assert [(c["path"], c["op"]) for c in done["changes"]] == [("app.py", "modified")]
    assert (project / "notes.txt").read_text() == "one\n" and (project / "app.py").read_text() == FILES[
        "app.py"
    ]


async def test_a_worktree_that_cannot_be_made_or_found_fails_the_task_with_the_reason(tmp_path):
    project = repo(tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    before = snapshot(project)
    cases = {
        1: ("docs", {"workspace": "worktree", "base": "nope"},
            "could not make the task's worktree: there is no branch nope"),
        2: ("docs", {"workspace": "worktree", "worktree_of": 99},
            "the worktree of task 99 is gone (merged or discarded): start a new task"),
        3: ("plain", {"workspace": "worktree"},
            "project 'plain' is not a git repository, so the task cannot run in a worktree"),
        4: ("docs", {"workspace": "worktree", "base": "--upload-pack=x"},
            "the base is not a branch name: it starts with -"),
        5: ("docs", {"workspace": "worktree", "base": "HEAD"},
            "the base is not a branch name: it names a ref, not a branch"),
        6: ("docs", {"workspace": "attic"}, "workspace must be one of working_copy, worktree"),
        7: ("docs", {"base": "main"}, "base and worktree_of are for a task in a worktree"),
    }  # fmt: skip
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project, "plain": plain}) as (hub, agent):
        for task_id, (name, where, _) in cases.items():
            await agent.edit(task_id, name, "Fix it\nnotes.txt=changed", **where)
        done = {task_id: await finished(hub, task_id) for task_id in cases}

    for task_id, (_, _, reason) in cases.items():
        assert (done[task_id]["outcome"], done[task_id]["error"]) == ("failed", reason)
        assert applied(hub, "task.started", task_id) == []
    assert snapshot(project) == before
    assert not (tmp_path / "worktrees").exists() or not any((tmp_path / "worktrees").rglob("notes.txt"))


async def test_an_assignment_from_an_older_hub_runs_in_the_working_copy(tmp_path):
    project = repo(tmp_path)
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Fix the notes\nnotes.txt=fixed")  # no workspace at all
        await ran(hub, 1)
    assert started(hub, 1) == {"task_id": 1, "branch": None, "base": None, "base_commit": None}
    assert (project / "notes.txt").read_text() == "fixed\n"
    assert sh(project, "branch", "--list").split() == ["*", "main"]
