"""The sweep that keeps no task stuck: expiry, queueing again what a host never
acked, dispatching, failing tasks whose host was lost, pruning old logs, telling of quiet hosts,
failing git requests and requests to manage a host that no host answered.
Run by Celery beat (tasks.jobs) or the in-process beat (tasks.beat)."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from devices.models import Host, HostState
from projects.images import fetch_prune
from projects.manage import manage_actions_expire
from tasks.git import git_actions_expire
from tasks.models import FINISHED_STATES, Task, TaskLog, TaskState
from tasks.notify import permission_reminders
from tasks.services import end_session, host_dispatch, record_end

logger = logging.getLogger(__name__)
HOST_LOST = "host lost: the host went offline while it had the task"


@dataclass
class Swept:
    expired: int = 0
    requeued: int = 0
    dispatched: int = 0
    host_lost: int = 0
    pruned: int = 0
    hosts_offline: int = 0
    reminded: int = 0
    fetches_pruned: int = 0
    git_expired: int = 0
    manage_expired: int = 0


def housekeeping() -> Swept:
    """Run by Celery beat (or in-process without Redis) every TASK_SWEEP_INTERVAL."""
    now = timezone.now()
    swept = Swept()
    swept.expired = _fail_where(Q(state=TaskState.QUEUED, expires_at__lte=now), TaskState.EXPIRED, "")
    ack_deadline = now - timedelta(seconds=settings.TASK_ACK_TIMEOUT)
    swept.requeued = Task.objects.filter(
        state=TaskState.ASSIGNED, received_at__isnull=True, assigned_at__lte=ack_deadline
    ).update(state=TaskState.QUEUED)
    for host_id in set(Task.objects.filter(state=TaskState.QUEUED).values_list("host_id", flat=True)):
        swept.dispatched += host_dispatch(host_id=host_id)
    lost_after = now - timedelta(seconds=settings.TASK_HOST_LOST_GRACE)
    gone = (
        Q(host__last_seen_at__isnull=True)
        | Q(host__last_seen_at__lte=lost_after)
        | ~Q(host__state=HostState.ACTIVE)
    )
    held = Q(state=TaskState.RUNNING) | Q(state=TaskState.ASSIGNED, received_at__isnull=False)
    swept.host_lost = _fail_where(held & gone, TaskState.FAILED, HOST_LOST)
    swept.pruned = _prune_logs(now)
    swept.hosts_offline = _hosts_gone_quiet(now)
    swept.reminded = permission_reminders()
    swept.fetches_pruned = fetch_prune(now=now)
    swept.git_expired = git_actions_expire(now=now)
    swept.manage_expired = manage_actions_expire(now=now)
    if any(vars(swept).values()):
        logger.info("task housekeeping: %s", swept)
    return swept


def _fail_where(condition: Q, state: str, error: str) -> int:
    count = 0
    for task_id in Task.objects.filter(condition).values_list("id", flat=True):
        with transaction.atomic():
            task = Task.objects.select_for_update().get(id=task_id)
            if task.state in FINISHED_STATES:
                continue
            task.state, task.error, task.finished_at = state, error, timezone.now()
            task.save(update_fields=["state", "error", "finished_at"])
            end_session(task)
            record_end(task, reason=error or state)
            count += 1
    return count


def _hosts_gone_quiet(now) -> int:
    """Hosts offline for HOST_OFFLINE_NOTIFY_AFTER, told once per outage."""
    from devices.notify import notify_host_offline

    quiet_since = now - timedelta(seconds=settings.HOST_OFFLINE_NOTIFY_AFTER)
    hosts = Host.objects.filter(state=HostState.ACTIVE, last_seen_at__lte=quiet_since).filter(
        Q(offline_notified_at__isnull=True) | Q(offline_notified_at__lt=F("last_seen_at"))
    )
    count = 0
    for host in hosts:
        if Host.objects.filter(id=host.id, last_seen_at=host.last_seen_at).update(offline_notified_at=now):
            notify_host_offline(host=host)
            count += 1
    return count


def _prune_logs(now) -> int:
    before = now - timedelta(days=settings.TASK_LOG_RETENTION_DAYS)
    old = Task.objects.filter(finished_at__lte=before, log_pruned=False)
    ids = list(old.values_list("id", flat=True)[:1000])
    if ids:
        TaskLog.objects.filter(task_id__in=ids).delete()
        Task.objects.filter(id__in=ids).update(log_pruned=True)
    return len(ids)
