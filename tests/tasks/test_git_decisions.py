"""Deciding what becomes of a task's changes (tasks.git): each decision sends one
git.request built through protocol.git.GitRequest, waits for the host's git.result, and
the task page shows the outcome, or git's own words when it failed. Refusals are clear
4xx answers that send nothing."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from devices.models import Host
from tasks.models import GitAction, GitOutcome, TaskState
from tests.kits.common import login, make_host, page_text
from tests.kits.git_stream import COMMIT, MERGED, GitStream, git_project, last_request, worktree_task
from tests.kits.sessions import ringing, to_host
from tests.kits.task_stream import CLAUDE, offering

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return git_project(offering(host, CLAUDE))


@pytest.fixture
def task(project, alice):
    return worktree_task(project, alice)


def decide(client, task, action, **fields):
    """POST a decision as the page's fetch does; (response, what reached the host)."""
    with ringing() as sent:
        response = client.post(reverse("task_git", args=[task.id, action]), fields, **JSON)
    return response, to_host(sent, task.host_id)


def answer(task, ok=True, **fields):
    """The host's git.result for the chain's pending request."""
    request = last_request(state="pending").request
    return GitStream(task.host_id).result(request, ok, **fields)


def panel(client, task) -> str:
    """The decide panel's words as a reader sees them (tags gone, spaces folded)."""
    html = page_text(client.get(reverse("task_detail", args=[task.id]), {"fragment": "git"}))
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_commit_sends_the_message_and_who_asked_then_shows_the_commit(alice_client, alice, task):
    alice.first_name, alice.last_name = "Alice <root>", "Liddell\x07"
    alice.save()
    response, sent = decide(alice_client, task, "commit", message="Greet the world\r\n\r\nAs asked.\r\n")
    assert response.status_code == 200 and response.json() == {"ok": True}
    action = GitAction.objects.get()
    assert (
        sent
        == [action.params]
        == [
            {
                "type": "git.request",
                "request": action.request,
                "action": "commit",
                "project": "docs",
                "task_id": task.id,
                "message": "Greet the world\n\nAs asked.",
                "requested_by": {"name": "Alice root Liddell", "email": "alice@example.com"},
            }
        ]
    )
    assert 16 <= len(action.request) <= 64 and action.requested_by == alice
    assert "Waiting for Studio…" in panel(alice_client, task)
    answer(task, commit=COMMIT)
    action.refresh_from_db()
    assert action.state == "succeeded" and action.finished_at is not None
    page = panel(alice_client, task)
    assert "Waiting for" not in page and f"Committed {COMMIT[:8]} Greet the world" in page
    assert "Commit on" not in page and "Merge into main" in page  # nothing new to commit
    assert GitOutcome.objects.get(task=task).commit == COMMIT
    actions = list(AuditEvent.objects.filter(action__startswith="git.").values_list("action", flat=True))
    assert sorted(actions) == ["git.commit.requested", "git.commit.succeeded"]


def test_merge_goes_into_the_reported_base_and_closes_the_branch(alice_client, task):
    decide(alice_client, task, "commit", message="Greet")
    answer(task, commit=COMMIT)
    response, sent = decide(alice_client, task, "merge")
    assert response.status_code == 200
    assert sent[0]["action"] == "merge"
    assert (sent[0]["branch"], sent[0]["into"], sent[0]["task_id"]) == (task.branch, "main", task.id)
    answer(task, commit=MERGED, merge="fast-forward")
    outcome = GitOutcome.objects.get(task=task)
    assert (outcome.merged_into, outcome.merge_commit) == ("main", MERGED)
    page = panel(alice_client, task)
    assert f"Merged into main · {MERGED[:8]}" in page
    assert "Commit on" not in page and "Discard" not in page and "Continue" not in page
    response, sent = decide(alice_client, task, "commit", message="more")
    assert response.status_code == 409 and sent == []
    assert (
        response.json()["error"] == f"{task.branch} was merged into main: its worktree and branch are gone."
    )


def test_push_sends_the_task_branch_before_a_merge_and_the_base_after(alice_client, task):
    decide(alice_client, task, "commit", message="Greet")
    answer(task, commit=COMMIT)
    _, sent = decide(alice_client, task, "push", remote="upstream")
    assert (sent[0]["action"], sent[0]["branch"], sent[0]["remote"]) == ("push", task.branch, "upstream")
    answer(task)
    assert f"Pushed {task.branch} to upstream" in panel(alice_client, task)
    decide(alice_client, task, "merge")
    answer(task, commit=MERGED, merge="merge")
    assert "Push main" in panel(alice_client, task)
    _, sent = decide(alice_client, task, "push")
    assert sent[0]["branch"] == "main" and "remote" not in sent[0]
    answer(task)
    page = panel(alice_client, task)
    assert "Pushed main" in page and "Push main" not in page  # nothing left to decide


