"""What a host reports on the `tasks` stream, applied exactly once; anything
about another host's task or malformed is refused and writes nothing."""

from unittest import mock

import pytest

from devices.services import APPLIED, DUPLICATE, REJECTED
from tasks.models import Task, TaskFileChange, TaskLog, TaskState
from tests.kits.common import make_host
from tests.kits.task_stream import TaskStream, make_task, offering, shared_project

pytestmark = pytest.mark.django_db

DIFF = "--- a/README.md\n+++ b/README.md\n@@ -1,2 +1,2 @@\n # Notes\n-First line\n+- First line\n"


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return shared_project(offering(host))


@pytest.fixture
def task(project, alice):
    return make_task(project, alice, state=TaskState.ASSIGNED)


def state_of(task) -> str:
    task.refresh_from_db()
    return task.state


def test_a_run_from_ack_to_result(task, project):
    stream = TaskStream(project.host_id)
    assert stream.received(task.id).outcome == APPLIED
    assert state_of(task) == "assigned" and task.received_at is not None
    stream.started(task.id)
    assert state_of(task) == "running" and task.started_at is not None
    stream.log(task.id, 1, "line 1\n")
    stream.log(task.id, 2, "line 2\n")
    change = {"path": "README.md", "op": "modified", "diff": DIFF}
    stream.finished(
        task.id, exit_code=0, duration=2.5, changes=[change, {"path": "logo.png", "op": "created"}]
    )
    assert state_of(task) == "succeeded"
    assert (task.exit_code, task.duration, task.finished_at is not None) == (0, 2.5, True)
    assert "".join(task.logs.values_list("text", flat=True)) == "line 1\nline 2\n"
    changes = {c.path: c for c in TaskFileChange.objects.filter(task=task)}
    assert changes["README.md"].diff == DIFF and changes["logo.png"].diff is None


def test_a_message_repeated_on_the_stream_is_applied_once(task, project):
    stream = TaskStream(project.host_id)
    stream.log(task.id, 1, "once\n")
    assert (
        stream.send("task.log", {"task_id": task.id, "seq": 1, "text": "once\n"}, seq=1).outcome == DUPLICATE
    )
    # A log piece sent again under a new stream number (outbox renumbered) is still one line.
    stream.log(task.id, 1, "once\n")
    assert TaskLog.objects.filter(task=task).count() == 1


def test_the_first_verdict_stands(task, project):
    stream = TaskStream(project.host_id)
    Task.objects.filter(id=task.id).update(state=TaskState.FAILED, error="host lost")
    stream.finished(task.id, outcome="succeeded")
    assert state_of(task) == "failed" and task.error == "host lost"


def test_another_hosts_task_is_refused(task, team_a, alice):
    other, _ = make_host(team_a, "Other")
    stream = TaskStream(other.id)
    for send in (stream.received, stream.started, lambda i: stream.finished(i, outcome="failed")):
        assert send(task.id).outcome == REJECTED
    assert state_of(task) == "assigned" and task.received_at is None


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("task.finished", {"outcome": "exploded"}),
        ("task.finished", {"outcome": "failed", "exit_code": "1"}),
        ("task.finished", {"outcome": "failed", "duration": -1}),
        ("task.finished", {"outcome": "succeeded", "changes": [{"path": "../etc/passwd", "op": "modified"}]}),
        ("task.finished", {"outcome": "succeeded", "changes": [{"path": "/etc/passwd", "op": "modified"}]}),
        ("task.finished", {"outcome": "succeeded", "changes": [{"path": "a", "op": "chmod"}]}),
        ("task.finished", {"outcome": "succeeded", "changes": [{"path": "a", "op": "created"}] * 101}),
        ("task.log", {"seq": 0, "text": "x"}),
        ("task.log", {"seq": 1, "text": None}),
        ("task.received", {"task_id": "1"}),
        ("task.received", {"task_id": -1}),
    ],
)
def test_malformed_reports_are_refused_and_write_nothing(task, project, kind, payload):
    payload = {"task_id": task.id, **payload}
    result = TaskStream(project.host_id).send(kind, payload)
    assert result.outcome == REJECTED
    assert state_of(task) == "assigned"
    assert not TaskLog.objects.exists() and not TaskFileChange.objects.exists()


def test_output_with_nul_is_kept_readable(task, project):
    TaskStream(project.host_id).log(task.id, 1, "a\x00b")
    assert TaskLog.objects.get().text == "a\ufffdb"


def test_a_host_that_acks_a_cancelled_task_is_told_to_cancel_it(task, project):
    Task.objects.filter(id=task.id).update(state=TaskState.EXPIRED)
    with (
        mock.patch("codexhub.events.group_send") as group_send,
        mock.patch("django.db.transaction.on_commit", lambda f: f()),
    ):
        TaskStream(project.host_id).received(task.id)
    group_send.assert_any_call(f"host.{project.host_id}", {"type": "task.cancel", "task_id": task.id})
    assert state_of(task) == "expired"


def test_phones_hear_of_logs_and_state(task, project):
    with (
        mock.patch("codexhub.events.group_send") as group_send,
        mock.patch("django.db.transaction.on_commit", lambda f: f()),
    ):
        stream = TaskStream(project.host_id)
        stream.started(task.id)
        stream.log(task.id, 1, "hello\n")
    sent = [args for args, _ in group_send.call_args_list]
    assert (f"task.{task.id}", {"type": "task.log", "task": task.id, "seq": 1}) in sent
    changed = {"type": "task.changed", "task": task.id, "state": "running"}
    assert (f"task.{task.id}", changed) in sent and (f"team.{project.host.team_id}", changed) in sent
