"""The page of a command task whose template prints structured output (codex exec --json,
Claude Code's stream-json): its entries in the same conversation view as a session's, without
the session's follow-up box, Stop turn or End session; the final answer once; its stderr folded."""

import pytest
from django.urls import reverse

from tasks.models import TaskState
from tests.kits.common import login
from tests.kits.sessions import SessionStream
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.django_db

ANSWER = "Wrote **note.txt**."


def get(client, task, **params):
    return client.get(reverse("task_detail", args=[task.id]), params)


def structured_run(task) -> SessionStream:
    """What the agent sends for a codex exec --json run (cli_events), then its end."""
    stream = SessionStream(task.host_id)
    stream.started(task.id)
    stream.item(task.id, "user:prompt", "user", text=task.prompt, message_id=None)
    stream.item(task.id, "thought:item_1", "thought", text="The note goes in note.txt.")
    stream.item(
        task.id,
        "tool:item_2",
        "tool",
        title="printf hi > note.txt",
        tool_kind="execute",
        status="completed",
        text="exit code 0",
    )
    stream.item(task.id, "agent:item_3", "agent", text=ANSWER)
    stream.item(task.id, "notice:1", "notice", text="Tokens: 240 in, 60 out.", level="info")
    stream.log(task.id, 1, "WARNING: proceeding, even though we could not create PATH aliases\n")
    return stream


def test_a_command_task_with_entries_shows_them_as_a_conversation(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING, prompt="Write hi to note.txt")
    structured_run(task)
    body = get(alice_client, task).content.decode()

    assert (
        '<section class="session" id="conversation"' in body
        and "hidden>" not in body.split('id="conversation"')[1][:80]
    )
    assert body.count("<strong>note.txt</strong>") == 1  # the final answer, once, as Markdown
    for shown in (
        'data-kind="thought"',
        'data-kind="tool"',
        "printf hi &gt; note.txt",
        "Tokens: 240 in, 60 out.",
    ):
        assert shown in body
    assert body.count('<div class="bubble">Write hi to note.txt</div>') == 1
    assert 'id="followup"' not in body and 'id="session-state"' not in body
    assert 'id="end-session"' not in body and 'id="stop-turn"' not in body
    assert '<details class="card" id="task-output">' in body and "could not create PATH aliases" in body


def test_its_timeline_fragment_has_no_session_bar(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING)
    structured_run(task).finished(task.id)
    fragment = get(alice_client, task, fragment="timeline")
    assert fragment.status_code == 200
    text = fragment.content.decode()
    assert 'data-entries="5"' in text and 'data-kind="agent"' in text
    assert "session-bar" not in text and "<html" not in text


def test_a_running_command_task_waits_for_entries_with_its_conversation_hidden(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING)
    body = get(alice_client, task).content.decode()
    assert (
        '<section class="session" id="conversation" aria-label="Conversation with the agent" hidden>' in body
    )
    assert "<h2>Output</h2>" in body and 'id="followup"' not in body
    fragment = get(alice_client, task, fragment="timeline")
    assert fragment.status_code == 200 and 'data-entries="0"' in fragment.content.decode()


def test_a_finished_command_task_without_entries_keeps_its_plain_page(alice_client, alice, project):
    task = make_task(project, alice, state=TaskState.SUCCEEDED)
    body = get(alice_client, task).content.decode()
    assert 'id="timeline"' not in body and "<h2>Output</h2>" in body
    assert get(alice_client, task, fragment="timeline").status_code == 404


def test_another_teams_member_gets_404(client, charlie, alice, project):
    task = make_task(project, alice, state=TaskState.RUNNING)
    structured_run(task)
    login(client, charlie)
    assert get(client, task).status_code == 404
    assert get(client, task, fragment="timeline").status_code == 404
