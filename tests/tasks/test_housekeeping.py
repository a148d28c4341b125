"""The beat job that keeps tasks from getting stuck (SECURITY.md 71, 89, 90)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import Host
from tasks.housekeeping import HOST_LOST, housekeeping
from tasks.models import Task, TaskLog, TaskState
from tests.kits.common import make_host
from tests.kits.task_stream import make_task, offering, shared_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(team_a):
    host, _ = make_host(team_a, "Studio")
    return shared_project(offering(host))


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def online(host, channel="link-1"):
    Host.objects.filter(id=host.id).update(link_channel=channel, last_seen_at=timezone.now())


def test_a_queued_task_past_its_time_expires(project, alice):
    old = make_task(project, alice, expires_at=ago(1))
    fresh = make_task(project, alice)
    assert housekeeping().expired == 1
    old.refresh_from_db(), fresh.refresh_from_db()
    assert (old.state, fresh.state) == ("expired", "queued")


def test_an_unacked_assignment_goes_back_to_the_queue(project, alice, settings):
    settings.TASK_ACK_TIMEOUT = 5
    Host.objects.filter(id=project.host_id).update(link_channel="", last_seen_at=ago(1))  # just dropped
    stale = make_task(project, alice, state=TaskState.ASSIGNED, assigned_at=ago(6))
    recent = make_task(project, alice, state=TaskState.ASSIGNED, assigned_at=ago(1))
    acked = make_task(project, alice, state=TaskState.ASSIGNED, assigned_at=ago(60), received_at=ago(59))
    assert housekeeping().requeued == 1
    states = {t.id: t.state for t in Task.objects.all()}
    assert states == {stale.id: "queued", recent.id: "assigned", acked.id: "assigned"}


def test_queued_tasks_of_an_online_host_are_dispatched(project, alice, monkeypatch):
    sent = []
    monkeypatch.setattr("codexhub.events.group_send", lambda group, message: sent.append((group, message)))
    task = make_task(project, alice)
    assert housekeeping().dispatched == 0  # offline: it waits
    online(project.host)
    assert housekeeping().dispatched == 1
    task.refresh_from_db()
    assert task.state == "assigned"
    assert [m["task"]["id"] for g, m in sent if m["type"] == "task.assign"] == [task.id]


def test_a_running_task_of_a_host_gone_past_the_grace_fails_as_host_lost(project, alice, settings):
    settings.TASK_HOST_LOST_GRACE = 30
    running = make_task(project, alice, state=TaskState.RUNNING, started_at=ago(100))
    Host.objects.filter(id=project.host_id).update(link_channel="", last_seen_at=ago(10))
    assert housekeeping().host_lost == 0  # within the grace period
    Host.objects.filter(id=project.host_id).update(last_seen_at=ago(31))
    assert housekeeping().host_lost == 1
    running.refresh_from_db()
    assert (running.state, running.error) == ("failed", HOST_LOST)
    assert housekeeping().host_lost == 0  # and never re-run or re-failed


def test_a_live_host_keeps_its_running_task(project, alice, settings):
    settings.TASK_HOST_LOST_GRACE = 30
    task = make_task(project, alice, state=TaskState.RUNNING)
    online(project.host)
    housekeeping()
    task.refresh_from_db()
    assert task.state == "running"


def test_old_logs_are_pruned(project, alice, settings):
    settings.TASK_LOG_RETENTION_DAYS = 7
    old = make_task(project, alice, state=TaskState.SUCCEEDED, finished_at=ago(8 * 86400))
    new = make_task(project, alice, state=TaskState.SUCCEEDED, finished_at=ago(60))
    for task in (old, new):
        TaskLog.objects.create(task=task, seq=1, text="output\n")
    assert housekeeping().pruned == 1
    assert list(TaskLog.objects.values_list("task_id", flat=True)) == [new.id]
    old.refresh_from_db()
    assert old.log_pruned
