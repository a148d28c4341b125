"""`python -m hostagent worktrees`: the task worktrees of every shared project, stale ones marked."""

import shutil
import subprocess

from hostagent import config
from hostagent import git as gitops
from hostagent.git.worktrees import worktrees_dir
from hostagent.tasks.ledger import RECEIVED, Ledger
from tests.hostagent.conftest import ROOT
from tests.kits.gitrepo import make_repo


def worktrees(agent_cmd, config_path):
    done = subprocess.run(
        agent_cmd("worktrees", "--config", str(config_path)), cwd=ROOT, capture_output=True, text=True
    )
    return done.returncode, done.stdout, done.stderr


def test_it_lists_each_projects_task_worktrees_and_marks_the_stale_ones(tmp_path, config_path, agent_cmd):
    docs = make_repo(tmp_path / "docs")
    app = make_repo(tmp_path / "app")
    plain = tmp_path / "plain"  # not a repository: nothing to list
    plain.mkdir()
    projects = {"docs": str(docs), "app": str(app), "plain": str(plain)}
    config.save(config_path, config.Config(hub="https://hub.example.com", host_id=12, projects=projects))
    data = worktrees_dir(config_path)
    live = gitops.worktree_create(docs, 7, "fix-login", data_dir=data)
    unknown = gitops.worktree_create(docs, 8, "notes", data_dir=data)
    gone = gitops.worktree_create(app, 9, "readme", data_dir=data)
    shutil.rmtree(gone.path)
    with Ledger(config.ledger_path(config_path), owner="https://hub.example.com 12") as ledger:
        ledger.add(7, RECEIVED)
        ledger.add(9, RECEIVED)

    assert worktrees(agent_cmd, config_path) == (
        0,
        f"docs  task 7  codexhub/7-fix-login  {live.path}\n"
        f"docs  task 8  codexhub/8-notes  {unknown.path}  (stale: this host's ledger knows no such task)\n"
        f"app  task 9  codexhub/9-readme  {gone.path}"
        "  (stale: its folder is gone; git worktree prune forgets it)\n",
        "",
    )


def test_it_says_when_there_are_none(tmp_path, config_path, agent_cmd):
    config.save(config_path, config.Config(projects={"docs": str(make_repo(tmp_path / "docs"))}))
    assert worktrees(agent_cmd, config_path) == (0, "No task worktrees.\n", "")
