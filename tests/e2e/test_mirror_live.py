"""A real agent shares a folder; Chromium at a phone viewport watches the
mirror change live as files change on the host (SECURITY.md 53, 55, 59)."""

import re

import pytest
from playwright.sync_api import Page, expect

from projects.models import Entry, Project
from tests.e2e.conftest import PHONE
from tests.kits.common import make_host, make_owner
from tests.kits.phone import shot, sign_in
from tests.kits.processes import Agent, Hub, hub_env, hub_with_worker, wait_until, write_agent_config

pytestmark = pytest.mark.e2e

LIVE = 1_000  # ms: a change on the host shows on an open page within a second
FAST_LINK = {"HOST_HEARTBEAT_INTERVAL": "0.5", "HOST_HEARTBEAT_TIMEOUT": "2"}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "docs"
    (root / "src").mkdir(parents=True)
    (root / "README.md").write_text("# Hello\n\nFirst version.\n")
    (root / "src" / "app.py").write_text("def main():\n    return 1\n")
    (root / ".gitignore").write_text("secret.txt\n")
    (root / "secret.txt").write_text("IGNORED-CONTENT")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("GIT-INTERNALS")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "id_rsa").write_text("TOP-SECRET-KEY")
    (root / "key").symlink_to(outside / "id_rsa")
    return root


@pytest.fixture
def setup(transactional_db, tmp_path, artifacts, tree):
    with hub_with_worker(hub_env(**FAST_LINK), artifacts) as hub:
        user, team = make_owner("mia@example.com", "Mia's")
        host, token = make_host(team, "studio")
        config = write_agent_config(
            tmp_path / "agent" / "agent.toml", hub=hub.url, host_id=host.id, name="studio", token=token
        )
        added = Agent(config, "project", "add", str(tree), "--name", "docs", log_dir=artifacts)
        assert added.exit_code(timeout=20) == 0, added.output()
        added.stop()
        state = {"hub": hub, "user": user, "config": config, "agent": None}
        yield state
        if state["agent"]:
            state["agent"].stop()


def start_agent(state, artifacts) -> Agent:
    state["agent"] = Agent(state["config"], "run", log_dir=artifacts)
    return state["agent"]


def tree_item(page: Page, path: str):
    return page.locator(f'.tree [data-path="{path}"]').first


def wait_live(page: Page) -> None:
    """The page's socket is subscribed: from now on it hears every change."""
    expect(page.locator('body[data-live="open"]')).to_have_count(1, timeout=10_000)


def batch_changes(hub: Hub, since: int) -> int:
    """How many entries travelled in mirror batches, from the hub's log."""
    counts = re.findall(r"mirror batch: host \d+ project \d+, (\d+) changes", hub.output()[since:])
    return sum(int(count) for count in counts)


def test_the_mirror_follows_the_host_live(setup, browser, artifacts, tree):
    hub = setup["hub"]
    start_agent(setup, artifacts)
    page = browser.new_context(**PHONE).new_page()
    sign_in(page, hub.url, setup["user"])
    page.goto(f"{hub.url}/projects/")
    page.get_by_role("link", name="docs").click()
    expect(tree_item(page, "README.md")).to_be_visible(timeout=15_000)
    expect(tree_item(page, "src")).to_be_visible()  # the project page shows the top folder
    page.get_by_role("tree").get_by_role("link", name="src").click()
    expect(tree_item(page, "src/app.py")).to_be_visible()
    page.get_by_role("navigation", name="Folders").get_by_role("link", name="docs").click()
    shot(page, artifacts, "01-project")

    # Never mirrored: ignored files, .git, and what a symlink points at.
    assert not Entry.objects.filter(path__in=["secret.txt", ".git", ".git/config"]).exists()
    assert Entry.objects.get(path="key").kind == "symlink"
    assert not Entry.objects.filter(text__contains="TOP-SECRET").exists()
    assert not Entry.objects.filter(text__contains="IGNORED-CONTENT").exists()

    page.get_by_role("tree").get_by_role("link", name="README.md").click()
    expect(page.locator("#file-body h1")).to_have_text("Hello")
    shot(page, artifacts, "02-markdown")
    wait_live(page)

    # Edited on the host: the open file page shows the new text.
    (tree / "README.md").write_text("# Hello again\n\nSecond version.\n")
    expect(page.locator("#file-body h1")).to_have_text("Hello again", timeout=LIVE)
    shot(page, artifacts, "03-edited")

    # Created, deleted, folder renamed: the open project page follows, row by row.
    page.get_by_role("link", name="docs").click()
    wait_live(page)
    (tree / "notes.md").write_text("new\n")
    expect(tree_item(page, "notes.md")).to_be_visible(timeout=LIVE)
    (tree / "notes.md").unlink()
    expect(tree_item(page, "notes.md")).to_contain_text("deleted on the host", timeout=LIVE)
    (tree / "src").rename(tree / "lib")
    expect(tree_item(page, "lib")).to_be_visible(timeout=LIVE)
    expect(tree_item(page, "src")).to_contain_text("deleted on the host", timeout=LIVE)
    page.reload()  # a fresh page lists what is there
    expect(tree_item(page, "src")).to_have_count(0)
    page.get_by_role("tree").get_by_role("link", name="lib").click()
    expect(tree_item(page, "lib/app.py")).to_be_visible()
    shot(page, artifacts, "04-renamed")

    # Stopped, three files changed, restarted: exactly those three travel.
    setup["agent"].stop()
    since = len(hub.output())
    (tree / "README.md").write_text("# Third\n")
    (tree / "lib" / "app.py").write_text("def main():\n    return 3\n")
    (tree / "todo.md").write_text("- one\n")
    project = Project.objects.get(name="docs")
    start_agent(setup, artifacts)
    wait_until(
        lambda: project.entries.filter(path="todo.md").exists()
        and project.entries.get(path="README.md").text == "# Third\n"
        and "return 3" in project.entries.get(path="lib/app.py").text,
        timeout=15,
        what="the mirror to converge",
    )
    assert batch_changes(hub, since) == 3
    page.goto(f"{hub.url}/projects/")
    expect(page.get_by_role("link", name="docs")).to_be_visible()
    shot(page, artifacts, "05-projects")
