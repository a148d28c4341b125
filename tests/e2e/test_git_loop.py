"""From prompt to pushed change on a phone (issue 17), end to end: real daphne, Celery worker
(with Redis), host agent, executor and git. The project is a real repository with a bare
repository as its `origin`; GitHub's `gh` is the fake in tests/bin/gh, on the agent's PATH only.

A task runs on its own branch in a worktree (the working copy is untouched), the phone reviews
the diff, commits, merges into main and pushes main; another task goes commit, push, pull
request. Every page at 390 px without a horizontal scroll."""

import json
import os
import re
import subprocess

import pytest
from playwright.sync_api import Page, expect

from tasks.models import Task
from tests.kits.agent_toml import BIN, BULLETS_TOML, task_agent_config
from tests.kits.common import make_host, make_owner
from tests.kits.gitrepo import make_repo, sh
from tests.kits.notes_host import BULLETIZED, NOTES, open_file, phone, wait_mirrored
from tests.kits.phone import shot
from tests.kits.processes import Agent, hub_env, hub_with_worker

pytestmark = pytest.mark.e2e

FAST = {"HOST_HEARTBEAT_INTERVAL": "0.5", "HOST_HEARTBEAT_TIMEOUT": "2", "TASK_SWEEP_INTERVAL": "0.5"}
PROMPT = "Turn this into a bulleted list"


@pytest.fixture
def world(transactional_db, tmp_path, artifacts):
    """A hub, an owner, and a host sharing `notes`: a git repository on main, pushed to a bare
    `origin`, with an agent that offers the bulletize executor and has `gh`."""
    with hub_with_worker(hub_env(**FAST), artifacts) as hub:
        user, team = make_owner("mia@example.com", "Mia's")
        host, token = make_host(team, "studio")
        root = make_repo(tmp_path / "notes", {"groceries.md": NOTES})
        origin = tmp_path / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
        sh(root, "remote", "add", "origin", str(origin))
        sh(root, "push", "-q", "-u", "origin", "main")
        gh_dir = tmp_path / "gh-bin"
        gh_dir.mkdir()
        (gh_dir / "gh").symlink_to(BIN / "gh")
        config = task_agent_config(
            tmp_path / "agent" / "agent.toml",
            hub=hub.url,
            host=host,
            token=token,
            projects={"notes": root},
            executors=BULLETS_TOML,
        )
        gh_log = tmp_path / "gh.jsonl"
        env = {"PATH": f"{gh_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_GH_LOG": str(gh_log)}
        agent = Agent(config, "run", log_dir=artifacts, env=env)
        try:
            yield {"hub": hub, "user": user, "host": host, "root": root, "origin": origin, "gh_log": gh_log}
        finally:
            agent.stop()


def send_on_a_branch(page: Page, world) -> Task:
    open_file(page, world)
    page.get_by_text("Ask the host to change this file").click()
    page.get_by_label("What should it do?").fill(PROMPT)
    page.get_by_label("Run with").select_option(value="bullets")
    page.get_by_role("button", name="Send to studio").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=30_000)
    return Task.objects.get(id=int(page.url.rstrip("/").rsplit("/", 1)[1]))


def decide(page: Page, title: str, confirm: str, done: str) -> None:
    """Open the decision's sheet, confirm it, and wait for what the panel shows when it is done."""
    panel = page.locator("#git-panel")
    sheet = panel.locator("details.sheet").filter(has=page.locator("summary", has_text=title))
    if sheet.get_attribute("open") is None:
        sheet.locator("summary").click()
    panel.get_by_role("button", name=confirm).click()
    expect(page.locator(done)).to_be_visible(timeout=20_000)
    expect(page.locator("#git-waiting")).to_have_count(0)
    expect(page.locator("#git-failed")).to_have_count(0)


def git(world, *args: str) -> str:
    return sh(world["root"], *args).strip()


