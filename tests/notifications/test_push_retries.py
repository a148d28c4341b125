"""A push that fails for a moment is retried by Celery through the push job,
never in a sleeping loop; the Delivery keys keep every device at one push."""

from urllib.parse import urlsplit

import pytest

from codexhub import jobs
from notifications.jobs import push_job
from notifications.models import Delivery, InboxEntry
from notifications.services import Notice, notice_push
from tests.kits.processes import wait_until

NOTICE = Notice(title="Done · Tidy", body="notes on studio", url="/tasks/7/", tag="task-7")


def devices(user, push_service, *names):
    return [urlsplit(push_service.device_for(user, name).registration_id).path for name in names]


@pytest.mark.django_db
def test_a_retry_pushes_only_the_device_that_failed(
    alice, push_service, jobs_enqueued, django_capture_on_commit_callbacks
):
    phone, watch = devices(alice, push_service, "phone", "watch")
    push_service.respond_with(201, 503)
    with django_capture_on_commit_callbacks(execute=True):
        assert notice_push(user=alice, notice=NOTICE, key="task:7") == 1
    ((name, *args),) = jobs_enqueued
    assert (name, args) == (push_job.name, [alice.id, NOTICE.as_job_argument(), "task:7"])
    assert push_job.apply(args=args, throw=False).get() == 1
    assert push_job.apply(args=args, throw=False).get() == 0  # redelivered: nothing twice
    assert push_service.attempts == [(phone, 201), (watch, 503), (watch, 201)]
    assert Delivery.objects.filter(sent_at__isnull=False).count() == 2
    assert InboxEntry.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_embedded_hub_retries_on_a_thread_after_the_countdown(alice, push_service, jobs_enqueued):
    """No worker (CELERY_TASK_ALWAYS_EAGER): codexhub.jobs runs the push job off
    the caller's thread and brings Celery's retry back after its countdown."""
    (phone,) = devices(alice, push_service, "phone")
    push_service.respond_with(503, 503, 201)
    assert notice_push(user=alice, notice=NOTICE, key="task:7") == 0  # committed: handed over at once
    ((_, *args),) = jobs_enqueued
    jobs._run_in_background(push_job, tuple(args), {"countdown": 0.01})
    push_service.wait_for(1)
    assert push_service.attempts == [(phone, 503), (phone, 503), (phone, 201)]
    wait_until(
        lambda: Delivery.objects.filter(sent_at__isnull=False).count() == 1, timeout=5, what="the delivery"
    )
