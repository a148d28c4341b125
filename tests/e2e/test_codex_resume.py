"""Codex threads resumed from a phone: a real hub, a real host agent running the pinned Codex
CLI against a scripted Responses API. A finished thread is resumed from its task page after
the agent restarted, then found on the host's Codex threads page and continued again; each
time the model gets the thread's whole history."""

import os
import re
import subprocess

import pytest
from playwright.sync_api import expect

from tasks.models import Task
from tests.kits.agent_toml import executor_toml
from tests.kits.notes_host import open_file, phone, run_agent, send_task, wait_mirrored
from tests.kits.phone import shot
from tests.kits.responses_api import CODEX, ResponsesApi, codex_env, codex_toml, message

pytestmark = pytest.mark.e2e

CODEX_TOML = codex_toml(idle_timeout=120) + executor_toml(  # a second codex: its own threads
    "codex-b", type="codex", label="Codex B", command=[str(CODEX), "app-server"], timeout=30
)


def said(request) -> list[str]:
    """The user and assistant texts the model got, without codex's own context."""
    return [
        part["text"]
        for item in request["input"]
        if item.get("type") == "message" and item.get("role") in ("user", "assistant")
        for part in item["content"]
        if not part["text"].startswith("<")
    ]


def test_a_thread_is_resumed_after_a_restart_and_from_the_hosts_threads(world, browser, tmp_path, artifacts):
    assert CODEX.exists(), "run make install (it needs npm)"
    script = [[message("Bread and coffee.")], [message("Milk is **added**.")], [message("Eggs too.")]]
    with ResponsesApi(script) as api:
        agent = run_agent(world, tmp_path, artifacts, CODEX_TOML, env=codex_env(tmp_path, api))
        wait_mirrored(world)
        page = phone(browser, world)
        open_file(page, world)
        send_task(page, "codex", "What is on the list?")
        timeline = page.locator("#timeline")
        expect(timeline.locator('[data-kind="agent"]').last).to_contain_text(
            "Bread and coffee.", timeout=30_000
        )
        page.get_by_role("button", name="End session").click()
        expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=20_000)
        first = Task.objects.get()
        assert first.thread_id

        agent.stop()  # the agent restarts: the thread lives on in codex's own store
        run_agent(world, tmp_path, artifacts, CODEX_TOML, env=codex_env(tmp_path, api))
        page.reload()
        expect(page.locator("#task-thread")).to_contain_text(first.thread_id[:8])
        page.get_by_role("link", name="Resume this Codex thread").click()
        page.get_by_label("What should Codex do next?").fill("Add milk")
        shot(page, artifacts, "resume-01-task-page")
        page.get_by_role("button", name="Resume", exact=True).click()
        expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
        expect(page.locator("#timeline [data-kind=agent]").last).to_contain_text(
            "Milk is added.", timeout=30_000
        )
        expect(page.locator("#task-thread")).to_contain_text(f"task {first.id}")
        shot(page, artifacts, "resume-02-resumed")
        page.get_by_role("button", name="End session").click()
        expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=20_000)

        page.goto(f"{world['hub'].url}/hosts/{world['host'].id}/codex/")
        expect(page.locator("#codex-executors a[aria-current=page]")).to_have_text("Codex")
        expect(page.locator("#codex-executors a")).to_have_text(["Codex", "Codex B"])
        row = page.locator(f'#codex-threads li[data-thread="{first.thread_id}"]')
        expect(row).to_contain_text("What is on the list?", timeout=30_000)
        expect(row).to_contain_text("notes")
        shot(page, artifacts, "resume-03-host-threads")
        row.locator("summary").click()
        row.get_by_label("What should Codex do next?").fill("And eggs")
        shot(page, artifacts, "resume-04-host-thread-form")
        row.get_by_role("button", name="Resume").click()
        expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))
        expect(page.locator("#timeline [data-kind=agent]").last).to_contain_text("Eggs too.", timeout=30_000)
        page.get_by_role("button", name="End session").click()
        expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=20_000)

    second, third = api.requests()[1:]
    asked, answered, followed = said(second)[-3:]
    assert asked.startswith("What is on the list?\n\nTarget file: ") and asked.endswith("/groceries.md")
    assert (answered, followed) == ("Bread and coffee.", "Add milk")
    assert said(third)[-3:] == ["Add milk", "Milk is **added**.", "And eggs"]
    tasks = list(Task.objects.order_by("id"))
    assert [t.thread_id for t in tasks] == [first.thread_id] * 3
    assert [t.resumed_from_id for t in tasks] == [None, first.id, tasks[1].id]


def test_a_thread_started_at_the_desk_is_listed_and_continued_from_the_phone(
    world, browser, tmp_path, artifacts
):
    script = [[message("Desk answer.")], [message("Carried on.")]]
    with ResponsesApi(script) as api:
        env = codex_env(tmp_path, api)
        desk = subprocess.run(  # the user at the desk, in the shared folder, with the same codex
            [str(CODEX), "exec", "--skip-git-repo-check", "Desk question"],
            cwd=world["root"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert desk.returncode == 0, desk.stderr[-2000:]
        run_agent(world, tmp_path, artifacts, CODEX_TOML, env=env)
        wait_mirrored(world)
        page = phone(browser, world)
        page.goto(f"{world['hub'].url}/hosts/{world['host'].id}/codex/")
        row = page.locator("#codex-threads li").filter(has_text="Desk question")
        expect(row).to_contain_text("exec", timeout=30_000)
        expect(row.get_by_role("link", name="notes")).to_be_visible()
        shot(page, artifacts, "desk-01-listed")
        row.locator("summary").click()
        row.get_by_label("What should Codex do next?").fill("Carry on")
        row.get_by_role("button", name="Resume").click()
        expect(page.locator("#timeline [data-kind=agent]").last).to_contain_text(
            "Carried on.", timeout=30_000
        )
        shot(page, artifacts, "desk-02-continued")
        page.get_by_role("button", name="End session").click()
        expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=20_000)

    assert said(api.requests()[1])[-3:] == ["Desk question", "Desk answer.", "Carry on"]
    task = Task.objects.get()
    assert task.resume_thread == task.thread_id and task.resumed_from is None
