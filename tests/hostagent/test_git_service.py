"""The phone's decisions about a task's change, as git.requests to a real agent on real repositories:
commit, merge, push, pull request, discard and the repository's state; each request at most once."""

from __future__ import annotations

import pytest

from hostagent.git.names import slugify
from hostagent.git.service import STOPPED, TASK_RUNNING
from hostagent.tasks.ledger import Ledger
from protocol.limits import MAX_REPO_DIFF
from tests.kits.agent_git import (
    edit_config,
    gh_calls,
    gh_on_path,
    git_agent,
    no_gh_on_path,
    ran,
    result,
    results,
    saw,
    started,
)
from tests.kits.agent_tasks import finished
from tests.kits.fakehub import wait_for
from tests.kits.gitrepo import git_calls, make_repo, sh, snapshot

FILES = {"notes.txt": "one\ntwo\nthree\n", "app.py": "print('hi')\n"}
__all__ = ["git_calls"]

ALICE = {"name": "Alice Example", "email": "alice@example.com"}


@pytest.fixture
def project(tmp_path):
    repo = make_repo(tmp_path / "project", FILES)
    sh(tmp_path, "init", "-q", "--bare", "-b", "main", "remote.git")
    sh(repo, "remote", "add", "origin", str(tmp_path / "remote.git"))
    sh(repo, "push", "-q", "-u", "origin", "main")
    return repo


def branch_of(prompt: str, task_id: int) -> str:
    return f"codexhub/{task_id}-{slugify(prompt)}"


def state(project, tmp_path):
    """Everything a refused request must leave as it was: the working copy, every ref, the remote."""
    return snapshot(project), sh(tmp_path / "remote.git", "for-each-ref")


async def test_commit_merge_merge_and_a_conflicting_merge_that_changes_nothing(project, tmp_path):
    prompts = {
        1: "Fix the notes\nnotes.txt=one\\ntwo\\nthree fixed",
        2: "Add a todo list\ntodo.txt=buy milk",
        3: "Rewrite the notes\nnotes.txt=one\\ntwo\\nthree rewritten",
    }
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        for task_id, prompt in prompts.items():
            await agent.edit(task_id, "docs", prompt, workspace="worktree")
        commits = {}
        for task_id in prompts:
            await ran(hub, task_id)
            done = await agent.decide(
                "commit", "docs", task_id=task_id, message=f"Task {task_id}", requested_by=ALICE
            )
            commits[task_id] = done["commit"]

        first = await agent.decide("merge", "docs", task_id=1, branch=branch_of(prompts[1], 1), into="main")
        second = await agent.decide("merge", "docs", task_id=2, branch=branch_of(prompts[2], 2), into="main")
        before = state(project, tmp_path)
        third = await agent.decide("merge", "docs", task_id=3, branch=branch_of(prompts[3], 3), into="main")
        after = state(project, tmp_path)

    assert (first["ok"], first["merge"], first["commit"]) == (True, "fast-forward", commits[1])
    assert (second["ok"], second["merge"]) == (True, "merge")
    assert sh(project, "rev-parse", "main", "main^2").split() == [second["commit"], commits[2]]
    assert sh(project, "rev-parse", branch_of(prompts[3], 3)).strip() == commits[3]
    # The merges landed in the working copy (main is checked out there), and their worktrees went.
    assert (project / "notes.txt").read_text() == "one\ntwo\nthree fixed\n"
    assert (project / "todo.txt").read_text() == "buy milk\n"
    branches = sh(project, "for-each-ref", "--format=%(refname:short)", "refs/heads/codexhub/")
    assert branches.split() == [branch_of(prompts[3], 3)]
    assert sh(project, "log", "-1", "--format=%s", "main").strip() == (
        f"Merge branch '{branch_of(prompts[2], 2)}' into main"
    )
    assert (third["ok"], third["files"], third["merge"]) == (False, ["notes.txt"], None)
    assert "conflicts in notes.txt; nothing was changed" in third["error"]
    assert after == before


async def test_a_continuation_sees_the_first_change_and_merge_wants_it_committed(project, tmp_path):
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Fix\nnotes.txt=fixed", workspace="worktree")
        await ran(hub, 1)
        await agent.edit(2, "docs", "More\ntodo.txt=milk", workspace="worktree", worktree_of=1)
        await ran(hub, 2)
        before = state(project, tmp_path)
        refused = await agent.decide(
            "merge", "docs", task_id=2, branch=started(hub, 1)["branch"], into="main"
        )
        after = state(project, tmp_path)
    assert saw(hub, 2)["notes.txt"] == "fixed\n"
    assert refused == {
        **refused,
        "ok": False,
        "error": "commit or discard the changes of task 2 first: notes.txt, todo.txt",
        "files": ["notes.txt", "todo.txt"],
    }
    assert after == before


