"""A Codex thread end to end on a phone: a real hub, a real host agent running the pinned
Codex CLI (`codex app-server`) against a scripted Responses API on loopback. The phone sees
the thread's timeline, answers codex's approval, and codex edits the file."""

import pytest
from playwright.sync_api import Page, expect

from tasks.models import PermissionRequest, Task, TaskMessage
from tests.kits.notes_host import NOTES, open_file, phone, run_agent, send_task, wait_mirrored
from tests.kits.phone import shot, sideways
from tests.kits.responses_api import (
    CODEX,
    HOLD,
    ResponsesApi,
    apply_patch,
    codex_env,
    codex_toml,
    exec_command,
    message,
    reasoning,
)

pytestmark = pytest.mark.e2e

CODEX_TOML = codex_toml(idle_timeout=120, permission_timeout=120)
ADD_MILK = "*** Update File: groceries.md\n@@\n Bread\n Coffee\n+Milk\n"


def no_horizontal_scroll(page: Page) -> None:
    assert sideways(page) <= 0


def test_a_codex_thread_edits_the_file_after_the_phone_allows_it(world, browser, tmp_path, artifacts):
    assert CODEX.exists(), "run make install (it needs npm)"
    script = [[reasoning("The list needs milk."), apply_patch(ADD_MILK)], [message("Added **milk**.")]]
    with ResponsesApi(script) as api:
        run_agent(world, tmp_path, artifacts, CODEX_TOML, env=codex_env(tmp_path, api))
        wait_mirrored(world)
        page = phone(browser, world)
        open_file(page, world)
        send_task(page, "codex", "Add milk to the list")

        timeline = page.locator("#timeline")
        card = page.locator("[id^=permission-]")
        expect(card).to_contain_text("Edit groceries.md", timeout=30_000)
        expect(card).to_contain_text("+Milk")
        expect(timeline.locator('[data-kind="thought"]')).to_contain_text("The list needs milk.")
        expect(page.locator("#session-state")).to_have_text("Waiting for your answer")
        no_horizontal_scroll(page)
        shot(page, artifacts, "codex-01-approval")
        assert (world["root"] / "groceries.md").read_text() == NOTES

        card.get_by_role("button", name="Allow", exact=True).click()
        expect(timeline.locator('[data-kind="agent"]').last).to_contain_text("Added milk.", timeout=30_000)
        expect(page.locator("#session-state")).to_have_text("Waiting for your message")
        expect(timeline.locator('[data-kind="tool"]').filter(has_text="Edit groceries.md")).to_contain_text(
            "Completed"
        )
        expect(timeline).to_contain_text("Tokens: 300 this turn (240 in, 60 out)")  # two model calls
        assert (world["root"] / "groceries.md").read_text() == NOTES + "Milk\n"
        no_horizontal_scroll(page)
        shot(page, artifacts, "codex-02-edited")

        page.get_by_role("button", name="End session").click()
        expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=20_000)
        shot(page, artifacts, "codex-03-ended")
    task = Task.objects.get()
    assert (task.state, task.file_changes.get().path) == ("succeeded", "groceries.md")
    assert PermissionRequest.objects.get().option_id == "accept"


def test_the_phone_picks_a_model_and_effort_the_hosts_codex_offers(world, browser, tmp_path, artifacts):
    with ResponsesApi([[message("Done.")]]) as api:
        run_agent(world, tmp_path, artifacts, CODEX_TOML, env=codex_env(tmp_path, api))
        wait_mirrored(world)
        page = phone(browser, world)
        page.goto(f"{world['hub'].url}/tasks/new/?project={world['host'].projects.get().id}")
        page.get_by_label("What should it do?").fill("Say done")
        page.get_by_label("Run with").select_option(value="codex")
        model = page.get_by_label("Model")
        expect(model).to_be_visible()
        listed = [v for v in model.locator("option").evaluate_all("(os) => os.map((o) => o.value)") if v]
        assert listed, "the host's Codex listed no model"
        model.select_option(value=listed[0])
        page.get_by_label("Reasoning effort").select_option(value="high")
        no_horizontal_scroll(page)
        shot(page, artifacts, "codex-04-model")
        page.get_by_role("button", name="Send to studio").click()
        expect(page.locator("#task-model")).to_contain_text(f"{listed[0]} · high effort")
        expect(page.locator("#timeline [data-kind='agent']")).to_contain_text("Done.", timeout=30_000)
        [request] = api.requests()
    assert (request["model"], request["reasoning"]["effort"]) == (listed[0], "high")


def test_a_message_sent_during_a_turn_steers_it_and_stop_turn_interrupts(world, browser, tmp_path, artifacts):
    script = [[exec_command("printf hi > note.txt")], [message("Done, and noted.")], HOLD]
    with ResponsesApi(script) as api:
        run_agent(world, tmp_path, artifacts, CODEX_TOML, env=codex_env(tmp_path, api))
        wait_mirrored(world)
        page = phone(browser, world)
        open_file(page, world)
        send_task(page, "codex", "Write hi to note.txt")
        timeline = page.locator("#timeline")
        card = page.locator("[id^=permission-]")
        expect(card).to_contain_text("Run printf hi > note.txt", timeout=30_000)

        # Sent while the turn runs: codex takes it into the same turn (a steer), not the next one.
        page.locator("#followup textarea").fill("Also say so")
        page.locator("#followup").get_by_role("button", name="Send").click()
        steer = timeline.locator('[data-kind="user"]').filter(has_text="Also say so")
        expect(steer).to_have_count(1)
        expect(steer).not_to_contain_text("Waiting for the agent", timeout=20_000)
        shot(page, artifacts, "codex-05-steered")
        card.get_by_role("button", name="Allow", exact=True).click()
        expect(timeline.locator('[data-kind="agent"]').last).to_contain_text(
            "Done, and noted.", timeout=30_000
        )
        expect(page.locator("#session-state")).to_have_text("Waiting for your message")
        assert (world["root"] / "note.txt").read_text() == "hi"
        assert TaskMessage.objects.get().delivered_at is not None

        # The next turn hangs on the model: Stop turn interrupts it and the thread waits again.
        page.locator("#followup textarea").fill("Now think for a long time")
        page.locator("#followup").get_by_role("button", name="Send").click()
        expect(page.locator("#session-state")).to_have_text("Working…", timeout=20_000)
        page.get_by_role("button", name="Stop turn").click()
        expect(page.locator("#session-state")).to_have_text("Waiting for your message", timeout=20_000)
        expect(timeline.locator('[data-kind="notice"]').last).to_have_text("The turn was stopped.")
        no_horizontal_scroll(page)
        shot(page, artifacts, "codex-06-interrupted")
        page.get_by_role("button", name="End session").click()
        expect(page.locator('body[data-task-state="cancelled"]')).to_have_count(1, timeout=20_000)
        expect(page.locator("main")).to_contain_text("the last turn was interrupted")
        shot(page, artifacts, "codex-07-ended-interrupted")

        steered = api.requests()[1]
    user_texts = [
        part["text"]
        for item in steered["input"]
        if item.get("type") == "message" and item.get("role") == "user"
        for part in item["content"]
    ]
    assert "Also say so" in user_texts
    assert len(api.requests()) == 3  # the steer added no turn of its own
