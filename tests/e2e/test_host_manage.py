"""Managing a host from a phone, end to end: a real hub and a real agent whose agent.toml allows it.
The owner opens the host's management page, picks a repository from the folders the host lists
under its roots, sees it appear among the shared projects, then stops sharing it (screenshots at
390x844)."""

import pytest
from playwright.sync_api import expect

from devices.models import Host
from hostagent import config
from tests.kits.agent_toml import BULLETS_TOML
from tests.kits.notes_host import phone, run_agent, wait_mirrored
from tests.kits.phone import shot
from tests.kits.processes import wait_until

pytestmark = pytest.mark.e2e


def test_the_phone_shares_a_folder_from_the_picker_then_stops_sharing_it(world, browser, tmp_path, artifacts):
    code = tmp_path / "code"
    (code / "api" / ".git").mkdir(parents=True)
    (code / "api" / "README.md").write_text("# API\n\nThe service's code.\n")
    (code / "scratch").mkdir()
    manage = f'\n[manage]\n# the phone may pick from ~/code\nallow = true\nroots = ["{code}"]\n'
    agent = run_agent(world, tmp_path, artifacts, BULLETS_TOML + manage)
    wait_mirrored(world)
    host_id = world["host"].id
    wait_until(lambda: "manage" in Host.objects.get(id=host_id).capabilities, timeout=10, what="manage")
    hub = world["hub"].url

    page = phone(browser, world)
    page.goto(f"{hub}/hosts/{host_id}/")
    page.get_by_role("link", name="Manage this host").click()
    expect(page.get_by_role("heading", name="Manage this host")).to_be_visible()
    expect(page.locator("#manage-projects [data-project]")).to_have_count(1)  # notes
    expect(page.locator("#manage-executors")).to_contain_text("Bulletize")
    expect(page.locator('body[data-live="open"]')).to_have_count(1, timeout=10_000)
    shot(page, artifacts, "manage-01-page")

    page.get_by_role("link", name="Share a folder…").click()
    picker = page.locator("#folder-picker")
    expect(picker).to_be_visible(timeout=15_000)  # asked live of the host
    expect(picker.locator("label.folder-choice")).to_have_count(3)  # the root, api, scratch
    api = picker.locator("label.folder-choice", has_text="api")
    expect(api).to_contain_text("git")
    expect(picker.locator("label.folder-choice", has_text="scratch")).to_contain_text("folder")
    shot(page, artifacts, "manage-02-picker")
    api.click()
    page.get_by_role("button", name="Share", exact=True).click()

    expect(page.locator(".messages")).to_contain_text("Asked studio to share")
    shared = page.locator('#manage-projects [data-project="api"]')
    expect(shared).to_be_visible(timeout=15_000)
    expect(page.locator("#manage-done")).to_contain_text("Now sharing api")
    assert config.load(agent.config).projects["api"] == str(code / "api")
    assert "# the phone may pick from ~/code" in agent.config.read_text()
    shot(page, artifacts, "manage-03-shared")

    page.goto(f"{hub}/projects/")
    expect(page.get_by_role("link", name="api")).to_be_visible()
    shot(page, artifacts, "manage-04-projects")

    page.goto(f"{hub}/hosts/{host_id}/manage/")
    sheet = page.locator('#manage-projects [data-project="api"] details')
    sheet.locator("summary").click()
    expect(sheet).to_contain_text("The files stay on studio, untouched.")
    shot(page, artifacts, "manage-05-confirm")
    sheet.get_by_role("button", name="Stop sharing api").click()
    expect(page.locator('#manage-projects [data-project="api"]')).to_have_count(0, timeout=15_000)
    expect(page.locator("#manage-done")).to_contain_text("No longer sharing api")
    assert "api" not in config.load(agent.config).projects and (code / "api" / "README.md").exists()
    shot(page, artifacts, "manage-06-removed")
    page.goto(f"{hub}/projects/")
    expect(page.get_by_role("link", name="notes")).to_be_visible()
    expect(page.get_by_role("link", name="api")).to_have_count(0)