async def test_commit_push_and_pull_request(project, tmp_path, monkeypatch):
    calls = gh_on_path(tmp_path, monkeypatch)
    prompt = "Fix the notes\nnotes.txt=fixed"
    branch = branch_of(prompt, 1)
    message = "Fix the notes\n\n# not a comment: kept"
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", prompt, workspace="worktree")
        await ran(hub, 1)
        commit = await agent.decide("commit", "docs", task_id=1, message=message, requested_by=ALICE)
        push = await agent.decide("push", "docs", task_id=1, branch=branch)  # no remote: origin
        pull = await agent.decide(
            "pull_request",
            "docs",
            task_id=1,
            branch=branch,
            into="main",
            title="-Fix the notes",
            body="Why:\n- x",
        )
        hello = next(m for m in hub.connections[0].received if m.get("type") == "hello")

    assert hello["payload"]["capabilities"] == ["agent", "git", "gh"]
    assert commit["ok"] and push == {**push, "ok": True, "error": None}
    assert sh(project, "log", "-1", "--format=%B", commit["commit"]) == (
        f"{message}\n\nRequested-by: Alice Example <alice@example.com>\n\n"
    )
    assert (
        sh(project, "log", "-1", "--format=%an <%ae>", commit["commit"]).strip()
        == "Host Owner <owner@host.example>"
    )
    assert sh(tmp_path / "remote.git", "rev-parse", branch).strip() == commit["commit"]
    assert (pull["ok"], pull["pr_url"]) == (True, "https://github.example/owner/repo/pull/1")
    (call,) = gh_calls(calls)
    assert call["argv"] == [
        "pr", "create", "--head", branch, "--base", "main", "--title=-Fix the notes", "--body-file", "-"
    ]  # fmt: skip
    assert (call["cwd"], call["body"]) == (str(project), "Why:\n- x")
    assert call["env"] == {"GH_PROMPT_DISABLED": "1", "GIT_TERMINAL_PROMPT": "0"}


async def test_without_gh_a_pull_request_is_refused_and_gh_is_not_offered(project, tmp_path, monkeypatch):
    no_gh_on_path(monkeypatch)
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Fix\nnotes.txt=fixed", workspace="worktree")
        await ran(hub, 1)
        branch = started(hub, 1)["branch"]
        done = await agent.decide("pull_request", "docs", task_id=1, branch=branch, into="main", title="Fix")
        hello = next(m for m in hub.connections[0].received if m.get("type") == "hello")
    assert hello["payload"]["capabilities"] == ["agent", "git"]
    assert (done["ok"], done["error"]) == (False, "gh is not installed on this host")


