"""A git project's repository page (/projects/<id>/repo/): it asks the host for the
repository's state (one request at a time, a result younger than STATE_FRESH reused),
shows the branch, upstream, uncommitted files and diff when the host answers, and the
project page links to it with what was last known."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from tasks.git import STATE_FRESH
from tasks.models import GitAction, RepoSnapshot
from tests.kits.common import login, make_host, page_text
from tests.kits.git_stream import GitStream, git_project, git_projects
from tests.kits.sessions import ringing, to_host
from tests.kits.task_stream import CLAUDE, offering

pytestmark = pytest.mark.django_db

DIFF = (
    "diff --git a/README.md b/README.md\nindex 1..2 100644\n--- a/README.md\n+++ b/README.md\n"
    "@@ -1 +1 @@\n-hello\n+hello, world\n"
    "diff --git a/new.py b/new.py\nnew file mode 100644\nindex 0..3\n--- /dev/null\n+++ b/new.py\n"
    "@@ -0,0 +1 @@\n+print(<b>1</b>)\n"
)
STATE = {
    "branch": "main",
    "head": "ab" * 20,
    "upstream": "origin/main",
    "ahead": 2,
    "behind": 1,
    "dirty": [{"path": "README.md", "status": ".M"}, {"path": "new.py", "status": "A."}],
    "dirty_count": 2,
    "diff": DIFF,
    "diff_truncated": False,
    "branches": ["main", "codexhub/3-greet"],
    "remotes": ["origin"],
}


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return git_project(offering(host, CLAUDE))


def open_repo(client, project, **params):
    with ringing() as sent:
        response = client.get(reverse("project_repo", args=[project.id]), params)
    return response, to_host(sent, project.host_id)


def words(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(response)).split())


def test_the_page_asks_the_host_and_shows_its_answer(alice_client, project):
    response, sent = open_repo(alice_client, project)
    action = GitAction.objects.get()
    assert sent == [{"type": "git.request", "request": action.request, "action": "state", "project": "docs"}]
    assert "Waiting for Studio…" in words(response)
    GitStream(project.host_id).result(action.request, state=STATE)
    response, sent = open_repo(alice_client, project, fragment="1")
    assert sent == []  # the answer is fresh: not asked again
    text = words(response)
    assert "Branch main" in text and "origin/main · 2 ahead, 1 behind" in text
    assert "Uncommitted 2 files" in text and ".M README.md" in text
    html = response.content.decode()
    assert '<div class="dl add" data-n="1">' in html and "print(&lt;b&gt;1&lt;/b&gt;)" in html
    assert "Added" in text and "new.py" in text and "codexhub/3-greet" in text
    snapshot = RepoSnapshot.objects.get(project=project)
    assert snapshot.state["dirty_count"] == 2 and "diff --git" in snapshot.state["diff"]


def test_one_request_at_a_time_and_a_fresh_answer_is_reused(alice_client, project):
    _, first = open_repo(alice_client, project)
    _, second = open_repo(alice_client, project)
    assert len(first) == 1 and second == [] and GitAction.objects.count() == 1
    GitStream(project.host_id).result(GitAction.objects.get().request, state=STATE)
    _, third = open_repo(alice_client, project)
    assert third == []
    GitAction.objects.update(
        finished_at=GitAction.objects.get().finished_at - timedelta(seconds=STATE_FRESH + 1)
    )
    _, fourth = open_repo(alice_client, project)
    assert len(fourth) == 1 and GitAction.objects.count() == 2


def test_gits_words_are_shown_when_the_host_cannot_read_it(alice_client, project):
    open_repo(alice_client, project)
    GitStream(project.host_id).result(
        GitAction.objects.get().request, ok=False, error="fatal: not a git repository"
    )
    response, _ = open_repo(alice_client, project)
    assert "could not read the repository" in words(response)
    assert '<pre class="git-error">fatal: not a git repository</pre>' in response.content.decode()


def test_a_folder_that_is_not_a_repository_is_not_asked(alice_client, team_a):
    host, _ = make_host(team_a, "Laptop")
    plain = git_projects(host, notes=False)["notes"]
    response, sent = open_repo(alice_client, plain)
    assert response.status_code == 200 and sent == []
    assert "notes is not a git repository" in words(response)


def test_another_teams_repository_is_404_and_not_asked(charlie, project):
    response, sent = open_repo(login(Client(), charlie), project)
    assert response.status_code == 404 and sent == [] and not GitAction.objects.exists()


def test_the_project_page_links_to_it_with_what_was_last_known(alice_client, project):
    page = words(alice_client.get(reverse("project_detail", args=[project.id])))
    assert "Repository › Branch, uncommitted files and diff" in page
    open_repo(alice_client, project)
    GitStream(project.host_id).result(GitAction.objects.get().request, state=STATE)
    response = alice_client.get(reverse("project_detail", args=[project.id]))
    assert f'href="{reverse("project_repo", args=[project.id])}"' in response.content.decode()
    assert "main · 2 ahead, 1 behind · 2 uncommitted" in words(response)
