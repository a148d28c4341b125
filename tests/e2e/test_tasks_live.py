"""The heart of the product, end to end: on a phone, open a Markdown file
mirrored from a host, ask for a bulleted list, and watch the host's agent do
it. Real daphne, Celery worker (with Redis), agent and executor processes."""

import json

import pytest
from playwright.sync_api import Page, expect

from projects.models import Project
from tasks.models import Task
from tests.kits.agent_toml import BULLETS_TOML, executor_toml
from tests.kits.common import make_host, make_owner
from tests.kits.loopback import LoopbackServer, Reply, Request, json_reply
from tests.kits.notes_host import (
    BULLETED,
    BULLETIZED,
    FAST,
    NOTES,
    open_file,
    phone,
    run_agent,
    send_task,
    wait_mirrored,
)
from tests.kits.phone import shot
from tests.kits.processes import Hub, RedisServer, Worker, hub_env
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.e2e


def check_the_result(page: Page, other: Page, world, artifacts, prefix: str, expected: str) -> None:
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=20_000)
    expect(page.locator("#task-state")).to_have_text("Succeeded")
    expect(page.locator("#task-changes .dl.add").filter(has_text="+- Apples")).to_be_visible()
    expect(page.locator("#task-changes .dl.del").filter(has_text="-Apples")).to_be_visible()
    shot(page, artifacts, f"{prefix}-task")
    assert (world["root"] / "groceries.md").read_text() == expected
    # The other screen, open on the file all along, shows the list without a reload,
    # and a toast that the task is done.
    expect(other.locator("#file-body li")).to_have_text(["Apples", "Bread", "Coffee"], timeout=5_000)
    expect(other.locator(".toast")).to_contain_text("Done · Turn this into a bulleted list", timeout=10_000)
    shot(other, artifacts, f"{prefix}-file")
    task = Task.objects.get()
    assert task.state == "succeeded" and task.file_changes.get().path == "groceries.md"


def two_phones_on_the_file(browser, world):
    """Two phones open on groceries.md: (the one that sends the task, another watching)."""
    other = phone(browser, world)
    open_file(other, world)
    page = phone(browser, world)
    open_file(page, world)
    return page, other


def test_a_bulleted_list_from_the_phone(world, browser, tmp_path, artifacts):
    run_agent(world, tmp_path, artifacts, BULLETS_TOML)
    wait_mirrored(world)
    page, other = two_phones_on_the_file(browser, world)
    shot(page, artifacts, "01-file-with-form")
    expect(page.get_by_label("Run with")).to_contain_text("Bulletize (one file)")
    send_task(page, "bullets")
    expect(page.locator("#task-log")).to_contain_text("bulletized ./groceries.md: 3 items", timeout=20_000)
    check_the_result(page, other, world, artifacts, "02", BULLETIZED)
    page.goto(f"{world['hub'].url}/tasks/")
    expect(page.get_by_role("link", name="Turn this into a bulleted list")).to_be_visible()
    shot(page, artifacts, "03-task-list")
    page.goto(f"{world['hub'].url}/hosts/")
    expect(page.locator("#latest-tasks")).to_contain_text("Turn this into a bulleted list")
    shot(page, artifacts, "04-home")


class ChatCompletions(LoopbackServer):
    """Speaks OpenAI's chat-completions protocol: answers with the file as a list."""

    @property
    def requests(self) -> list[dict]:
        """Each request's JSON body with its path and Authorization."""
        with self.lock:
            received = list(self.received)
        return [{"path": r.path, "auth": r.headers.get("authorization"), **r.json()} for r in received]

    def answer(self, request: Request) -> Reply:
        reply = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": request.json()["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"```markdown\n{BULLETED}```"},
                    "finish_reason": "stop",
                }
            ],
        }
        return json_reply(reply)


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "sk-test-123")
    with ChatCompletions() as server:
        yield server


def test_the_same_with_an_openai_compatible_server(world, browser, tmp_path, artifacts, llm):
    executors = executor_toml(
        "local",
        type="openai",
        label="Local model",
        base_url=f"{llm.url}/v1",
        model="tiny-llm",
        api_key_env="TEST_LLM_KEY",
    )
    run_agent(world, tmp_path, artifacts, executors)
    wait_mirrored(world)
    page, other = two_phones_on_the_file(browser, world)
    send_task(page, "local")
    check_the_result(page, other, world, artifacts, "openai", BULLETED)
    (request,) = llm.requests
    assert request["path"] == "/v1/chat/completions" and request["model"] == "tiny-llm"
    assert request["auth"] == "Bearer sk-test-123"
    assert "Turn this into a bulleted list" in json.dumps(request["messages"])
    assert "sk-test-123" not in "".join(Task.objects.get().logs.values_list("text", flat=True))


COUNT_TOML = executor_toml(
    "count",
    type="command",
    label="Count to 1000",
    command=["/bin/sh", "-c", 'i=1; while [ $i -le 1000 ]; do echo "line $i"; i=$((i+1)); sleep 0.004; done'],
)


def test_the_page_shows_a_long_log_once_and_in_order_across_a_hub_restart(
    world, browser, tmp_path, artifacts
):
    """SECURITY.md 92 as a phone sees it: the hub restarts in the middle of 1,000 lines."""
    run_agent(world, tmp_path, artifacts, COUNT_TOML)
    wait_mirrored(world)
    project = world["host"].projects.get(name="notes")
    task = make_task(project, world["user"], executor="count", prompt="Count to a thousand")
    page = phone(browser, world)
    page.goto(f"{world['hub'].url}/tasks/{task.id}/")
    expect(page.locator("#task-log")).to_contain_text("line 20", timeout=20_000)
    world["hub"] = world["hub"].restarted()
    expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=40_000)
    expected = "".join(f"line {n}\n" for n in range(1, 1001))
    expect(page.locator("#task-log")).to_have_text(expected, timeout=10_000)
    shot(page, artifacts, "long-log")


def test_an_open_task_page_hears_the_end_after_a_redis_restart(
    transactional_db, browser, tmp_path, artifacts
):
    """SECURITY.md 91 on the phone: Redis restarts without saving (every group
    membership lost) while a task page is open; the page renews its groups
    (it pings every 20 s) and shows the task's end without a reload."""
    redis = RedisServer(artifacts)
    env = hub_env(**FAST, REDIS_URL=redis.url)
    processes = [Worker(env, artifacts), Hub(env, artifacts)]
    world = {"hub": processes[1], "agents": []}
    try:
        world["user"], team = make_owner("mia@example.com", "Mia's")
        world["host"], world["token"] = make_host(team, "studio")
        world["root"] = tmp_path / "notes"
        world["root"].mkdir()
        (world["root"] / "groceries.md").write_text(NOTES)
        project = Project.objects.create(host=world["host"], name="notes")
        task = make_task(project, world["user"], executor="bullets", target="groceries.md", prompt="List it")
        page = phone(browser, world)
        page.goto(f"{world['hub'].url}/tasks/{task.id}/")
        expect(page.locator('body[data-live="open"]')).to_have_count(1, timeout=10_000)
        expect(page.locator("#task-state")).to_have_text("Queued")
        redis = redis.restarted()
        run_agent(world, tmp_path, artifacts, BULLETS_TOML)  # the host comes online only now
        expect(page.locator('body[data-task-state="succeeded"]')).to_have_count(1, timeout=45_000)
        expect(page.locator("#task-log")).to_contain_text("bulletized ./groceries.md: 3 items")
    finally:
        for agent in world["agents"]:
            agent.stop()
        for process in processes:
            process.stop()
        redis.stop()