async def test_gh_own_words_come_back_when_it_fails(project, tmp_path, monkeypatch):
    calls = gh_on_path(tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_GH_FAIL", "pull request create failed: GraphQL: No commits between main and x")
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Fix\nnotes.txt=fixed", workspace="worktree")
        await ran(hub, 1)
        branch = started(hub, 1)["branch"]
        done = await agent.decide("pull_request", "docs", task_id=1, branch=branch, into="main", title="Fix")
    assert (done["ok"], done["error"], done["pr_url"]) == (
        False,
        "pull request create failed: GraphQL: No commits between main and x",
        None,
    )
    assert gh_calls(calls) == []


async def test_discard_of_a_working_copy_task_puts_its_files_back_unless_they_changed_since(
    project, tmp_path
):
    (project / "scratch.txt").write_text("draft\n")  # untracked: only the ledger's copy can restore it
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Edit\nnotes.txt=rewritten\nnew.txt=made\nscratch.txt=overwritten")
        await ran(hub, 1)
        (project / "app.py").unlink()  # not the task's doing: a discard leaves it alone
        discarded = await agent.decide("discard", "docs", task_id=1, workspace="working_copy")
        again = await agent.decide("discard", "docs", task_id=1, workspace="working_copy")

        await agent.edit(2, "docs", "Edit again\nnotes.txt=second")
        await ran(hub, 2)
        (project / "notes.txt").write_text("the user's own edit\n")
        refused = await agent.decide("discard", "docs", task_id=2, workspace="working_copy")

    assert (discarded["ok"], discarded["restored"]) == (True, ["new.txt", "notes.txt", "scratch.txt"])
    assert (again["ok"], again["error"]) == (False, "task 1's changes were discarded already")
    assert not (project / "app.py").exists()
    assert (refused["ok"], refused["files"]) == (False, ["notes.txt"])
    assert refused["error"] == "these files changed since the task, so nothing was restored: notes.txt"
    assert (project / "notes.txt").read_text() == "the user's own edit\n"
    assert (project / "scratch.txt").read_text() == "draft\n" and not (project / "new.txt").exists()


async def test_discard_of_a_worktree_task_removes_its_worktree_and_branch(project, tmp_path):
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Fix\nnotes.txt=fixed", workspace="worktree")
        await ran(hub, 1)
        branch = started(hub, 1)["branch"]
        done = await agent.decide("discard", "docs", task_id=1, workspace="worktree")
        await agent.edit(2, "docs", "More\nnotes.txt=more", workspace="worktree", worktree_of=1)
        gone = (await finished(hub, 2))["error"]
    assert done["ok"] is True
    assert sh(project, "branch", "--list", branch) == ""
    assert sh(project, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert gone == "the worktree of task 1 is gone (merged or discarded): start a new task"
    assert (project / "notes.txt").read_text() == FILES["notes.txt"]


async def test_state_of_the_working_copy_and_of_a_worktree(project, tmp_path):
    (project / "notes.txt").write_text("one\n2\nthree\n")
    (project / "made.txt").write_text("new\nfile")
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Fix\napp.py=print('bye')", workspace="worktree")
        await ran(hub, 1)
        copy = (await agent.decide("state", "docs"))["state"]
        tree = (await agent.decide("state", "docs", task_id=1))["state"]
    head = sh(project, "rev-parse", "HEAD").strip()
    assert {k: copy[k] for k in ("branch", "head", "upstream", "ahead", "behind", "dirty_count")} == {
        "branch": "main",
        "head": head,
        "upstream": "origin/main",
        "ahead": 0,
        "behind": 0,
        "dirty_count": 2,
    }
    assert copy["dirty"] == [{"path": "notes.txt", "status": ".M"}, {"path": "made.txt", "status": "?"}]
    modified, added = copy["diff"].split("diff --git a/made.txt")
    assert modified.startswith("diff --git a/notes.txt b/notes.txt\nindex ")
    assert modified.endswith("--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n")
    assert added == (
        " b/made.txt\nnew file mode 100644\n--- /dev/null\n+++ b/made.txt\n"
        "@@ -0,0 +1,2 @@\n+new\n+file\n\\ No newline at end of file\n"
    )
    assert copy["diff_truncated"] is False
    assert copy["branches"] == ["main", started(hub, 1)["branch"]] and copy["remotes"] == ["origin"]
    assert (tree["branch"], tree["dirty"]) == (
        started(hub, 1)["branch"],
        [{"path": "app.py", "status": ".M"}],
    )
    assert "+print('bye')" in tree["diff"]


async def test_a_request_runs_once_however_often_it_comes(project, tmp_path):
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Fix\nnotes.txt=fixed", workspace="worktree")
        await ran(hub, 1)
        fields = {"task_id": 1, "message": "Once", "requested_by": ALICE}
        request = await agent.ask("commit", "docs", **fields)
        await agent.ask("commit", "docs", request=request, **fields)
        await result(hub, request)
        await agent.ask("commit", "docs", request=request, **fields)
        await agent.git.idle()
        marker = await agent.decide("state", "docs")  # answered after anything the copies caused
    assert marker["ok"] and len(results(hub, request)) == 1 and len(results(hub)) == 2
    branch = started(hub, 1)["branch"]
    assert sh(project, "log", "--format=%s", f"main..{branch}").split("\n")[:-1] == ["Once"]


async def test_a_request_running_when_the_agent_stopped_is_answered_stopped_not_run(project, tmp_path):
    request = "R" * 24
    with Ledger(tmp_path / "tasks.sqlite3", owner="test") as ledger:
        assert ledger.request_start("git", request)
    before = state(project, tmp_path)
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        done = await result(hub, request)
        await agent.ask("push", "docs", request=request, task_id=1, branch="main")  # the hub sends it again
        await agent.git.idle()
        await agent.decide("state", "docs")
    assert (done["ok"], done["error"]) == (False, STOPPED)
    assert len(results(hub, request)) == 1
    assert state(project, tmp_path) == before


async def test_unreadable_requests_are_ignored(project, tmp_path):
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        for request in (None, 7, "short", "x" * 65, "bad id with spaces!!"):
            await hub.connections[-1].send(
                {"type": "git.request", "request": request, "action": "state", "project": "docs"}
            )
        marker = await agent.decide("state", "docs")
    assert results(hub) == [marker]


HOSTILE_BRANCHES = ["--upload-pack=x", "../x", "HEAD", "a b", "a\x01b", "refs/heads/main", "main.lock"]


@pytest.mark.parametrize("branch", HOSTILE_BRANCHES)
async def test_a_hostile_branch_is_refused_before_any_git_runs(project, tmp_path, branch, git_calls):
    before = state(project, tmp_path)
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        git_calls.argvs.clear()
        answers = [
            await agent.decide("push", "docs", task_id=1, branch=branch),
            await agent.decide("merge", "docs", task_id=1, branch="main", into=branch),
            await agent.decide("pull_request", "docs", task_id=1, branch=branch, into="main", title="x"),
        ]
        assert git_calls.argvs == []
    for answer in answers:
        assert answer["ok"] is False
        assert answer["error"].startswith("refused: ") and "not a branch name" in answer["error"]
    assert state(project, tmp_path) == before


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"action": "push", "branch": "main", "remote": "https://evil.example/x.git"}, "never a URL"),
        ({"action": "push", "branch": "main", "remote": "git@evil.example:x"}, "never a URL"),
        ({"action": "push", "branch": "main", "remote": "--receive-pack=x"}, "never a URL"),
        ({"action": "commit", "message": "a\x00b", "requested_by": ALICE}, "NUL"),
        (
            {"action": "commit", "message": "ok", "requested_by": {"name": "A <x>", "email": "a@b.c"}},
            "< or >",
        ),
        ({"action": "pull_request", "branch": "main", "into": "main", "title": "t", "body": "\x00"}, "NUL"),
        ({"action": "discard", "workspace": "garden"}, "workspace"),
        ({"action": "rebase"}, "action"),
        ({"action": "merge", "branch": "main"}, "merge needs into"),
    ],
)
async def test_a_hostile_request_is_refused_before_any_git_runs(project, tmp_path, fields, reason, git_calls):
    before = state(project, tmp_path)
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        git_calls.argvs.clear()
        answer = await agent.decide(project="docs", task_id=1, **fields)
        assert git_calls.argvs == []
    assert answer["ok"] is False and answer["error"].startswith("refused: ") and reason in answer["error"]
    assert state(project, tmp_path) == before


