"""A host sharing `notes/groceries.md`, for the phone e2e tests that run a real agent: the
hub with a worker (`notes_world`, which tests/e2e/conftest.py serves as the `world` fixture),
the agent with the executors a test gives, and the phone's steps to the file and its task."""

import contextlib
import re

from playwright.sync_api import Page, expect

from devices.models import Host
from projects.models import Entry
from tests.kits.agent_toml import task_agent_config
from tests.kits.common import make_host, make_owner
from tests.kits.phone import PHONE, sign_in
from tests.kits.processes import Agent, hub_env, hub_with_worker, wait_until

NOTES = "# Groceries\n\nApples\nBread\nCoffee\n"
BULLETED = "# Groceries\n\n- Apples\n- Bread\n- Coffee\n"
BULLETIZED = "# Groceries\n- Apples\n- Bread\n- Coffee\n"  # tests/bin/bulletize drops blank lines
FAST = {
    "HOST_HEARTBEAT_INTERVAL": "0.5",
    "HOST_HEARTBEAT_TIMEOUT": "2",
    "TASK_SWEEP_INTERVAL": "0.5",
    "TASK_ACK_TIMEOUT": "2",
}


@contextlib.contextmanager
def notes_world(tmp_path, artifacts):
    """A hub, a team with one owner, and a host sharing `notes/` (agent not started)."""
    with hub_with_worker(hub_env(**FAST), artifacts) as hub:
        user, team = make_owner("mia@example.com", "Mia's")
        host, token = make_host(team, "studio")
        root = tmp_path / "notes"
        root.mkdir()
        (root / "groceries.md").write_text(NOTES)
        world = {"hub": hub, "user": user, "host": host, "token": token, "root": root, "agents": []}
        try:
            yield world
        finally:
            for agent in world["agents"]:
                agent.stop()


def run_agent(world, tmp_path, artifacts, executors: str, env: dict[str, str] | None = None) -> Agent:
    """The host agent of `world`, offering `executors` (agent.toml's text), with `env` added to
    a workstation's environment."""
    config = task_agent_config(
        tmp_path / "agent" / "agent.toml",
        hub=world["hub"].url,
        host=world["host"],
        token=world["token"],
        projects={"notes": world["root"]},
        executors=executors,
    )
    agent = Agent(config, "run", log_dir=artifacts, env=env)
    world["agents"].append(agent)
    return agent


def run_agent_ready(world, tmp_path, artifacts, executors: str, env: dict[str, str] | None = None) -> Agent:
    """run_agent, once the hub has the host's notes project and its executors."""
    agent = run_agent(world, tmp_path, artifacts, executors, env)
    wait_until(
        lambda: world["host"].projects.filter(name="notes").exists()
        and type(world["host"]).objects.get(id=world["host"].id).executors,
        timeout=20,
        what="the host's project and executors",
    )
    return agent


def task_form(page: Page, world, executor: str) -> None:
    """The notes project's task form on the phone, with `executor` chosen."""
    page.goto(f"{world['hub'].url}/projects/")
    page.get_by_role("link", name="notes").click()
    page.get_by_label("Run with").select_option(value=executor)


def open_file(page: Page, world) -> None:
    page.goto(f"{world['hub'].url}/projects/")
    page.get_by_role("link", name="notes").click()
    page.get_by_role("tree").get_by_role("link", name="groceries.md").click()
    expect(page.locator("#file-body h1")).to_have_text("Groceries", timeout=10_000)
    expect(page.locator('body[data-live="open"]')).to_have_count(1, timeout=10_000)


def send_task(page: Page, executor: str, prompt: str = "Turn this into a bulleted list") -> None:
    """From the file page open on the phone: the task form, filled and sent; its page next."""
    page.get_by_text("Ask the host to change this file").click()
    page.get_by_label("What should it do?").fill(prompt)
    page.get_by_label("Run with").select_option(value=executor)
    page.get_by_role("button", name="Send to studio").click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+/$"))


def phone(browser, world) -> Page:
    page = browser.new_context(**PHONE).new_page()
    sign_in(page, world["hub"].url, world["user"])
    return page


def wait_mirrored(world) -> None:
    host_id = world["host"].id
    wait_until(
        lambda: Entry.objects.filter(project__host_id=host_id, path="groceries.md").exists()
        and Host.objects.get(id=host_id).executors,
        timeout=20,
        what="the host to share notes and offer its executors",
    )