def test_a_pull_request_needs_gh_and_the_pushed_branch(alice_client, task):
    decide(alice_client, task, "commit", message="Greet the world\n\nBody")
    answer(task, commit=COMMIT)
    response, sent = decide(alice_client, task, "pull-request")
    assert response.status_code == 409 and sent == []
    assert "Studio cannot open pull requests: install the GitHub CLI (gh)" in response.json()["error"]
    Host.objects.filter(id=task.host_id).update(capabilities=["git", "gh"])
    response, sent = decide(alice_client, task, "pull-request")
    assert response.status_code == 409 and sent == []
    assert response.json()["error"] == f"Push {task.branch} first: a pull request needs it on the remote."
    decide(alice_client, task, "push")
    answer(task)
    assert "Pull request" in panel(alice_client, task)
    response, sent = decide(alice_client, task, "pull-request")
    assert response.status_code == 200
    assert {k: sent[0][k] for k in ("action", "branch", "into", "title", "body")} == {
        "action": "pull_request",
        "branch": task.branch,
        "into": "main",
        "title": "Greet the world",
        "body": "Greet the world in the README",
    }
    answer(task, pr_url="https://github.com/acme/docs/pull/7")
    page = alice_client.get(reverse("task_detail", args=[task.id]), {"fragment": "git"}).content.decode()
    assert '<a href="https://github.com/acme/docs/pull/7" rel="noopener noreferrer"' in page


def test_a_failure_shows_gits_own_words_and_the_files(alice_client, task):
    decide(alice_client, task, "commit", message="Greet")
    answer(task, commit=COMMIT)
    decide(alice_client, task, "merge")
    words = "merging codexhub/1-x into main conflicts in README.md; nothing was changed\n  <b>CONFLICT</b>"
    answer(task, ok=False, error=words, files=["README.md"])
    action = GitAction.objects.get(action="merge")
    assert (action.state, action.error, action.files) == ("failed", words, ["README.md"])
    html = alice_client.get(reverse("task_detail", args=[task.id]), {"fragment": "git"}).content.decode()
    assert '<pre class="git-error">' in html and "&lt;b&gt;CONFLICT&lt;/b&gt;" in html
    assert "Merge failed." in page_text(alice_client.get(reverse("task_detail", args=[task.id])))
    assert page_text(alice_client.get(reverse("task_detail", args=[task.id]))).count(words) == 1
    event = AuditEvent.objects.get(action="git.merge.failed")
    assert event.detail["error"] == words and event.detail["files"] == ["README.md"]
    assert not GitOutcome.objects.get(task=task).merged


def test_discarding_a_worktree_and_a_working_copy_tasks_files(alice_client, alice, project, task):
    _, sent = decide(alice_client, task, "discard")
    assert {k: sent[0][k] for k in ("action", "task_id", "workspace")} == {
        "action": "discard",
        "task_id": task.id,
        "workspace": "worktree",
    }
    answer(task)
    assert "its worktree and branch are gone" in panel(alice_client, task)
    in_copy = worktree_task(project, alice, workspace="working_copy", branch="", base="")
    _, sent = decide(alice_client, in_copy, "discard")
    assert sent[0]["workspace"] == "working_copy" and sent[0]["task_id"] == in_copy.id
    answer(in_copy, restored=["README.md"])
    assert "1 file put back" in panel(alice_client, in_copy)
    response, sent = decide(alice_client, in_copy, "discard")
    assert response.status_code == 409 and response.json()["error"] == "Its changes were discarded already."


