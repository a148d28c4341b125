"""Watching a computer task live on a phone (390x844): the host's agent types into a Tk program
on Xvfb while the task page shows its screen refreshing and each step's result as it ends; Stop
ends the input and the live frame at once."""

import json
import re

import pytest
from playwright.sync_api import expect

from tasks.models import Task, TaskState
from tests.kits.agent_toml import executor_toml
from tests.kits.notes_host import phone, run_agent_ready, task_form
from tests.kits.phone import shot
from tests.kits.processes import wait_until
from tests.kits.xvfb import recorder, xvfb

pytestmark = pytest.mark.e2e

TEXT = "Watched from a phone, one key at a time. " * 20  # ~10 s of typing: the screen keeps changing


@pytest.fixture
def display():
    with xvfb() as server:
        yield server


def frame_of(page) -> str:
    return page.locator("#live-frame").get_attribute("src") or ""


def test_a_computer_task_is_watched_live_and_stopped(world, browser, tmp_path, artifacts, display):
    executors = executor_toml("desk", type="computer", label="Desktop", display=display.name, step_timeout=60)
    run_agent_ready(world, tmp_path, artifacts, executors)
    with recorder(display, tmp_path / "tk") as tk:
        page = phone(browser, world)
        task_form(page, world, "desk")
        entry = tk.layout["entry"]
        steps = [
            {"action": "screenshot"},
            {"action": "click", "x": entry[0], "y": entry[1]},
            {"action": "type", "text": TEXT[:2000]},
            {"action": "wait", "seconds": 60},
        ]
        page.get_by_label("Desktop steps").fill(json.dumps(steps))
        page.get_by_label("What should it do?").fill("Type while I watch")
        page.get_by_role("button", name="Send to studio").click()
        expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))

        # The screen shows and keeps changing while the agent types.
        live = page.locator("#live-view")
        expect(live).to_have_attribute("data-state", "live", timeout=20_000)
        expect(page.locator("#live-frame")).to_be_visible()
        first = frame_of(page)
        assert first.startswith("data:image/jpeg;base64,")
        wait_until(lambda: len(tk.text()) > 40, timeout=20, what="typing")
        expect(page.locator("#live-frame")).not_to_have_attribute("src", first, timeout=5_000)
        assert page.locator("#live-frame").evaluate("img => img.naturalWidth") == 780
        # The steps fill in while the task runs: the first two are done, the typing runs.
        expect(page.locator('#task-steps li[data-step="2"] .badge')).to_have_text("Done", timeout=10_000)
        expect(page.locator('#task-steps li[data-step="3"] .badge')).to_have_text("Running")
        expect(page.locator('#task-steps li[data-step="1"] img')).to_be_visible()
        assert page.locator("body").get_attribute("data-task-state") == "running"
        shot(page, artifacts, "01-watching-live")

        # Stop: the typing ends at once, the card says so and the frame is gone.
        page.locator("#live-stop").get_by_role("button", name="Stop").click()
        expect(page.locator('body[data-task-state="cancelled"]')).to_have_count(1, timeout=10_000)
        typed = len(tk.text())
        expect(live).to_have_attribute("data-state", "ended")
        expect(page.locator("#live-state")).to_have_text("Ended")
        expect(page.locator("#live-frame")).to_be_hidden()
        expect(live).to_contain_text("The task was stopped: the screen is no longer shown.")
        assert frame_of(page) == ""
        shot(page, artifacts, "02-stopped")
        assert 40 < typed < len(TEXT[:2000])
        # No input and no frame after the end: the text stays, the card stays empty.
        page.reload()
        expect(page.locator("#live-view")).to_have_count(0)
        assert len(tk.text()) == typed
    task = Task.objects.get()
    assert task.state == TaskState.CANCELLED
    assert [result["index"] for result in task.step_results][:2] == [0, 1]