def test_send_review_commit_merge_and_push_from_a_phone(world, browser, artifacts):
    wait_mirrored(world)
    page = phone(browser, world)
    task = send_on_a_branch(page, world)
    branch = f"codexhub/{task.id}-turn-this-into-a-bulleted-list"
    expect(page.locator("#git-panel")).to_contain_text(branch)
    expect(page.locator("#task-changes .dl.add").filter(has_text="+- Apples")).to_be_visible()
    shot(page, artifacts, "git-01-review")
    # The task ran in its worktree: the working copy and main are as they were.
    assert (world["root"] / "groceries.md").read_text() == NOTES
    assert git(world, "status", "--porcelain") == ""
    main_before = git(world, "rev-parse", "main")

    page.locator("#git-panel summary", has_text="Commit").click()
    expect(page.get_by_label("Commit message")).to_have_value(PROMPT)
    shot(page, artifacts, "git-02-commit-sheet")
    decide(page, "Commit", f"Commit on {branch}", "#git-commit")
    message = git(world, "log", "-1", "--format=%B", branch)
    assert message.startswith(PROMPT) and "Requested-by: mia <mia@example.com>" in message
    assert git(world, "log", "-1", "--format=%an", branch) == "Host Owner"
    assert git(world, "rev-parse", "main") == main_before

    decide(page, "Merge into main", f"Merge {branch} into main", "#git-merged")
    assert (world["root"] / "groceries.md").read_text() == BULLETIZED  # main is checked out here
    assert git(world, "branch", "--list", branch) == ""  # merged: its branch and worktree are gone
    shot(page, artifacts, "git-03-merged")

    decide(page, "Push", "Push main", "#git-pushed")
    pushed = subprocess.run(
        ["git", "--git-dir", str(world["origin"]), "rev-parse", "main"], capture_output=True, text=True
    ).stdout.strip()
    assert pushed == git(world, "rev-parse", "main") != main_before
    expect(page.locator("#git-pushed")).to_contain_text("main")
    shot(page, artifacts, "git-04-pushed")


def test_commit_push_and_a_pull_request_from_a_phone(world, browser, artifacts):
    wait_mirrored(world)
    page = phone(browser, world)
    task = send_on_a_branch(page, world)
    branch = f"codexhub/{task.id}-turn-this-into-a-bulleted-list"
    decide(page, "Commit", f"Commit on {branch}", "#git-commit")
    decide(page, "Push", f"Push {branch}", "#git-pushed")
    remote_ref = subprocess.run(
        ["git", "--git-dir", str(world["origin"]), "rev-parse", branch], capture_output=True, text=True
    ).stdout.strip()
    assert remote_ref == git(world, "rev-parse", branch)
    decide(page, "Pull request", "Open the pull request", "#git-pr")
    link = page.locator("#git-pr a")
    expect(link).to_have_attribute("href", re.compile(r"^https://github\.example/owner/repo/pull/\d+$"))
    [call] = [json.loads(line) for line in world["gh_log"].read_text().splitlines()]
    assert f"--head={branch}" in call["argv"] or branch in call["argv"]
    assert call["body"].startswith(PROMPT)
    shot(page, artifacts, "git-05-pull-request")
    # Main and the working copy never moved.
    assert (world["root"] / "groceries.md").read_text() == NOTES


def test_the_repository_page_and_a_discard_in_the_working_copy(world, browser, artifacts):
    """The Repository card shows the working copy's own uncommitted diff, asked of the host; a
    task run in the working copy is discarded from the phone and its file is as it was."""
    wait_mirrored(world)
    (world["root"] / "groceries.md").write_text(NOTES + "Dates\n")  # edited by hand, not committed
    (world["root"] / "todo.txt").write_text("Call the bakery\n")
    page = phone(browser, world)
    page.goto(f"{world['hub'].url}/projects/")
    page.get_by_role("link", name="notes").click()
    page.locator("#repo-card").click()
    expect(page.locator("#repo-branch")).to_have_text("main", timeout=20_000)
    expect(page.locator("#repo-upstream")).to_contain_text("origin/main · 0 ahead, 0 behind")
    expect(page.locator("#repo-dirty")).to_have_text("2 files")
    diff = page.locator("#repo-diff")
    expect(diff.locator(".dl.add").filter(has_text="+Dates")).to_be_visible()
    expect(diff.locator(".dl.add").filter(has_text="+Call the bakery")).to_be_visible()
    shot(page, artifacts, "git-06-repository")

    open_file(page, world)
    page.get_by_text("Ask the host to change this file").click()
    page.get_by_label("What should it do?").fill(PROMPT)
    page.get_by_label("Run with").select_option(value="bullets")
    page.get_by_label("In the working copy").check()
    page.get_by_role("button", name="Send to studio").click()
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=30_000)
    assert (world["root"] / "groceries.md").read_text().startswith("# Groceries\n- Apples\n")
    decide(page, "Discard", "Put the files back", "#git-discarded")
    expect(page.locator("#git-discarded")).to_contain_text("1 file put back")
    assert (world["root"] / "groceries.md").read_text() == NOTES + "Dates\n"  # the hand edit kept
    shot(page, artifacts, "git-07-discarded")
