"""On a phone: a command that prints ANSI colours shows them as colours in the task log, live as
the pieces arrive (one escape sequence cut between two of them) and after a reload, never a
raw escape; and the host page says what each executor gets from the agent's environment.
Real daphne, Celery worker, agent and a shell printing the colours."""

import pytest
from playwright.sync_api import expect

from tests.kits.agent_toml import executor_toml
from tests.kits.notes_host import phone, run_agent, wait_mirrored
from tests.kits.phone import shot
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.e2e

# Each printf its own piece (the agent sends at most every 0.2 s); the red one's "\033[3" and
# "1m" go out apart. The go-file holds it until the page is open, so the page sees it live.
SCRIPT = (
    'while [ ! -e "$1" ]; do sleep 0.05; done; '
    r"printf '\033[32mPASS\033[0m test_lists\n'; sleep 0.4; "
    r"printf '\033[3'; sleep 0.4; printf '1;1mFAIL\033[0m test_bullets\n'; sleep 0.4; "
    r"printf '\033[33mwarning\033[0m: \033]8;;javascript:alert(1)\033\\see the docs\033]8;;\033\\ \033[2K\r"
    r"\033[1;34m2 passed\033[0m, 1 failed\n'"
)


def colours_toml(go) -> str:
    return executor_toml(
        "pytest",
        type="command",
        label="Run the tests",
        command=["/bin/sh", "-c", SCRIPT, "sh", str(go)],
        env=["TEST_REPORT_TOKEN"],
    ) + executor_toml("codex", type="command", template="codex", label="Codex CLI")


def test_colours_in_the_task_log_live_and_after_a_reload(world, browser, tmp_path, artifacts):
    go = tmp_path / "go"
    home = tmp_path / "home"  # no ~/.codex: Codex has no key, no config, no sign-in
    home.mkdir()
    env = {"HOME": str(home), "TEST_REPORT_TOKEN": "secret-value", "OPENAI_API_KEY": "", "CODEX_HOME": ""}
    run_agent(world, tmp_path, artifacts, colours_toml(go), env=env)
    wait_mirrored(world)
    project = world["host"].projects.get(name="notes")
    task = make_task(
        project, world["user"], executor="pytest", executor_label="Run the tests", prompt="Run the tests"
    )
    page = phone(browser, world)
    page.goto(f"{world['hub'].url}/tasks/{task.id}/")
    expect(page.locator('body[data-live="open"]')).to_have_count(1, timeout=10_000)
    go.touch()
    log = page.locator("#task-log")
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=30_000)
    expect(log).to_contain_text("2 passed, 1 failed", timeout=10_000)
    check_colours(page)
    shot(page, artifacts, "01-live-colours")
    page.reload()
    check_colours(page)
    shot(page, artifacts, "02-colours-after-reload")
    page.goto(f"{world['hub'].url}/hosts/{world['host'].id}/")
    environment = page.locator("#environment")
    expect(environment).to_contain_text("Run the tests Passes TEST_REPORT_TOKEN.")
    expect(environment).to_contain_text("Codex CLI Needs one of OPENAI_API_KEY, CODEX_API_KEY, CODEX_HOME")
    expect(page.locator("body")).not_to_contain_text("secret-value")
    shot(page, artifacts, "03-host-environment")


def check_colours(page) -> None:
    log = page.locator("#task-log")
    expect(log).to_have_text(
        "PASS test_lists\nFAIL test_bullets\nwarning: see the docs \n2 passed, 1 failed\n", timeout=10_000
    )
    expect(log.locator("span.ansi32")).to_have_text("PASS")
    expect(log.locator("span.ansi31.ansi1")).to_have_text("FAIL")
    expect(log.locator("span.ansi1.ansi34")).to_have_text("2 passed")
    expect(log.locator("a")).to_have_count(0)
    green = log.locator("span.ansi32").evaluate("e => getComputedStyle(e).color")
    plain = log.evaluate("e => getComputedStyle(e).color")
    assert green != plain, "the green word is coloured"
    assert "\x1b" not in log.inner_html() and "[3" not in log.inner_text()
