"""The page of an agent session: a conversation a phone can read, with what
the host sent escaped (and agent Markdown sanitized), the permission cards, the
session's state and its controls. Command tasks keep their page."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tasks.models import PermissionRequest, Task, TaskMessage, TaskState
from tests.kits.common import page_text
from tests.kits.sessions import ALLOW, DIFF, REJECT, SessionStream, ask
from tests.kits.task_stream import make_task, offering

pytestmark = pytest.mark.django_db

# DIFF's lines as the page shows them: old and new line 1, the changed word marked.
REMOVED = '<div class="dl del" data-n="1"><span class="sign">-</span><del>old</del> line</div>'
ADDED = '<div class="dl add" data-n="1"><span class="sign">+</span><ins>new</ins> line</div>'
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">'


def page(client, task, **params) -> str:
    response = client.get(reverse("task_detail", args=[task.id]), params)
    assert response.status_code == 200
    return response.content.decode()


def every_kind(task) -> None:
    stream = SessionStream(task.host_id)
    stream.item(task.id, "user:0", "user", text="Tidy the README", message_id=None)
    stream.item(task.id, "thought:1", "thought", text="Headings first")
    stream.item(task.id, "agent:1", "agent", text="I will **tidy** it:\n\n- one\n- two")
    entries = [
        {"content": "Read it", "status": "completed", "priority": "medium"},
        {"content": "Fix headings", "status": "in_progress", "priority": "high"},
        {"content": "Check links", "status": "pending", "priority": "low"},
    ]
    stream.item(task.id, "plan", "plan", entries=entries)
    stream.item(
        task.id,
        "tool:1",
        "tool",
        title="Edit notes.md",
        tool_kind="edit",
        status="completed",
        locations=["notes.md"],
        text="wrote 2 lines",
        diffs=[{"path": "notes.md", "diff": DIFF}],
    )
    stream.item(
        task.id, "notice:1", "notice", text="refused to write /etc/hosts: outside the project", level="error"
    )


def test_it_renders_each_kind_of_entry(alice_client, task):
    every_kind(task)
    body = page(alice_client, task)
    kinds = re.findall(r'<li class="tl [^"]*" data-kind="(\w+)"', body)
    assert kinds == ["user", "thought", "agent", "plan", "tool", "notice"]
    assert "<strong>tidy</strong>" in body and "<li>one</li>" in body
    assert '<details data-key="thought:1"><summary>Thinking</summary>' in body
    assert 'class="plan-completed"' in body and 'class="plan-in_progress"' in body and "✓" in body
    assert ADDED in body and REMOVED in body
    assert 'data-status="completed"' in body and '<code class="break">notes.md</code>' in body
    assert 'class="tl notice notice-error"' in body
    assert body.count("Tidy the README</div>") == 1  # the prompt once, from the agent's entry


def test_the_prompt_shows_before_the_agent_sends_anything(alice_client, task):
    body = page(alice_client, task)
    assert '<li class="tl user" data-kind="user"><div class="bubble">Tidy the README</div></li>' in body


def test_what_the_host_sends_is_escaped_and_markdown_sanitized(alice_client, task):
    stream = SessionStream(task.host_id)
    stream.item(task.id, "agent:1", "agent", text=f"{HOSTILE}\n\n[click](javascript:alert(1))")
    stream.item(task.id, "tool:1", "tool", title=HOSTILE, locations=[HOSTILE], text=HOSTILE)
    stream.item(task.id, "user:1", "user", text=HOSTILE)
    stream.item(task.id, "notice:1", "notice", text=HOSTILE)
    stream.permission(task.id, title=HOSTILE, options=[{**ALLOW, "name": HOSTILE}, REJECT])
    body = page(alice_client, task)
    assert "<script>window.__pwned" not in body and "<img src=x" not in body
    assert 'href="javascript' not in body
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in body
    assert body.count("&lt;script&gt;") >= 6


def test_a_pending_permission_shows_its_card_and_buttons(alice_client, task):
    SessionStream(task.host_id).permission(task.id)
    request = PermissionRequest.objects.get()
    body = page(alice_client, task)
    card = body[body.index(f'id="permission-{request.id}"') :]
    assert "Edit notes.md" in card and ADDED in card
    for option in ("allow", "always", "reject"):
        assert f'name="option_id" value="{option}"' in card
    assert 'class="option option-reject_once"' in card
    deadline = timezone.localtime(request.created_at + timedelta(seconds=600))
    assert f"Rejected automatically at {deadline:%H:%M} if nobody answers" in card
    assert 'id="session-state" class="session-state" data-state="answer">Waiting for your answer' in body
    assert 'id="stop-turn"' not in body  # the agent waits for its next message, not in a turn


def test_a_request_that_waits_says_so(alice_client, task):
    SessionStream(task.host_id).permission(task.id, on_timeout="wait", timeout=None)
    assert "Waits for your answer" in page_text(alice_client.get(reverse("task_detail", args=[task.id])))


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"state": "answered", "option_id": "allow"}, "bob@example.com chose Allow once"),
        (
            {"state": "closed", "outcome": "selected", "option_id": "always"},
            "bob@example.com chose Always allow",
        ),
        ({"state": "closed", "outcome": "timed_out", "option_id": "reject"}, "No answer in 10 min: rejected"),
        ({"state": "closed", "outcome": "cancelled"}, "Cancelled with the turn"),
    ],
)
def test_an_answered_request_says_what_became_of_it(alice_client, bob, task, fields, words):
    request = ask(task, timeout_seconds=600, on_timeout="reject")
    PermissionRequest.objects.filter(id=request.id).update(answered_by=bob, **fields)
    text = page_text(alice_client.get(reverse("task_detail", args=[task.id])))
    assert words in text
    assert 'name="option_id"' not in page(alice_client, task)


@pytest.mark.parametrize(
    ("change", "words", "stop", "composer"),
    [
        ({"session_state": "working"}, "Working…", True, True),
        ({"session_state": "waiting"}, "Waiting for your message", False, True),
        ({"state": TaskState.QUEUED, "session_state": "working"}, "Starting…", False, True),
        ({"state": TaskState.SUCCEEDED, "session_state": "ended"}, "Ended", False, False),
    ],
)
def test_the_session_state_and_its_controls(alice_client, task, change, words, stop, composer):
    Task.objects.filter(id=task.id).update(**change)
    body = page(alice_client, task)
    assert re.search(rf'id="session-state"[^>]*>{words}</p>', body)
    assert ('id="stop-turn"' in body) is stop
    assert ('id="end-session"' in body) is composer
    assert ('<form id="followup" class="composer" method="post" action="/tasks/' in body) is True
    assert bool(re.search(r'<form id="followup"[^>]* hidden>', body)) is not composer


def test_waiting_follow_ups_show_until_a_turn_carries_them(alice_client, alice, task):
    TaskMessage.objects.create(task=task, text="Also the index", created_by=alice)
    assert "Waiting for the agent" in page(alice_client, task)
    message = TaskMessage.objects.get()
    SessionStream(task.host_id).turn(task.id, "working", message_id=message.id)
    assert "Waiting for the agent" not in page(alice_client, task)


def test_the_timeline_fragment_is_the_timeline_alone(alice_client, task):
    every_kind(task)
    fragment = page(alice_client, task, fragment="timeline")
    assert "timeline-body" in fragment[:400]
    assert "<html" not in fragment and 'id="session-state"' in fragment and 'data-kind="tool"' in fragment


def test_the_agents_output_log_is_kept_but_folded(alice_client, task):
    SessionStream(task.host_id).log(task.id, 1, "agent stderr line\n")
    body = page(alice_client, task)
    assert '<details class="card" id="task-output">' in body and "agent stderr line" in body


def test_a_command_task_without_entries_keeps_its_page(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.SUCCEEDED)  # a running one: test_command_timeline_page
    body = page(alice_client, task)
    assert 'id="timeline"' not in body and 'id="followup"' not in body
    assert "<h2>Output</h2>" in body and 'id="task-output"' not in body
    timeline = alice_client.get(reverse("task_detail", args=[task.id]), {"fragment": "timeline"})
    assert timeline.status_code == 404


def test_a_session_task_is_made_from_an_acp_executor(alice_client, alice, project, dispatched):
    response = alice_client.post(
        reverse("task_new"), {"project": project.id, "executor": "codex", "prompt": "Tidy up"}
    )
    assert response.status_code == 302
    task = Task.objects.get()
    assert task.session_state == "working" and task.is_session
    command = alice_client.post(
        reverse("task_new"), {"project": project.id, "executor": "claude", "prompt": "Tidy up"}
    )
    assert command.status_code == 302
    assert Task.objects.order_by("-id").first().session_state == ""


def test_a_session_task_is_made_from_a_codex_executor(alice_client, alice, project, dispatched):
    threads = {"name": "threads", "label": "Codex threads", "kind": "codex", "needs_file": False}
    offering(project.host, *project.host.executors, threads)
    response = alice_client.post(
        reverse("task_new"), {"project": project.id, "executor": "threads", "prompt": "Tidy up"}
    )
    assert response.status_code == 302
    task = Task.objects.get()
    assert (task.executor, task.session_state, task.is_session) == ("threads", "working", True)


def test_a_turn_that_waits_for_an_answer_can_still_be_stopped(alice_client, task):
    Task.objects.filter(id=task.id).update(session_state="working")
    ask(task)
    body = page(alice_client, task)
    assert 'data-state="answer">Waiting for your answer' in body and 'id="stop-turn"' in body
