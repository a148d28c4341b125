"""Continue: a follow-up task in a chain's worktree, on its branch (worktree_of = the
chain's first task, however deep the page it was asked from), only while the worktree is
open, no task of the chain runs and no decision waits."""

import pytest
from django.test import Client
from django.urls import reverse

from tasks.messages import assignment
from tasks.models import GitAction, GitOutcome, Task, TaskState
from tests.kits.common import login, make_host, page_text
from tests.kits.git_stream import git_project, worktree_task
from tests.kits.sessions import ringing
from tests.kits.task_stream import BULLETS, CLAUDE, offering

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return git_project(offering(host, CLAUDE, BULLETS))


@pytest.fixture
def task(project, alice):
    return worktree_task(project, alice)


def go_on(client, task, prompt="Now say goodbye too", **fields):
    return client.post(reverse("task_continue", args=[task.id]), {"prompt": prompt, **fields}, **JSON)


def test_a_continuation_runs_in_the_chains_worktree(alice_client, task, dispatched):
    response = go_on(alice_client, task)
    new = Task.objects.exclude(id=task.id).get()
    assert response.status_code == 200
    assert response.json() == {"ok": True, "task": new.id, "url": reverse("task_detail", args=[new.id])}
    assert (new.workspace, new.worktree_of, new.executor, new.prompt) == (
        "worktree", task, "claude", "Now say goodbye too",
    )  # fmt: skip
    assert assignment(new)["worktree_of"] == task.id and "base" not in assignment(new)
    assert dispatched == [task.host_id]
    page = page_text(alice_client.get(reverse("task_detail", args=[new.id])))
    assert f"the branch of task {task.id}" in page


def test_a_continuation_of_a_continuation_points_at_the_first_task(alice_client, alice, project, task):
    second = worktree_task(project, alice, worktree_of=task, branch=task.branch)
    go_on(alice_client, second)
    third = Task.objects.order_by("-id").first()
    assert third.worktree_of_id == task.id


def test_without_javascript_it_opens_the_new_tasks_page(alice_client, task):
    response = alice_client.post(reverse("task_continue", args=[task.id]), {"prompt": "Again"})
    new = Task.objects.order_by("-id").first()
    assert response.status_code == 302 and response["Location"] == reverse("task_detail", args=[new.id])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("running", "A task on this branch is still running: decide once it has finished."),
        ("pending", "Waiting for Studio to answer: commit. One decision at a time on a branch."),
        ("merged", "was merged into main: its worktree and branch are gone."),
        ("discarded", "was discarded: its worktree and branch are gone."),
        ("no branch", "This task has no branch: it never started on one."),
        ("working copy", "Only a task on its own branch can be continued: this one ran in the working copy."),
    ],
)
def test_it_is_refused_when_the_worktree_is_not_free(
    alice_client, alice, project, task, dispatched, setup, message
):
    if setup == "running":
        worktree_task(project, alice, worktree_of=task, state=TaskState.RUNNING, branch=task.branch)
    elif setup == "pending":
        with ringing():
            alice_client.post(reverse("task_git", args=[task.id, "commit"]), {"message": "x"}, **JSON)
    elif setup in ("merged", "discarded"):
        from django.utils import timezone

        fields = {"merged_into": "main", "merged_at": timezone.now()} if setup == "merged" else {}
        GitOutcome.objects.create(task=task, discarded_at=None if fields else timezone.now(), **fields)
    elif setup == "no branch":
        Task.objects.filter(id=task.id).update(branch="")
    else:
        Task.objects.filter(id=task.id).update(workspace="working_copy", branch="")
    before = Task.objects.count()
    response = go_on(alice_client, task)
    assert response.status_code == 409 and message in response.json()["error"]
    assert Task.objects.count() == before and dispatched == []


def test_a_bad_prompt_or_executor_is_400_and_creates_nothing(alice_client, task, dispatched):
    assert go_on(alice_client, task, prompt=" ").json() == {"error": "Write what the task should do."}
    response = go_on(alice_client, task, executor="shell")
    assert response.status_code == 400 and "Studio does not offer 'shell'" in response.json()["error"]
    assert Task.objects.count() == 1 and not GitAction.objects.exists() and dispatched == []


def test_another_team_gets_404(charlie, task, dispatched):
    response = go_on(login(Client(), charlie), task)
    assert response.status_code == 404 and Task.objects.count() == 1


def test_the_page_offers_continue_only_while_it_may(alice_client, alice, project, task):
    def offered():
        return "Continue on this branch" in page_text(
            alice_client.get(reverse("task_detail", args=[task.id]))
        )

    assert offered()
    running = worktree_task(project, alice, worktree_of=task, state=TaskState.RUNNING, branch=task.branch)
    assert not offered()
    Task.objects.filter(id=running.id).update(state=TaskState.SUCCEEDED)
    assert offered()
