"""Where a new task runs on a git project (docs/protocol.md, "Git"): on its own branch by
default, in the working copy when asked (and always for a browser task or a folder that
is not a repository); a base branch is checked as git would, and a hostile one is refused
with a clear 400: no task, nothing sent."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from tasks.models import Task
from tasks.services import task_create
from tests.kits.common import make_host, page_text
from tests.kits.git_stream import git_project, git_projects
from tests.kits.mirror_stream import Stream
from tests.kits.task_stream import CLAUDE, offering

pytestmark = pytest.mark.django_db

BROWSER = {"name": "browser", "label": "Browser", "kind": "browser", "needs_file": False}
STEPS = '[{"action": "open", "url": "https://example.com"}]'


@pytest.fixture
def host(team_a):
    host, _ = make_host(team_a, "Studio")
    return offering(host, CLAUDE, BROWSER)


@pytest.fixture
def project(host):
    return git_project(host)


def send(client, project, **fields):
    data = {"project": project.id, "executor": "claude", "prompt": "Greet the world"}
    data.update(fields)
    return client.post(reverse("task_new"), data)


def test_mirror_projects_says_which_projects_are_git_repositories(host):
    stream = Stream(host.id)
    stream.send("mirror.projects", {"projects": [{"name": "site", "git": True}, {"name": "notes"}]})
    assert dict(host.projects.values_list("name", "is_git")) == {"site": True, "notes": False}
    stream.send(
        "mirror.projects", {"projects": [{"name": "site", "git": False}, {"name": "notes", "git": True}]}
    )
    assert dict(host.projects.values_list("name", "is_git")) == {"site": False, "notes": True}


def test_a_coding_task_on_a_git_project_runs_on_its_own_branch_by_default(alice_client, project, dispatched):
    response = send(alice_client, project)
    task = Task.objects.get()
    assert response.status_code == 302
    assert (task.workspace, task.base_branch, task.worktree_of) == ("worktree", "", None)
    assert AuditEvent.objects.get(action="task.created").detail["workspace"] == "worktree"
    page = page_text(alice_client.get(reverse("task_detail", args=[task.id])))
    assert "Branch" in page and "its own" in page


def test_a_base_branch_and_the_working_copy_can_be_chosen(alice_client, project, dispatched):
    send(alice_client, project, workspace="worktree", base_branch="release/1.2")
    send(alice_client, project, workspace="working_copy")
    first, second = Task.objects.order_by("id")
    assert (first.workspace, first.base_branch) == ("worktree", "release/1.2")
    assert (second.workspace, second.base_branch) == ("working_copy", "")
    assert dispatched == [project.host_id, project.host_id]


def test_browser_tasks_and_plain_folders_run_in_the_working_copy(alice, host, dispatched):
    projects = git_projects(host, docs=True, notes=False)
    browser = task_create(
        user=alice, project_id=projects["docs"].id, executor="browser", prompt="", steps=STEPS
    )
    plain = projects["notes"]
    coding = task_create(user=alice, project_id=plain.id, executor="claude", prompt="Tidy")
    assert browser.workspace == coding.workspace == "working_copy"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"base_branch": "--upload-pack=x"}, "'--upload-pack=x' is not a branch name: it starts with -"),
        ({"base_branch": "../x"}, "'../x' is not a branch name: it contains .."),
        ({"base_branch": "HEAD"}, "'HEAD' is not a branch name: it names a ref, not a branch"),
        ({"base_branch": "my branch"}, "'my branch' is not a branch name: it contains a space"),
        ({"base_branch": "main\x1b[31m"}, "is not a branch name: it contains a control character"),
        ({"base_branch": "main\n"}, "is not a branch name: it contains a control character"),
        ({"base_branch": "refs/heads/main"}, "it names a ref, not a branch"),
        ({"base_branch": "a" * 201}, "it is longer than 200 characters"),
        (
            {"workspace": "working_copy", "base_branch": "main"},
            "A base branch is only for a task on its own branch.",
        ),
        ({"workspace": "elsewhere"}, "Choose where it runs: on its own branch or in the working copy."),
        ({"workspace": "worktree", "executor": "browser", "steps": STEPS}, "A browser task changes no files"),
    ],
)
def test_hostile_places_are_refused_and_nothing_is_created(
    alice_client, project, dispatched, fields, message
):
    response = send(alice_client, project, **fields)
    assert response.status_code == 400
    assert message in page_text(response)
    assert not Task.objects.exists() and dispatched == []


def test_a_branch_on_a_folder_that_is_not_a_repository_is_refused(alice_client, host, dispatched):
    plain = git_projects(host, notes=False)["notes"]
    response = send(alice_client, plain, workspace="worktree")
    assert response.status_code == 400
    assert "notes is not a git repository: its tasks run in the working copy." in page_text(response)
    assert not Task.objects.exists() and dispatched == []


def test_the_form_offers_where_and_the_branches_the_host_last_reported(alice_client, host):
    from django.utils import timezone

    from tasks.models import RepoSnapshot

    projects = git_projects(host, docs=True, notes=False)
    project, plain = projects["docs"], projects["notes"]
    state = {"branch": "main", "branches": ["main", "release/1.2"], "dirty_count": 0, "remotes": ["origin"]}
    RepoSnapshot.objects.create(project=project, state=state, taken_at=timezone.now())
    page = alice_client.get(reverse("task_new"), {"project": project.id}).content.decode()
    assert (
        'value="worktree" checked' in page and "On its own branch" in page and "In the working copy" in page
    )
    assert '<option value="release/1.2">' in page and 'placeholder="main"' in page
    assert (
        "On its own branch"
        not in alice_client.get(reverse("task_new"), {"project": plain.id}).content.decode()
    )
