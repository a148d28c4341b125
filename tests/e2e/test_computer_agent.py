"""A computer task a model drives, from the phone: a goal in words goes to the host, whose agent
asks a local computer-use model server (the Responses API's computer_use_preview tool) and runs
its actions on a Tk program on Xvfb that records what reaches it. An action the host does not
offer waits on the task page until it is allowed from there; then the program has it."""

import re

import pytest
from playwright.sync_api import expect

from tasks.models import Task, TaskArtifact
from tests.kits import computer_model as cm
from tests.kits.agent_toml import executor_toml
from tests.kits.notes_host import phone, run_agent_ready, task_form
from tests.kits.phone import shot, sideways
from tests.kits.xvfb import recorder, xvfb

pytestmark = pytest.mark.e2e

GOAL = "Write milk from the phone in the recorder's field"
TYPED = "milk from the phone"


@pytest.fixture
def display():
    with xvfb() as server:
        yield server


def test_a_goal_from_the_phone_with_an_action_allowed_from_the_page(
    world, browser, tmp_path, artifacts, display
):
    with recorder(display, tmp_path / "tk") as tk:
        ex, ey = tk.layout["entry"]
        script = [[cm.click(ex, ey)], [cm.type_text(TYPED)], [cm.message("I wrote milk from the phone.")]]
        with cm.ComputerModel(script) as model:
            executors = executor_toml(
                "pilot",
                type="computer",
                label="Desktop pilot",
                display=display.name,
                base_url=f"{model.url}/v1",
                model="cua-test",
                api_key_env="CUA_TEST_KEY",
                actions=["screenshot", "click", "key"],  # type is not offered: it asks
                allowed_classes=["Tk"],
                step_timeout=10,
            )
            run_agent_ready(world, tmp_path, artifacts, executors, env={"CUA_TEST_KEY": "sk-e2e"})
            page = phone(browser, world)
            task_form(page, world, "pilot")
            expect(page.locator("[data-steps]")).to_be_hidden()  # a goal in words, no steps
            expect(page.get_by_text("A model drives the host's desktop toward this goal")).to_be_visible()
            page.get_by_label("What should it do?").fill(GOAL)
            shot(page, artifacts, "01-computer-goal")
            page.get_by_role("button", name="Send to studio").click()
            expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
            # The model's first action (a click) went through; the typing asks first.
            asking = page.locator(".tl.permission.pending")
            expect(asking).to_contain_text(
                f'type "{TYPED}": type is not among this host\'s actions', timeout=30_000
            )
            expect(page.locator(".tl.tool").first).to_contain_text(f"click {ex},{ey}")
            expect(page.locator(".tl.tool .action-shot img").first).to_be_visible()
            assert tk.text() == "" and tk.events("click") == []  # clicked the field only: nothing typed
            assert sideways(page) <= 0
            shot(page, artifacts, "02-computer-permission")
            asking.get_by_role("button", name="Allow").click()
            expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=30_000)
            expect(page.locator(".tl.agent")).to_contain_text("I wrote milk from the phone.")
            expect(page.locator(".tl.permission")).to_contain_text("chose Allow")
            expect(page.locator(".tl.tool .action-shot img")).to_have_count(2)
            shot(page, artifacts, "03-computer-goal-done")
        assert tk.text() == TYPED
        requests = model.requests()
    assert [o["call_id"] for r in requests[1:] for o in cm.call_outputs(r)] == ["call_1", "call_2"]
    task = Task.objects.get()
    assert task.model_drives and task.state == "succeeded"
    assert set(TaskArtifact.objects.filter(task=task).values_list("name", flat=True)) == {
        "action-1.png",
        "action-2.png",
    }
