"""Projects, project and file pages (SECURITY.md 56, 57 server side; 30)."""

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from codexhub.asgi import application
from projects.models import Project
from tests.kits.common import login, make_host, page_text
from tests.kits.mirror_stream import HOSTILE_MARKDOWN, Stream, dir_change, file_change
from tests.kits.ui_socket import subscribe_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Build box")
    stream = Stream(host.id)
    stream.projects("docs")
    stream.batch(
        "docs",
        dir_change("notes"),
        file_change("notes/todo.md", "# Todo\n\n- [ ] ship\n"),
        file_change("app.py", "def main():\n    return 1\n"),
        file_change("evil.md", HOSTILE_MARKDOWN),
        file_change("logo.png", None, binary=True, size=2048),
        file_change('<img src=x onerror="window.__pwned=1">.md', "x"),
        file_change("\u202ecod.exe.md", "y"),
        reset=True,
    )
    return Project.objects.get(name="docs")


def file_url(project, path):
    return reverse("file_detail", args=[project.id, path])


def test_projects_are_grouped_by_host(alice_client, project):
    body = page_text(alice_client.get(reverse("project_list")))
    assert "Build box" in body and "docs" in body and "Offline" in body


def test_the_project_page_shows_the_tree_and_recent_changes(alice_client, project):
    body = page_text(alice_client.get(reverse("project_detail", args=[project.id])))
    for name in ("notes", "todo.md", "app.py", "logo.png"):
        assert name in body
    assert "Recent changes" in body and "Created" in body


def test_markdown_is_rendered_and_sanitized(alice_client, project):
    html = alice_client.get(file_url(project, "evil.md")).content.decode()
    body = html.split('id="file-body"', 1)[1].split("</article>", 1)[0]
    assert '<h1 id="md-title">Title</h1>' in body
    # Raw HTML goes through the sanitizer: scripts and frames are gone (a script's text
    # too), no handler or script link is left, and an image not in the project is its alt.
    hostile = ("<script", "<img", "<iframe", "<svg", "onerror", 'href="javascript:', 'href="data:')
    for bad in hostile:
        assert bad not in body, bad
    assert "window.__pwned = 1" not in body  # the script's text went with it
    assert 'href="https://example.com" rel="noopener noreferrer"' in body


def test_code_is_highlighted(alice_client, project):
    html = alice_client.get(file_url(project, "app.py")).content.decode()
    assert 'class="highlight"' in html
    assert '<span class="k">def</span>' in html


def test_a_binary_file_shows_its_size_and_type(alice_client, project):
    body = page_text(alice_client.get(file_url(project, "logo.png")))
    assert "Binary file" in body and "2.0\xa0KB" in body and "image/png" in body


def test_hostile_file_names_are_text(alice_client, project):
    """SECURITY.md 57."""
    html = alice_client.get(reverse("project_detail", args=[project.id])).content.decode()
    assert '<img src=x onerror="window.__pwned=1">' not in html
    assert "&lt;img src=x onerror=" in html


@pytest.mark.parametrize("path", ["nope.md", "../etc/passwd", "notes", "a//b", "%2e%2e/x"])
def test_a_missing_or_hostile_file_path_is_404(alice_client, project, path):
    assert alice_client.get(f"/projects/{project.id}/files/{path}").status_code == 404


def test_the_live_fragment_is_the_changing_part_only(alice_client, project):
    html = alice_client.get(reverse("project_detail", args=[project.id]), {"fragment": "1"}).content.decode()
    assert "<html" not in html and "app.py" in html and "todo.md" not in html  # the top folder


def test_another_teams_project_is_404(client, charlie, project):
    login(client, charlie)
    assert client.get(reverse("project_detail", args=[project.id])).status_code == 404
    assert client.get(file_url(project, "app.py")).status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_subscribing_to_another_teams_project_is_refused(team_b):
    """SECURITY.md 30: error frame, no group joined, no events."""
    from asgiref.sync import sync_to_async

    from accounts.models import Membership, Team
    from tests.kits.common import make_user

    @sync_to_async
    def setup():
        own_team = Team.objects.create(name="Own")
        user = make_user("dora@example.com")
        Membership.objects.create(team=own_team, user=user, role="owner")
        host, _ = make_host(team_b, "Foreign")
        Stream(host.id).projects("secret")
        return subscribe_headers(user), Project.objects.get(name="secret").id

    headers, foreign_id = await setup()
    phone = WebsocketCommunicator(application, "/ws/ui/", headers=headers)
    assert (await phone.connect(timeout=5))[0]
    await phone.receive_json_from(timeout=5)
    for project_id in (foreign_id, 987654321, "1", None):
        await phone.send_json_to({"type": "subscribe", "project": project_id})
        assert await phone.receive_json_from(timeout=5) == {"type": "error", "error": "no such project"}
    await phone.disconnect()


def test_the_admin_lists_mirrors_read_only_and_asks_for_a_resync(
    staff_client, project, django_capture_on_commit_callbacks
):
    from unittest import mock

    assert staff_client.get(reverse("admin:projects_entry_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:projects_entry_add")).status_code == 403
    with mock.patch("codexhub.events.group_send") as group_send:
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(
                reverse("admin:projects_project_changelist"),
                {"action": "resync", "_selected_action": [project.id]},
            )
    assert response.status_code == 302
    group_send.assert_called_once_with(
        f"host.{project.host_id}", {"type": "mirror.resync", "project": "docs"}
    )
