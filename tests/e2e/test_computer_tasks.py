"""A computer task sent from the phone: the host's agent drives a Tk program on Xvfb (written in
the tests, recording what reaches it), and the task page shows each step with the screenshot
taken after it."""

import json
import re

import pytest
from playwright.sync_api import expect

from tasks.models import Task, TaskArtifact
from tests.kits.agent_toml import executor_toml
from tests.kits.notes_host import phone, run_agent_ready, task_form
from tests.kits.phone import shot
from tests.kits.xvfb import recorder, xvfb

pytestmark = pytest.mark.e2e


@pytest.fixture
def display():
    with xvfb() as server:
        yield server


def test_a_computer_task_from_the_phone(world, browser, tmp_path, artifacts, display):
    executors = executor_toml("desk", type="computer", label="Desktop", display=display.name, step_timeout=10)
    run_agent_ready(world, tmp_path, artifacts, executors)
    with recorder(display, tmp_path / "tk") as tk:
        page = phone(browser, world)
        task_form(page, world, "desk")
        button, entry = tk.layout["button"], tk.layout["entry"]
        steps = [
            {"action": "click", "x": button[0], "y": button[1]},
            {"action": "wait", "title": "Thanks"},
            {"action": "click", "x": entry[0], "y": entry[1]},
            {"action": "type", "text": "sent from a phone"},
            {"action": "key", "keys": "ctrl+shift+t"},
        ]
        page.get_by_label("Desktop steps").fill(json.dumps(steps))
        expect(page.get_by_label("Step 5 action")).to_have_value("key")  # the builder follows the JSON
        expect(page.get_by_label("Step 1 x")).to_have_value(str(button[0]))
        page.get_by_role("button", name="Add a step").click()  # a screenshot at the end
        expect(page.get_by_label("Step 6 action")).to_have_value("screenshot")
        expect(page.get_by_label("Step 6 action").locator("option")).to_have_count(9)
        page.get_by_label("What should it do?").fill("Thank the recorder")
        shot(page, artifacts, "01-desktop-steps")
        page.get_by_role("button", name="Send to studio").click()
        expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
        expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=40_000)
        images = page.locator("#task-steps img")
        expect(images).to_have_count(6)
        for index in range(6):
            expect(images.nth(index)).to_be_visible()
            images.nth(index).scroll_into_view_if_needed()  # they load lazily, once near the screen
            assert images.nth(index).evaluate("img => img.decode().then(() => img.naturalWidth)") == 1024
        expect(page.locator("#task-steps")).to_contain_text(f"click {button[0]},{button[1]}")
        expect(page.locator("#task-steps")).to_contain_text('type "sent from a phone"')
        shot(page, artifacts, "02-desktop-task")
        assert tk.events("click") == [{"event": "click", "button": "Press me"}]
        assert tk.text() == "sent from a phone"
        assert {"event": "key", "keysym": "T", "ctrl": True, "shift": True} in tk.events("key")
    task = Task.objects.get()
    assert task.executor_kind == "computer" and len(task.steps) == 6
    assert TaskArtifact.objects.filter(task=task).count() == 6
