"""An agent session on a phone, in Chromium: a scripted host sends a timeline
of every kind over a real /ws/host/ link, the page follows it live, a tap
answers the permission request and the composer sends a follow-up. Nothing the
host sent runs, and the page never scrolls sideways."""

import json
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from tasks.models import Task
from tests.e2e.conftest import PHONE, off_the_loop
from tests.kits.common import make_host, make_owner
from tests.kits.phone import shot, sign_in
from tests.kits.sessions import ALLOW, ALWAYS, DIFF, EXECUTORS, REJECT, make_session
from tests.kits.task_stream import offering, shared_project

pytestmark = pytest.mark.e2e

HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
AGENT_TEXT = (
    "I'll tidy the README. First the **headings**, then the list:\n\n"
    "1. Merge the two intro paragraphs\n2. Turn the notes into `- bullets`\n\n"
    f"Hostile text stays text: {HOSTILE}"
)
TOOL_OUTPUT = "$ pytest -q\n" + "test_readme.py::test_links PASSED " * 6 + "\n2 passed in 0.12s"


def _session():
    user, team = make_owner("ada@example.com", "Ada's")
    host, token = make_host(team, "studio")
    project = shared_project(offering(host, *EXECUTORS), files=("README.md", "notes.md"))
    task = make_session(project, user, session_state="working", prompt="Tidy the README and its notes")
    return user, task, token


@pytest.fixture
def session(transactional_db):
    return off_the_loop(_session)


class ScriptedHost:
    """A host link that sends the agent's side of a session and reads the hub's."""

    def __init__(self, socket):
        self.socket = socket
        assert self.receive()["type"] == "welcome"
        self.seq = 0

    def receive(self) -> dict:
        return json.loads(self.socket.recv(timeout=10))

    def send(self, kind: str, payload: dict) -> None:
        self.seq += 1
        self.socket.send(json.dumps({"type": kind, "stream": "tasks", "seq": self.seq, "payload": payload}))
        ack = self.receive()
        assert ack == {"type": "ack", "stream": "tasks", "seq": self.seq}, ack

    def item(self, task_id: int, key: str, kind: str, **data) -> None:
        self.send("task.item", {"task_id": task_id, "key": key, "kind": kind, "data": data})


@contextmanager
def scripted_host(hub_url: str, token: str):
    url = hub_url.replace("http://", "ws://") + "/ws/host/"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        yield ScriptedHost(socket)


def every_kind(host: ScriptedHost, task_id: int) -> None:
    host.item(task_id, "user:0", "user", text="Tidy the README and its notes", message_id=None)
    host.item(
        task_id, "thought:1", "thought", text="The README has two intros; the notes are a wall of text."
    )
    host.item(task_id, "agent:1", "agent", text=AGENT_TEXT)
    plan = [
        {"content": "Read README.md and notes.md", "status": "completed", "priority": "medium"},
        {"content": "Merge the intro paragraphs", "status": "in_progress", "priority": "high"},
        {"content": "Bullet the notes", "status": "pending", "priority": "medium"},
    ]
    host.item(task_id, "plan", "plan", entries=plan)
    host.item(
        task_id, "tool:read", "tool", title="Read README.md", tool_kind="read", status="completed",
        locations=["README.md"],
    )  # fmt: skip
    host.item(
        task_id, "tool:test", "tool", title=f"Run pytest -q {HOSTILE}", tool_kind="execute", status="failed",
        text=TOOL_OUTPUT,
    )  # fmt: skip
    host.item(
        task_id, "tool:edit", "tool", title="Edit notes.md", tool_kind="edit", status="in_progress",
        locations=["notes.md"], diffs=[{"path": "notes.md", "diff": DIFF}],
    )  # fmt: skip
    host.item(
        task_id, "notice:1", "notice", text="refused to write /etc/hosts: outside the project", level="error"
    )
    host.send(
        "task.permission",
        {
            "task_id": task_id, "request_id": "p1", "title": "Edit notes.md", "tool_kind": "edit",
            "locations": ["notes.md"], "diffs": [{"path": "notes.md", "diff": DIFF}],
            "options": [ALLOW, ALWAYS, REJECT], "on_timeout": "reject", "timeout": 600,
        },
    )  # fmt: skip


def test_a_session_on_a_phone(hub, session, browser, artifacts):
    user, task, token = session
    page = browser.new_context(**PHONE).new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, hub.url, user)
    page.goto(f"{hub.url}/tasks/{task.id}/")
    expect(page.locator('body[data-live="open"]')).to_have_count(1, timeout=10_000)
    with scripted_host(hub.url, token) as host:
        every_kind(host, task.id)
        card = page.locator(f"#permission-{task.permissions.get().id}")
        expect(card).to_be_visible(timeout=10_000)
        for kind in ("user", "thought", "agent", "plan", "tool", "notice", "permission"):
            expect(page.locator(f'#timeline [data-kind="{kind}"]').first).to_be_visible()
        expect(page.locator("#session-state")).to_have_text("Waiting for your answer")
        expect(page.locator(".agent-text strong").first).to_have_text("headings")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        page.evaluate("window.scrollTo(0, 0)")  # sticky bars at their places in a full-page shot
        shot(page, artifacts, "acp-task")

        # A thought opened by hand stays open when the timeline is fetched again.
        page.locator('#timeline details[data-key="thought:1"] summary').click()
        card.get_by_role("button", name="Allow once").click()
        assert host.receive() == {
            "type": "task.answer",
            "task_id": task.id,
            "request_id": "p1",
            "option_id": "allow",
        }
        expect(card).to_contain_text("ada@example.com chose Allow once", timeout=10_000)
        expect(page.locator('#timeline details[data-key="thought:1"]')).to_have_attribute("open", "")

        closed = {"task_id": task.id, "request_id": "p1", "outcome": "selected", "option_id": "allow"}
        host.send("task.permission_closed", closed)
        host.send(
            "task.turn",
            {"task_id": task.id, "state": "waiting", "message_id": None, "stop_reason": "end_turn"},
        )
        expect(page.locator("#session-state")).to_have_text("Waiting for your message", timeout=10_000)

        page.locator("#followup textarea").fill("Also fix the links")
        page.locator("#followup button").click()
        sent = host.receive()
        assert (sent["type"], sent["text"]) == ("task.message", "Also fix the links")
        expect(page.locator("#followup textarea")).to_have_value("")
        expect(page.locator("#timeline .waiting")).to_contain_text("Also fix the links")
        turn = {"task_id": task.id, "state": "working", "message_id": sent["message_id"], "stop_reason": None}
        host.send("task.turn", turn)
        expect(page.locator("#session-state")).to_have_text("Working…", timeout=10_000)
        expect(page.locator("#stop-turn")).to_be_visible()

        # A follow-up the hub refuses keeps its text and says why.
        off_the_loop(lambda: Task.objects.filter(id=task.id).update(session_state="ended"))
        page.locator("#followup textarea").fill("One more thing")
        page.locator("#followup button").click()
        expect(page.locator("#followup-error")).to_contain_text("This session has ended")
        expect(page.locator("#followup textarea")).to_have_value("One more thing")
        shot(page, artifacts, "acp-task-ended")
    assert not [e for e in errors if not e.startswith("Failed to load resource")], errors
