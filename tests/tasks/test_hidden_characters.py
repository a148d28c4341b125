"""Task pages show hidden characters in file names as marked ⟨U+202E⟩: the
target file, the changed-files list and its diff headers, and the timeline's
tool calls and permission requests."""

import pytest
from django.urls import reverse

from tasks.models import TaskFileChange
from tests.kits.sessions import SessionStream, ask, make_session, session_project
from tests.kits.task_stream import make_task

pytestmark = pytest.mark.django_db

SPOOF = "invoice\u202egnp.exe"
MARKED = 'invoice<span class="invisible-char" title="A hidden character in this name">⟨U+202E⟩</span>gnp.exe'
DIFF = f"--- a/{SPOOF}\n+++ b/{SPOOF}\n@@ -1 +1 @@\n-old\n+new\n"


def page(client, task) -> str:
    response = client.get(reverse("task_detail", args=[task.id]))
    assert response.status_code == 200
    return response.content.decode()


def without_attributes(html: str) -> str:
    """The page minus the places a raw path belongs: URLs and data attributes."""
    return html.replace(SPOOF.replace("\u202e", "%E2%80%AE"), "").replace(f'"{SPOOF}"', "")


def test_the_target_and_the_changed_files_show_markers(alice_client, team_a, alice):
    task = make_task(session_project(team_a), alice, target=SPOOF, state="succeeded")
    TaskFileChange.objects.create(task=task, path=SPOOF, op="modified", diff=DIFF)
    html = page(alice_client, task)
    assert f">{MARKED}</a></p>" in html  # the crumb
    assert f'<span class="break">{MARKED}</span>' in html  # the changed-files list
    assert f'<span class="badge op-modified">Modified</span> <span class="break">{MARKED}</span>' in html
    assert "\u202e" not in without_attributes(html)


def test_the_timeline_shows_markers_in_tool_calls_and_permissions(alice_client, team_a, alice):
    task = make_session(session_project(team_a), alice)
    SessionStream(task.host_id).item(
        task.id,
        "tool:1",
        "tool",
        title=f"Edit {SPOOF}",
        tool_kind="edit",
        status="completed",
        locations=[SPOOF],
        diffs=[{"path": SPOOF, "diff": DIFF}],
    )
    ask(task, title=f"Edit {SPOOF}", diffs=[{"path": SPOOF, "diff": DIFF}], locations=[SPOOF])
    html = page(alice_client, task)
    assert f'<span class="tool-title break">Edit {MARKED}</span>' in html
    assert f'<code class="break">{MARKED}</code>' in html
    assert f'<strong class="break">Edit {MARKED}</strong>' in html
    assert html.count(f'<span class="break">{MARKED}</span>') == 2
    assert "\u202e" not in without_attributes(html)