async def test_an_unknown_project_or_a_task_without_a_worktree_is_refused_and_nothing_changes(
    project, tmp_path
):
    before = state(project, tmp_path)
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", "Edit\nnotes.txt=changed")  # in the working copy
        await ran(hub, 1)
        changed = state(project, tmp_path)
        answers = {
            "elsewhere": await agent.decide("state", "elsewhere"),
            "commit": await agent.decide("commit", "docs", task_id=1, message="m", requested_by=ALICE),
            "merge": await agent.decide("merge", "docs", task_id=9, branch="main", into="main"),
            "push": await agent.decide("push", "docs", task_id=9, branch="main"),
            "discard": await agent.decide("discard", "docs", task_id=9, workspace="worktree"),
            "discard wc": await agent.decide("discard", "docs", task_id=9, workspace="working_copy"),
        }
    assert {name: answer["error"] for name, answer in answers.items()} == {
        "elsewhere": "project 'elsewhere' is not shared by this host",
        "commit": "task 1 has no worktree in project 'docs'",
        "merge": "task 9 has no worktree in project 'docs'",
        "push": "task 9 has no worktree in project 'docs'",
        "discard": "task 9 has no worktree in project 'docs'",
        "discard wc": "task 9 did not run in the working copy of 'docs' on this host",
    }
    assert state(project, tmp_path) == changed
    assert changed[1] == before[1]  # refs and remote as they were


async def test_git_work_in_a_worktree_is_refused_while_a_task_runs_there(project, tmp_path):
    meet = tmp_path / "meet"
    meet.mkdir()
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        await agent.edit(1, "docs", f"Slow\nmeet {meet} task 2\nnotes.txt=fixed", workspace="worktree")
        await wait_for(lambda: (meet / "task").exists(), what="the task to run")
        refused = await agent.decide("commit", "docs", task_id=1, message="m", requested_by=ALICE)
        (meet / "test").touch()  # the task goes on
        await ran(hub, 1)
        done = await agent.decide("commit", "docs", task_id=1, message="m", requested_by=ALICE)
    assert (refused["ok"], refused["error"]) == (False, TASK_RUNNING.format(task_id=1))
    assert done["ok"] is True


async def test_a_state_too_large_for_one_frame_is_cut_to_fit(project, tmp_path):
    # Each of these characters is 12 characters of JSON (a surrogate pair, escaped): the
    # 256 KiB of diff the hub keeps would be 3 MiB on the wire.
    (project / "faces.txt").write_text(("\U0001f600" * 40 + "\n") * 20000)
    async with git_agent(tmp_path, edit_config(tmp_path), {"docs": project}) as (hub, agent):
        done = await agent.decide("state", "docs")
    state = done["state"]
    assert state["diff_truncated"] is True and state["dirty"] == [{"path": "faces.txt", "status": "?"}]
    assert state["diff"].startswith("diff --git a/faces.txt b/faces.txt\nnew file mode 100644\n")
    assert state["diff"].endswith("\U0001f600\n")
    assert MAX_REPO_DIFF // 8 < len(state["diff"]) <= MAX_REPO_DIFF // 2  # halved until it fit
