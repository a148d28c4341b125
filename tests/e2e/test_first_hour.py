"""The first hour on a phone, a tablet and a desktop: no page scrolls
sideways, the signed-out card is not squeezed into a side column, and the
task form on a file page sends a typed prompt to the coding agent even when
the host also offers a browser."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Membership, Role, Team
from devices.models import Host, HostState
from devices.pairing import pairing_start
from tasks.models import Task
from tests.e2e.conftest import PHONE, off_the_loop
from tests.kits.common import make_host, make_user
from tests.kits.phone import shot, sign_in
from tests.kits.task_stream import make_task, shared_project

pytestmark = pytest.mark.e2e

BROWSER = {"name": "browser", "label": "Chromium", "kind": "browser", "needs_file": False}
CLAUDE = {"name": "claude", "label": "Claude Code", "kind": "command", "needs_file": False}
VIEWPORTS = {
    "phone": PHONE,
    "tablet": {"viewport": {"width": 768, "height": 1024}},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.fixture
def owner(transactional_db):
    """An owner whose host offers a browser first, then Claude Code, and shares `notes`."""
    user = make_user("ines@example.com")
    team = Team.objects.create(name="Ines's desk")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    host, _ = make_host(team, "studio")
    Host.objects.filter(id=host.id).update(executors=[BROWSER, CLAUDE], capabilities=["agent", "browser"])
    project = off_the_loop(shared_project, host, "notes", ("plan.md",))
    make_host(team, "new laptop", state=HostState.UNCONFIRMED)  # approved, its agent not yet confirmed
    return {"user": user, "team": team, "host": host, "project": project}


@pytest.mark.parametrize("size", VIEWPORTS)
def test_signed_out_pages_fit_and_keep_their_width(live_hub, browser, artifacts, size):
    context = browser.new_context(**VIEWPORTS[size])
    page = context.new_page()
    width = VIEWPORTS[size]["viewport"]["width"]
    signed_out = [
        ("sign-in", "/accounts/login/"),
        ("sign-up", "/accounts/signup/"),
        ("password-reset", "/accounts/password/reset/"),
    ]
    for name, path in signed_out:
        page.goto(f"{live_hub.url}{path}")
        shot(page, artifacts, f"{size}-{name}")
        card = page.locator(".card.narrow").bounding_box()
        # The card is as wide as the screen allows, up to its 440 px, and centred.
        assert card["width"] >= min(440, width - 40) - 1, f"{size} {name}: the card is {card['width']}px wide"
        middle = card["x"] + card["width"] / 2
        assert middle == pytest.approx(width / 2, abs=2), f"{size} {name}: the card is off centre"
    context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_signed_in_pages_fit(live_hub, browser, artifacts, owner, size):
    context = browser.new_context(**VIEWPORTS[size])
    page = context.new_page()
    sign_in(page, live_hub.url, owner["user"])
    project = owner["project"]
    teammate = make_user("tom@example.com")
    Membership.objects.create(team=owner["team"], user=teammate, role=Role.MEMBER)
    task = make_task(project, teammate, executor="claude")  # not hers: her "Send a task" stays open
    asking = pairing_start(name="Lab box", platform="linux-x86_64", agent_version="0.1.0", ip="192.0.2.7")
    pages = {
        "hosts": "/hosts/",
        "host": f"/hosts/{owner['host'].id}/",
        "pair": "/pair/",
        "pair-approve": f"/pair/?code={asking.pairing.user_code_display}",
        "task": f"/tasks/{task.id}/",
        "projects": "/projects/",
        "project": f"/projects/{project.id}/",
        "file": f"/projects/{project.id}/files/plan.md",
        "tasks": "/tasks/",
        "settings": "/settings/",
        "teams": "/teams/",
        "notifications": "/settings/notifications/",
    }
    for name, path in pages.items():
        page.goto(f"{live_hub.url}{path}")
        expect(page.locator("main h1").first).to_be_visible()
        if name == "hosts":
            expect(page.locator("#first-run")).to_contain_text("4 of 6 done")
            expect(page.locator("[data-host-id]", has_text="new laptop")).to_contain_text("Pending")
            expect(page.locator("#loopback-note")).to_be_visible()  # the hub runs on 127.0.0.1
        shot(page, artifacts, f"{size}-{name}")
    context.close()


def test_the_file_page_sends_a_typed_prompt_to_the_agent(live_hub, browser, artifacts, owner):
    page = browser.new_context(**PHONE).new_page()
    sign_in(page, live_hub.url, owner["user"])
    page.goto(f"{live_hub.url}/projects/{owner['project'].id}/files/plan.md")
    page.get_by_text("Ask the host to change this file").click()
    # A file is changed by a coding agent: the browser is not the default here.
    expect(page.get_by_label("Run with")).to_have_value("claude")
    expect(page.get_by_label("Browser steps")).to_be_hidden()
    page.get_by_label("What should it do?").fill("Turn this into a bulleted list")
    shot(page, artifacts, "file-form")
    page.get_by_role("button", name="Send to studio").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
    task = Task.objects.get()
    assert (task.executor, task.target) == ("claude", "plan.md")
    assert task.prompt == "Turn this into a bulleted list"


def test_the_browser_tasks_prompt_is_marked_as_optional_only_when_it_is(live_hub, browser, artifacts, owner):
    page = browser.new_context(**PHONE).new_page()
    sign_in(page, live_hub.url, owner["user"])
    page.goto(f"{live_hub.url}/projects/{owner['project'].id}/")
    expect(page.locator("details.task-card")).to_have_attribute("open", "")  # no task yet: the form is open
    prompt = page.locator("#task-prompt")
    page.get_by_label("Run with").select_option(value="claude")
    expect(prompt).to_have_attribute("required", "")
    mark = page.locator("label[for=task-prompt]").get_by_text("(optional)")
    expect(mark).to_be_hidden()
    page.get_by_label("Run with").select_option(value="browser")
    expect(prompt).not_to_have_attribute("required", re.compile(".*"))
    expect(mark).to_be_visible()
    shot(page, artifacts, "browser-form")
    # And it is optional: steps alone make a task.
    page.get_by_label("Browser steps").fill('[{"action": "open", "url": "https://example.com/"}]')
    expect(page.get_by_label("Step 1 action")).to_have_value("open")  # the builder has followed the JSON
    page.get_by_role("button", name="Send to studio").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
    assert Task.objects.get().prompt == "Browser: https://example.com/ (1 step)"
