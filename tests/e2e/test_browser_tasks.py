"""A browser task sent from the phone: the host's agent drives Debian's
Chromium through Playwright against a small site served here on loopback,
and the task page shows each step, the text read and the screenshot, each
step's result as soon as it ends."""

import json
import re

import pytest
from playwright.sync_api import expect

from tasks.models import Task, TaskArtifact
from tests.kits.agent_toml import executor_toml
from tests.kits.gated_page import Gate
from tests.kits.loopback import LoopbackServer, Reply, Request, html_reply
from tests.kits.notes_host import phone, run_agent_ready, task_form
from tests.kits.phone import shot

pytestmark = pytest.mark.e2e

FORM = b"""<!doctype html><html><body><h1>Order</h1>
<form action="/result"><input id="name" name="name"><select id="size" name="size">
<option>small</option><option>large</option></select>
<button type="submit">Send</button></form></body></html>"""


class Site(LoopbackServer):
    """An order form and the page it sends to; /later shows "Released" once the test opens `gate`."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = Gate()

    def answer(self, request: Request) -> Reply:
        gated = self.gate.answer(request.route)
        if gated is not None:
            return gated
        if request.route == "/form":
            return Reply(200, FORM, {"Content-Type": "text/html; charset=utf-8"})
        if request.route == "/result":
            query = request.query
            return html_reply(f"<!doctype html><p id=result>Thanks, {query['name']} ({query['size']})</p>")
        return html_reply("<!doctype html><p>not here</p>", status=404)


@pytest.fixture
def server():
    with Site() as running:
        yield running


@pytest.fixture
def site(server):
    return server.netloc


def start_browser_agent(world, tmp_path, artifacts, site, **keys):
    """The host's agent with a `browser` executor (Debian's Chromium, headless) allowed on `site`."""
    executors = executor_toml(
        "browser",
        type="browser",
        label="Chromium",
        executable_path="/usr/bin/chromium",
        headless=True,
        allowed_sites=[site],
        **keys,
    )
    run_agent_ready(world, tmp_path, artifacts, executors)


def browser_task_form(browser, world):  # noqa: F811
    """A phone on project notes' task form, the browser executor chosen."""
    page = phone(browser, world)
    task_form(page, world, "browser")
    return page


def test_a_browser_task_from_the_phone(world, browser, tmp_path, artifacts, site):  # noqa: F811
    start_browser_agent(world, tmp_path, artifacts, site, step_timeout=10)
    page = browser_task_form(browser, world)
    steps = [
        {"action": "open", "url": f"http://{site}/form"},
        {"action": "fill", "selector": "#name", "value": "Ada"},
        {"action": "select", "selector": "#size", "value": "large"},
        {"action": "pdf"},
        {"action": "click", "selector": "button[type=submit]"},
        {"action": "wait", "text": "Thanks, Ada"},
        {"action": "read", "selector": "#result"},
    ]
    page.get_by_label("Browser steps").fill(json.dumps(steps))
    expect(page.get_by_label("Step 7 action")).to_have_value("read")  # the builder follows the JSON
    # The builder edits the same list: drop the PDF step, add a screenshot at the end.
    page.get_by_role("button", name="Remove").nth(3).click()
    page.get_by_role("button", name="Add a step").click()
    page.get_by_label("Step 7 action").select_option("screenshot")
    page.get_by_label("What should it do?").fill("Order a large one for Ada")
    shot(page, artifacts, "01-steps")
    page.get_by_role("button", name="Send to studio").click()
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=40_000)
    expect(page.locator("#task-steps .step-text")).to_have_text("Thanks, Ada (large)")
    image = page.locator("#task-steps img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")  # loaded and drawn
    shot(page, artifacts, "02-task")
    task = Task.objects.get()
    assert [step["action"] for step in task.steps][-1] == "screenshot" and len(task.steps) == 7
    assert TaskArtifact.objects.get(task=task).name == "step-6.png"


def test_a_step_outside_the_allowed_sites_fails_naming_it(world, browser, tmp_path, artifacts, site):  # noqa: F811
    executors = executor_toml(
        "browser", type="browser", label="Chromium", executable_path="/usr/bin/chromium", allowed_sites=[site]
    )
    run_agent_ready(world, tmp_path, artifacts, executors)
    page = browser_task_form(browser, world)
    steps = [
        {"action": "open", "url": f"http://{site}/form"},
        {"action": "open", "url": "http://evil.example/"},
    ]
    page.get_by_label("Browser steps").fill(json.dumps(steps))
    expect(page.get_by_label("Step 2 url")).to_have_value("http://evil.example/")
    page.get_by_role("button", name="Send to studio").click()
    expect(page.locator('body[data-task-state="failed"]')).to_have_count(1, timeout=40_000)
    expect(page.locator(".task-error")).to_contain_text("step 2 (open): site not allowed: evil.example")
    shot(page, artifacts, "03-refused")


def test_each_steps_result_shows_while_the_browser_task_runs(world, browser, tmp_path, artifacts, server):  # noqa: F811
    start_browser_agent(world, tmp_path, artifacts, server.netloc, step_timeout=10)
    page = browser_task_form(browser, world)
    steps = [
        {"action": "open", "url": f"http://{server.netloc}/later"},
        {"action": "read", "selector": "#first"},
        {"action": "wait", "text": "Released", "timeout": 60},
        {"action": "read", "selector": "#later"},
    ]
    page.get_by_label("Browser steps").fill(json.dumps(steps))
    page.get_by_label("What should it do?").fill("Read the page, then wait for the release")
    page.get_by_role("button", name="Send to studio").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
    # Step 2's text is on the page while step 3 waits for the site.
    expect(page.locator('#task-steps li[data-step="2"] .badge')).to_have_text("Done", timeout=30_000)
    expect(page.locator('#task-steps li[data-step="2"] .step-text')).to_have_text("Ready")
    expect(page.locator('#task-steps li[data-step="3"] .badge')).to_have_text("Running")
    expect(page.locator('#task-steps li[data-step="4"] .badge')).to_have_text("Waiting")
    assert page.locator("body").get_attribute("data-task-state") == "running"
    shot(page, artifacts, "04-steps-while-running")
    server.gate.release()
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=30_000)
    expect(page.locator('#task-steps li[data-step="4"] .step-text')).to_have_text("Released")
    expect(page.locator("#task-steps .badge")).to_have_text(["Done"] * 4)
    shot(page, artifacts, "05-steps-done")
    task = Task.objects.get()
    assert [result["text"] for result in task.step_results] == [None, "Ready", None, "Released"]
