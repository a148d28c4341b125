"""Desktop steps pointed on the phone (390x844): "Pick on screen" under a click or a drag opens the
newest screenshot of the host's screen (Xvfb with the Tk recorder, taken by a real computer task),
and a tap fills x and y in the screenshot's own pixels, whether the phone shows it shrunk to fit
or at its actual size; the task sent with them clicks and drags where the taps were."""

import json
import math
import re

import pytest
from playwright.sync_api import Page, expect

from tasks.models import Task
from tests.kits.agent_toml import executor_toml
from tests.kits.notes_host import phone, run_agent_ready, task_form
from tests.kits.phone import shot
from tests.kits.xvfb import recorder, xvfb

pytestmark = pytest.mark.e2e

# Each tap's offset on the image and the image's shown size, as the page's click saw them (capture:
# before the picker's own listener fills the fields).
RECORD_TAPS = """img => { window.taps = []; img.addEventListener("click", (e) => {
  const r = img.getBoundingClientRect();
  window.taps.push([e.clientX - r.left, e.clientY - r.top, r.width, r.height]);
}, { capture: true }); }"""


@pytest.fixture
def display():
    with xvfb() as server:
        yield server


def send(page: Page, prompt: str) -> None:
    page.get_by_label("What should it do?").fill(prompt)
    page.get_by_role("button", name="Send to studio").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=40_000)


def phone_shot(page: Page, artifacts, name: str, picker) -> None:
    """The page (nothing wider than the phone), and the phone's screen with the picker in its middle."""
    shot(page, artifacts, name)
    picker.evaluate("panel => panel.scrollIntoView({ block: 'center' })")
    page.screenshot(path=str(artifacts / f"{name}-picker.png"))


def step_point(page: Page, n: int, fields=("x", "y")) -> list[int]:
    return [int(page.get_by_label(f"Step {n} {field}").input_value()) for field in fields]


def expected_pixel(tap: list[float], natural=(1024, 768)) -> list[int]:
    """The screenshot's pixel under a tap: its offset scaled by natural over shown size, rounded."""
    offset_x, offset_y, width, height = tap
    return [
        min(natural[0] - 1, math.floor(offset_x * natural[0] / width + 0.5)),
        min(natural[1] - 1, math.floor(offset_y * natural[1] / height + 0.5)),
    ]


