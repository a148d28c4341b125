"""Agent sessions over ACP, end to end on a phone: a real hub (daphne, and a
Celery worker on Redis when CI sets REDIS_URL), a real host agent, and a real
ACP agent process (tests/bin/acp_agent.py, written on the same library) that
reads a file, asks before it edits, and writes through the host agent."""

import re
import sys

import pytest
from playwright.sync_api import Page, expect

from tasks.models import PermissionRequest, Task, TaskMessage
from tests.kits.agent_toml import executor_toml
from tests.kits.notes_host import NOTES, open_file, phone, run_agent, wait_mirrored
from tests.kits.phone import shot, sideways
from tests.kits.processes import ROOT

pytestmark = pytest.mark.e2e

ACP_TOML = executor_toml(
    "helper",
    type="acp",
    label="Test agent",
    command=[sys.executable, str(ROOT / "tests" / "bin" / "acp_agent.py")],
    idle_timeout=120,
    permission_timeout=120,
    timeout=60,
)
ADD_MILK = "plan: Read the list | Add milk\nread groceries.md\nedit groceries.md += Milk\nsay Added milk."


def start_session(page: Page, prompt: str) -> None:
    page.get_by_text("Ask the host to change this file").click()
    page.get_by_label("What should it do?").fill(prompt)
    page.get_by_label("Run with").select_option(value="helper")
    page.get_by_role("button", name="Send to studio").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))


def permission_card(page: Page):
    card = page.locator("[id^=permission-]")
    expect(card).to_contain_text("Edit groceries.md", timeout=20_000)
    return card


def no_horizontal_scroll(page: Page) -> None:
    assert sideways(page) <= 0


def test_a_session_asks_before_it_edits_and_the_phone_allows_it(world, browser, tmp_path, artifacts):
    run_agent(world, tmp_path, artifacts, ACP_TOML)
    wait_mirrored(world)
    other = phone(browser, world)
    open_file(other, world)  # a second screen on the file, to see the mirror follow
    page = phone(browser, world)
    open_file(page, world)
    start_session(page, ADD_MILK)

    timeline = page.locator("#timeline")
    plan = timeline.locator('[data-kind="plan"]')
    expect(plan).to_contain_text("Read the list", timeout=20_000)
    expect(plan).to_contain_text("Add milk")
    expect(timeline.locator('[data-kind="tool"]').filter(has_text="Read groceries.md")).to_contain_text(
        "Completed", timeout=10_000
    )
    card = permission_card(page)
    expect(card).to_contain_text("+Milk")  # the diff the agent proposes
    expect(page.locator("#session-state")).to_have_text("Waiting for your answer")
    expect(other.locator(".toast")).to_contain_text("Agent asks: Edit groceries.md", timeout=10_000)
    no_horizontal_scroll(page)
    shot(page, artifacts, "acp-01-permission")
    assert (world["root"] / "groceries.md").read_text() == NOTES  # nothing written before the answer

    card.get_by_role("button", name="Allow once").click()
    expect(timeline.locator('[data-kind="agent"]').last).to_contain_text("Added milk.", timeout=20_000)
    expect(page.locator("#session-state")).to_have_text("Waiting for your message")
    expect(other.locator(".toast").filter(has_text="Your turn")).to_be_visible(timeout=10_000)
    assert (world["root"] / "groceries.md").read_text() == NOTES + "Milk\n"
    expect(other.locator("#file-body")).to_contain_text("Milk", timeout=10_000)  # the mirror, live
    expect(page.locator("[id^=permission-]")).to_contain_text("Allow once")  # what was chosen
    shot(page, artifacts, "acp-02-answered")

    page.get_by_role("button", name="End session").click()
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=20_000)
    expect(page.locator("#session-state")).to_have_text("Ended")
    expect(timeline.locator("#task-changes")).to_contain_text("groceries.md")  # after the conversation
    no_horizontal_scroll(page)
    shot(page, artifacts, "acp-03-ended")
    task = Task.objects.get()
    assert task.state == "succeeded"
    assert task.file_changes.get().path == "groceries.md"
    assert PermissionRequest.objects.get().option_id == "allow"


