"""Live configuration, end to end: while the host's agent runs (real daphne, worker and agent),
a folder shared with `project add` shows on the phone within moments, an executor added to
agent.toml is offered by the task form and shows on the host's open page, and a folder removed
disappears; the agent is never restarted."""

import time

import pytest
from playwright.sync_api import Page, expect

from devices.models import Host
from projects.models import Project
from tests.kits.agent_toml import BULLETS_TOML, executor_toml
from tests.kits.notes_host import phone, run_agent, wait_mirrored
from tests.kits.phone import shot
from tests.kits.processes import Agent, wait_until

pytestmark = pytest.mark.e2e

LIVE = 2_000  # ms from the saved file to the phone
TIDY = executor_toml("tidy", type="command", label="Tidy up", command=["/bin/echo", "{prompt}"])


def wait_live(page: Page) -> None:
    expect(page.locator('body[data-live="open"]')).to_have_count(1, timeout=10_000)


def project_link(page: Page, name: str):
    return page.locator("#live-region a.card", has=page.locator("strong", has_text=name))


def test_the_phone_sees_projects_and_executors_change_while_the_agent_runs(
    world, browser, tmp_path, artifacts
):
    agent = run_agent(world, tmp_path, artifacts, BULLETS_TOML)
    wait_mirrored(world)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "soup.md").write_text("# Soup\n\nLeeks, potatoes.\n")
    page = phone(browser, world)
    page.goto(f"{world['hub'].url}/projects/")
    wait_live(page)
    expect(project_link(page, "notes")).to_be_visible()
    expect(project_link(page, "recipes")).to_have_count(0)

    started = time.monotonic()
    added = Agent(agent.config, "project", "add", str(recipes), log_dir=artifacts)
    assert added.exit_code(timeout=20) == 0, added.output()
    assert "A running agent shares it at once." in added.output()
    expect(project_link(page, "recipes")).to_be_visible(timeout=LIVE)
    print(f"project add to the phone: {time.monotonic() - started:.2f} s (CLI start included)")
    shot(page, artifacts, "live-config-added")
    project_link(page, "recipes").click()
    expect(page.get_by_role("tree").get_by_role("link", name="soup.md")).to_be_visible(timeout=5_000)

    host = world["host"]
    host_page = page.context.new_page()  # the host's page, left open while agent.toml changes
    host_page.goto(f"{world['hub'].url}/hosts/{host.id}/")
    wait_live(host_page)
    expect(host_page.locator("#live-region .badge", has_text="Tidy up")).to_have_count(0)
    agent.config.write_text(agent.config.read_text() + "\n" + TIDY)  # as an editor saves it
    expect(host_page.locator("#live-region .badge", has_text="Tidy up")).to_be_visible(timeout=LIVE)
    expect(host_page.locator("#live-region")).to_have_count(1)  # its part, not a page in the page
    expect(host_page.get_by_role("heading", name="Rename")).to_have_count(1)
    shot(host_page, artifacts, "live-config-host-page")
    host_page.close()
    wait_until(
        lambda: "tidy" in [e["name"] for e in Host.objects.get(id=host.id).executors],
        timeout=LIVE / 1000,
        what="the hub to hear the new executor",
    )
    project = Project.objects.get(host=host, name="recipes")
    page.goto(f"{world['hub'].url}/tasks/new/?project={project.id}")
    expect(page.get_by_label("Run with").locator("option", has_text="Tidy up")).to_have_count(1)
    shot(page, artifacts, "live-config-executor")

    page.goto(f"{world['hub'].url}/projects/")
    wait_live(page)
    left_open = page.context.new_page()  # a second tab, on the project about to go
    left_open.goto(f"{world['hub'].url}/projects/{project.id}/")
    wait_live(left_open)
    removed = Agent(agent.config, "project", "remove", "recipes", log_dir=artifacts)
    assert removed.exit_code(timeout=20) == 0, removed.output()
    expect(project_link(page, "recipes")).to_have_count(0, timeout=LIVE)
    expect(project_link(page, "notes")).to_be_visible()
    shot(page, artifacts, "live-config-removed")
    expect(left_open.locator("[data-live-status]")).to_have_text(
        "This project is no longer shared by its host.", timeout=LIVE
    )
    expect(left_open.get_by_text("Send a task")).to_be_hidden()
    shot(left_open, artifacts, "live-config-removed-open-page")
    page.goto(f"{world['hub'].url}/projects/{project.id}/")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()  # its page is gone too

    log = agent.output()
    assert log.count("connected to") == 1, log  # one link all along: no restart
    assert "sharing project 'recipes'" in log and "no longer sharing project 'recipes'" in log
    assert "offering executor tidy" in log