def test_a_click_and_a_drag_picked_on_the_hosts_screenshot(world, browser, tmp_path, artifacts, display):
    executors = executor_toml("desk", type="computer", label="Desktop", display=display.name, step_timeout=10)
    run_agent_ready(world, tmp_path, artifacts, executors)
    with recorder(display, tmp_path / "tk") as tk:
        page = phone(browser, world)
        task_form(page, world, "desk")
        page.get_by_role("button", name="Add a step").click()
        page.get_by_label("Step 1 action").select_option("click")
        page.get_by_role("button", name="Pick on screen").click()
        picker = page.get_by_role("group", name="Pick on screen for step 1")
        expect(picker).to_contain_text("No screenshot of studio's screen through Desktop yet")
        expect(picker).to_contain_text("send a task to it with a screenshot step")
        expect(picker.get_by_role("button", name="Actual size")).to_be_hidden()
        phone_shot(page, artifacts, "01-no-screenshot-yet", picker)

        # As it says: a task that takes a screenshot.
        page.get_by_label("Step 1 action").select_option("screenshot")
        expect(picker).to_have_count(0)  # the rows were rebuilt
        send(page, "Look at the screen")
        first = Task.objects.get()

        page.goto(f"{world['hub'].url}/projects/")
        page.get_by_role("link", name="notes").click()
        page.get_by_text("Send a task").click()
        page.get_by_label("Run with").select_option(value="desk")
        page.get_by_role("button", name="Add a step").click()
        page.get_by_label("Step 1 action").select_option("click")
        page.get_by_role("button", name="Add a step").click()
        page.get_by_label("Step 2 action").select_option("drag")
        page.get_by_role("button", name="Pick on screen").first.click()
        picker = page.get_by_role("group", name="Pick on screen for step 1")
        image = picker.get_by_role("img")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])") == [
            1024,
            768,
        ]
        assert image.get_attribute("src") == f"/tasks/{first.id}/artifacts/step-0.png"
        expect(picker).to_contain_text(f"Taken just now by task #{first.id}")
        expect(picker).to_contain_text("Step 1: tap where to click.")
        box = image.bounding_box()
        assert box["width"] < 390 and abs(box["width"] / box["height"] - 1024 / 768) < 0.01  # shrunk to fit
        image.evaluate(RECORD_TAPS)

        # Tap the recorder's button where the phone shows it.
        button = tk.layout["button"]
        image.tap(position={"x": button[0] * box["width"] / 1024, "y": button[1] * box["height"] / 768})
        expect(picker.locator(".screen-marker:visible")).to_have_count(1)
        clicked = step_point(page, 1)
        assert clicked == expected_pixel(page.evaluate("window.taps[0]"))  # scaled, in screen pixels
        scale = 1024 / box["width"]
        assert abs(clicked[0] - button[0]) <= scale and abs(clicked[1] - button[1]) <= scale
        expect(picker).to_contain_text(f"At {clicked[0]}, {clicked[1]} of 1024×768. Tap again to change it.")
        phone_shot(page, artifacts, "02-picked-click", picker)
        picker.get_by_role("button", name="Done").click()
        expect(picker).to_have_count(0)

        # The drag at the screenshot's actual size (scrolled sideways inside its frame): start, then end.
        page.get_by_role("button", name="Pick on screen").nth(1).click()
        picker = page.get_by_role("group", name="Pick on screen for step 2")
        image = picker.get_by_role("img")
        expect(picker).to_contain_text("Step 2: tap where the drag starts, then where it ends.")
        picker.get_by_role("button", name="Actual size").click()
        expect(picker.get_by_role("button", name="Fit to screen")).to_be_visible()
        assert image.evaluate("img => img.getBoundingClientRect().width") == 1024
        image.evaluate(RECORD_TAPS)
        left, top, right, bottom = tk.layout["canvas"]
        start, end = [left + 15, top + 20], [right - 40, bottom - 25]
        frame = picker.locator("[data-screen-frame]")
        frame.evaluate("frame => { frame.scrollLeft = 0; frame.scrollTop = 0; }")
        image.tap(position={"x": start[0], "y": start[1]})
        expect(picker).to_contain_text(re.compile(r"Starts at \d+, \d+\. Now tap where it ends\."))
        image.tap(position={"x": end[0], "y": end[1]})
        taps = page.evaluate("window.taps")
        assert step_point(page, 2) == expected_pixel(taps[0])
        assert step_point(page, 2, ("to_x", "to_y")) == expected_pixel(taps[1])
        assert abs(step_point(page, 2)[0] - start[0]) <= 1 and abs(step_point(page, 2)[1] - start[1]) <= 1
        expect(picker.locator(".screen-marker:visible")).to_have_count(2)
        expect(picker).to_contain_text("Tap again to start over.")
        phone_shot(page, artifacts, "03-picked-drag-actual-size", picker)
        picker.get_by_role("button", name="Fit to screen").click()
        phone_shot(page, artifacts, "04-picked-drag-fit", picker)

        # Typing still works beside it: the JSON carries what was picked.
        steps = json.loads(page.get_by_label("Desktop steps").input_value())
        dragged = step_point(page, 2) + step_point(page, 2, ("to_x", "to_y"))
        assert steps == [
            {"action": "click", "x": clicked[0], "y": clicked[1]},
            {"action": "drag", "x": dragged[0], "y": dragged[1], "to_x": dragged[2], "to_y": dragged[3]},
        ]
        send(page, "Press it and drag")
        task = Task.objects.exclude(id=first.id).get()
        assert task.steps == steps
        assert tk.events("click") == [{"event": "click", "button": "Press me"}]
        assert tk.events("drag") == [{"event": "drag", "start": dragged[:2], "end": dragged[2:]}]