def test_a_rejected_edit_leaves_the_file_alone(world, browser, tmp_path, artifacts):
    run_agent(world, tmp_path, artifacts, ACP_TOML)
    wait_mirrored(world)
    page = phone(browser, world)
    open_file(page, world)
    start_session(page, ADD_MILK)

    permission_card(page).get_by_role("button", name="Reject").click()
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Left groceries.md unchanged.", timeout=20_000)
    expect(timeline.locator('[data-kind="tool"]').filter(has_text="Edit groceries.md")).to_contain_text(
        "Failed"
    )
    assert (world["root"] / "groceries.md").read_text() == NOTES

    # The conversation goes on: a follow-up, answered in the next turn.
    page.locator("#followup textarea").fill("say Fine, no milk then.")
    page.locator("#followup").get_by_role("button", name="Send").click()
    expect(timeline.locator('[data-kind="user"]').last).to_contain_text("say Fine, no milk then.")
    expect(timeline.locator('[data-kind="agent"]').last).to_contain_text(
        "Fine, no milk then.", timeout=20_000
    )
    shot(page, artifacts, "acp-04-rejected-then-follow-up")
    assert TaskMessage.objects.get().delivered_at is not None
    assert (world["root"] / "groceries.md").read_text() == NOTES


def test_a_follow_up_sent_while_the_agent_works_is_delivered_once_after_the_turn(
    world, browser, tmp_path, artifacts
):
    run_agent(world, tmp_path, artifacts, ACP_TOML)
    wait_mirrored(world)
    page = phone(browser, world)
    open_file(page, world)
    release = world["root"] / "go.txt"
    start_session(page, f"hold {release}\nsay First turn done.")
    expect(page.locator("#session-state")).to_have_text("Working…", timeout=20_000)

    page.locator("#followup textarea").fill("say Second turn.")
    page.locator("#followup").get_by_role("button", name="Send").click()
    timeline = page.locator("#timeline")
    expect(timeline.locator("[data-message]")).to_contain_text("Waiting for the agent")
    shot(page, artifacts, "acp-05-queued")
    message = TaskMessage.objects.get()
    assert message.delivered_at is None  # the agent is still busy with the first turn

    release.write_text("go\n")
    agent_texts = timeline.locator('[data-kind="agent"]')
    expect(agent_texts).to_have_count(2, timeout=20_000)
    expect(agent_texts).to_have_text(["First turn done.", "Second turn."])
    expect(timeline.locator('[data-kind="user"]').filter(has_text="say Second turn.")).to_have_count(1)
    expect(page.locator("#session-state")).to_have_text("Waiting for your message")
    message.refresh_from_db()
    assert message.delivered_at is not None
    task = Task.objects.get()
    assert task.items.filter(kind="user", data__message_id=message.id).count() == 1


def test_an_agent_dying_mid_turn_fails_the_task_with_its_last_output(world, browser, tmp_path, artifacts):
    run_agent(world, tmp_path, artifacts, ACP_TOML)
    wait_mirrored(world)
    page = phone(browser, world)
    open_file(page, world)
    start_session(page, "say Starting.\ndie 3")

    expect(page.locator('body[data-task-state="failed"]')).to_have_count(1, timeout=20_000)
    expect(page.locator(".task-error")).to_contain_text("exited with code 3")
    expect(page.locator('#timeline [data-kind="agent"]')).to_contain_text("Starting.")
    page.get_by_text("Agent output").click()
    expect(page.locator("#task-log")).to_contain_text("dying on purpose")
    expect(page.locator("#followup")).to_be_hidden()  # nothing to send to a dead session
    shot(page, artifacts, "acp-06-died")
    assert Task.objects.get().state == "failed"
