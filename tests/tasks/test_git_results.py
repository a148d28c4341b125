"""What the hub keeps of a host's git reports: task.started says where a worktree task
runs; a git.result that does not fit the protocol is refused and changes nothing; a
request no host answers fails after GIT_ACTION_TTL; a link that opens is sent the
pending requests after its assignments."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from devices.hooks import link_open_messages
from devices.services import REJECTED
from tasks import git
from tasks.housekeeping import housekeeping
from tasks.models import GitAction, TaskState
from tests.kits.common import make_host, page_text
from tests.kits.git_stream import BASE_COMMIT, GitStream, git_project, worktree_task
from tests.kits.sessions import ringing
from tests.kits.task_stream import CLAUDE, TaskStream, make_task, offering

pytestmark = pytest.mark.django_db
ASKED = "<the pending request>"


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return git_project(offering(host, CLAUDE))


@pytest.fixture
def task(project, alice):
    return worktree_task(project, alice)


def commit(task, user):
    with ringing():
        return git.git_commit(user=user, task=task, message="Greet")


def test_task_started_says_where_a_worktree_task_runs(project, alice):
    task = make_task(project, alice, workspace="worktree", state=TaskState.ASSIGNED)
    in_copy = make_task(project, alice, state=TaskState.ASSIGNED)
    stream = TaskStream(project.host_id)
    where = {"branch": f"codexhub/{task.id}-tidy", "base": "main", "base_commit": BASE_COMMIT}
    stream.send("task.started", {"task_id": task.id, **where})
    stream.send("task.started", {"task_id": in_copy.id, **where})
    task.refresh_from_db()
    in_copy.refresh_from_db()
    assert (task.branch, task.base, task.base_commit) == (where["branch"], "main", BASE_COMMIT)
    assert (in_copy.branch, in_copy.base, in_copy.state) == ("", "", "running")


@pytest.mark.parametrize(
    "payload",
    [
        {"request": "short", "ok": True},
        {"request": "a/b" * 8, "ok": True},
        {"ok": True},
        {"request": ASKED, "ok": "yes"},
        {"request": ASKED, "ok": True, "commit": "not-a-sha"},
        {"request": ASKED, "ok": True, "pr_url": "javascript:alert(1)"},
        {"request": ASKED, "ok": True, "state": {"branch": "--upload-pack=x"}},
    ],
)
def test_a_result_that_does_not_fit_is_refused_and_changes_nothing(task, alice, payload):
    action = commit(task, alice)
    payload = {**payload, "request": action.request} if payload.get("request") == ASKED else payload
    assert GitStream(task.host_id).send("git.result", payload).outcome == REJECTED
    action.refresh_from_db()
    assert action.state == "pending"


def test_a_request_no_host_answers_fails_after_the_ttl(alice_client, alice, task, settings):
    settings.GIT_ACTION_TTL = 60
    action = commit(task, alice)
    assert housekeeping().git_expired == 0
    GitAction.objects.filter(id=action.id).update(created_at=timezone.now() - timedelta(seconds=61))
    with ringing() as sent:
        assert housekeeping().git_expired == 1
    action.refresh_from_db()
    assert (action.state, action.error) == ("failed", "the host did not answer")
    assert ("task." + str(task.id), {"type": "task.changed", "task": task.id, "state": "succeeded"}) in sent
    assert AuditEvent.objects.get(action="git.commit.failed").detail["error"] == "the host did not answer"
    page = page_text(alice_client.get(reverse("task_detail", args=[task.id])))
    assert "Commit failed." in page and "the host did not answer" in page
    assert link_open_messages(host_id=task.host_id) == []  # never sent again
    assert housekeeping().git_expired == 0


def test_a_link_that_opens_gets_its_assignments_then_its_pending_requests(project, alice, task):
    action = commit(task, alice)
    queued = make_task(project, alice, prompt="Next")
    messages = link_open_messages(host_id=project.host_id)
    assert [m["type"] for m in messages] == ["task.assign", "git.request"]
    assert messages[0]["task"]["id"] == queued.id and messages[1] == action.params


def test_staff_read_the_requests_in_the_admin_and_change_nothing(staff_client, alice, task):
    action = commit(task, alice)
    GitStream(task.host_id).result(action.request, ok=False, error="fatal: <i>locked</i>")
    listing = staff_client.get(reverse("admin:tasks_gitaction_changelist")).content.decode()
    assert "Commit" in listing and "Failed" in listing
    page = staff_client.get(reverse("admin:tasks_gitaction_change", args=[action.id])).content.decode()
    assert "fatal: &lt;i&gt;locked&lt;/i&gt;" in page and 'name="_save"' not in page
    assert staff_client.post(reverse("admin:tasks_gitaction_delete", args=[action.id])).status_code == 403
