"""A `codex exec --json` template on a phone: a real hub, a real host agent running the pinned
Codex CLI against a scripted Responses API on loopback. The task is no session, yet the page
shows what codex did in the conversation view as it arrives (reasoning folded, the command with
its output, the answer once, the token count), with no follow-up box; its stderr stays folded."""

import pytest
from playwright.sync_api import expect

from tasks.models import Task
from tests.kits.agent_toml import executor_toml
from tests.kits.notes_host import NOTES, open_file, phone, run_agent, send_task, wait_mirrored
from tests.kits.phone import shot
from tests.kits.responses_api import CODEX, ResponsesApi, codex_env, exec_command, message, reasoning

pytestmark = pytest.mark.e2e

ANSWER = "The list has **3 items**: bread, coffee and eggs."
# What a user writes for codex exec in a project that is no git repository, its commands
# allowed to write in it.
CODEX_EXEC = [str(CODEX), "exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", "-"]


def test_a_codex_exec_task_shows_its_events_as_a_conversation(world, browser, tmp_path, artifacts):
    assert CODEX.exists(), "run make install (it needs npm)"
    script = [
        [reasoning("Count the lines of the list."), exec_command("wc -l < groceries.md")],
        [message(ANSWER)],
    ]
    with ResponsesApi(script) as api:
        toml = executor_toml(
            "cx",
            label="Codex exec",
            command=CODEX_EXEC,
            stdin="prompt",
            output="codex-jsonl",
            env=["CODEX_HOME"],
            timeout=60,
        )
        run_agent(world, tmp_path, artifacts, toml, env=codex_env(tmp_path, api))
        wait_mirrored(world)
        page = phone(browser, world)
        open_file(page, world)
        send_task(page, "cx", "How many items are on the list?")

        conversation = page.locator("#conversation")
        expect(conversation).to_be_visible(timeout=30_000)  # hidden until the first entries came
        expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=30_000)
        check_conversation(page)
        shot(page, artifacts, "cli-01-conversation")

        page.reload()
        check_conversation(page)
        expect(page.locator("#task-output")).to_contain_text("Agent output")
        expect(page.locator("#task-output")).not_to_have_attribute("open", "")
        page.locator('[data-kind="tool"] summary').first.click()  # the command's output
        shot(page, artifacts, "cli-02-after-reload")
    task = Task.objects.get()
    assert (task.state, task.session_state, task.exit_code) == ("succeeded", "", 0)
    assert (world["root"] / "groceries.md").read_text() == NOTES


def check_conversation(page) -> None:
    timeline = page.locator("#timeline")
    expect(timeline.locator('[data-kind="agent"]')).to_have_count(1, timeout=10_000)
    expect(timeline.locator('[data-kind="agent"]')).to_have_text(
        "The list has 3 items: bread, coffee and eggs."
    )
    expect(page.get_by_text("bread, coffee and eggs")).to_have_count(1)  # the final answer, once
    expect(timeline.locator('[data-kind="thought"]')).to_contain_text("Count the lines of the list.")
    tool = timeline.locator('[data-kind="tool"]')
    expect(tool).to_contain_text("wc -l < groceries.md")
    expect(tool).to_contain_text("Completed")
    expect(timeline.locator('[data-kind="notice"]')).to_contain_text("Tokens: 240 in, 60 out.")
    expect(page.locator("#followup")).to_have_count(0)
    expect(page.locator("#session-state")).to_have_count(0)