def test_a_working_copy_task_can_only_discard_finished_changes(alice_client, alice, project):
    running = worktree_task(project, alice, workspace="working_copy", state=TaskState.RUNNING, branch="")
    response, sent = decide(alice_client, running, "discard")
    assert response.status_code == 409 and sent == []
    unchanged = worktree_task(project, alice, workspace="working_copy", changed=False, branch="")
    response, _ = decide(alice_client, unchanged, "discard")
    assert response.json()["error"] == "This task changed no files: there is nothing to discard."
    finished = worktree_task(project, alice, workspace="working_copy", branch="")
    for action in ("commit", "merge", "push"):
        response, sent = decide(alice_client, finished, action, message="x")
        assert response.status_code == 409 and sent == []
        assert (
            response.json()["error"]
            == "This task ran in the working copy: its changes can only be discarded."
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"message": ""}, "Write a commit message."),
        ({"message": "  \n "}, "Write a commit message."),
        ({"message": "fix\x00it"}, "The commit message contains a NUL character."),
        ({"message": "x" * 16385}, "The commit message is too long: at most 16,384 characters."),
    ],
)
def test_a_bad_commit_message_is_400_and_sends_nothing(alice_client, task, fields, message):
    response, sent = decide(alice_client, task, "commit", **fields)
    assert response.status_code == 400 and response.json() == {"error": message}
    assert sent == [] and not GitAction.objects.exists()


@pytest.mark.parametrize(
    ("remote", "shown"),
    [
        ("https://evil.example/x.git", "'https://evil.example/x.git' is not a remote"),
        ("git@evil.example:x.git", "is not a remote: a remote is named like origin"),
        ("--receive-pack=x", "is not a remote"),
        ("../origin", "is not a remote"),
    ],
)
def test_a_remote_given_as_a_url_or_option_is_400(alice_client, task, remote, shown):
    decide(alice_client, task, "commit", message="Greet")
    answer(task, commit=COMMIT)
    response, sent = decide(alice_client, task, "push", remote=remote)
    assert response.status_code == 400 and shown in response.json()["error"]
    assert sent == [] and not GitAction.objects.filter(action="push").exists()


def test_one_decision_at_a_time_per_chain(alice_client, task):
    decide(alice_client, task, "commit", message="Greet")
    response, sent = decide(alice_client, task, "discard")
    assert response.status_code == 409 and sent == []
    assert (
        response.json()["error"]
        == "Waiting for Studio to answer: commit. One decision at a time on a branch."
    )
    assert GitAction.objects.count() == 1


def test_merge_needs_a_commit_with_no_later_run(alice_client, alice, project, task):
    response, _ = decide(alice_client, task, "merge")
    assert response.status_code == 409
    assert response.json()["error"] == f"Commit first: nothing is committed on {task.branch} yet."
    decide(alice_client, task, "commit", message="Greet")
    answer(task, commit=COMMIT)
    worktree_task(project, alice, worktree_of=task, prompt="And say goodbye", branch=task.branch)
    response, sent = decide(alice_client, task, "merge")
    assert response.status_code == 409 and sent == []
    assert response.json()["error"] == f"Commit first: the last run on {task.branch} is not committed."
    page = panel(alice_client, task)
    assert "A later run is not committed." in page and "Commit on" in page and "Merge into" not in page


def test_nothing_is_decided_while_a_task_of_the_chain_runs(alice_client, alice, project, task):
    worktree_task(project, alice, worktree_of=task, state=TaskState.RUNNING, branch=task.branch)
    response, sent = decide(alice_client, task, "discard")
    assert response.status_code == 409 and sent == []
    assert "still running" in response.json()["error"]
    assert "Decide once the task has finished." in panel(alice_client, task)


def test_a_member_is_refused_when_only_admins_decide_and_another_team_gets_404(bob, charlie, task):
    Host.objects.filter(id=task.host_id).update(git_role="admin")
    bob_client = login(Client(), bob)
    response, sent = decide(bob_client, task, "discard")
    assert response.status_code == 403 and sent == []
    assert (
        response.json()["error"]
        == "Only the team's owners and admins may commit, merge, push or discard on Studio."
    )
    assert "Only the team's owners and admins may commit" in panel(bob_client, task)
    assert "Discard" not in panel(bob_client, task)
    response, sent = decide(login(Client(), charlie), task, "discard")
    assert response.status_code == 404 and sent == []
    assert not GitAction.objects.exists()


def test_an_unknown_decision_is_404(alice_client, task):
    response, sent = decide(alice_client, task, "rebase")
    assert response.status_code == 404 and sent == []


def test_a_page_post_without_javascript_redirects_or_shows_the_refusal(alice_client, task):
    url = reverse("task_git", args=[task.id, "commit"])
    with ringing():
        assert alice_client.post(url, {"message": "Greet"})["Location"] == reverse(
            "task_detail", args=[task.id]
        )
        refused = alice_client.post(url, {"message": "Again"})
    assert refused.status_code == 409 and "One decision at a time on a branch." in page_text(refused)
