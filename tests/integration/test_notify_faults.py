"""SECURITY.md 77 with real processes: the Celery worker running a notify job
is SIGKILLed after one device's push went out and while the next is in
flight; the redelivered job sends the first device nothing more."""

import re
import signal
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from accounts.models import Membership, Role, Team
from notifications import vapid
from tasks.jobs import notify_task_job
from tasks.models import Task, TaskState
from tests.kits.common import make_host, make_user
from tests.kits.processes import Worker, hub_env, publish_job, wait_until
from tests.kits.task_stream import make_task, offering, shared_project
from tests.notifications.pushservice import PushService


@dataclass
class PushWorld:
    service: PushService
    env: dict[str, str]
    task: Task
    first: str  # the path of the phone's subscription
    second: str  # the watch's


@pytest.fixture
def push_world(transactional_db, tmp_path, redis_url):
    """A finished task whose sender has two Web Push devices (a phone and a
    watch) at the local push service, and the hub's settings for a worker."""
    with PushService() as service:
        key_file = tmp_path / "vapid.pem"
        vapid.generate(key_file)
        env = hub_env(
            REQUESTS_CA_BUNDLE=service.ca_file,
            WEBPUSH_ALLOWED_HOSTS=service.url.removeprefix("https://"),
            VAPID_PRIVATE_KEY_FILE=str(key_file),
            WEBPUSH_CONTACT="mailto:ops@example.com",
            REDIS_URL=redis_url,
        )
        user = make_user("mia@example.com")
        team = Team.objects.create(name="Mia's")
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
        host, _ = make_host(team, "studio")
        task = make_task(shared_project(offering(host)), user, state=TaskState.SUCCEEDED)
        phone, watch = service.device_for(user, "phone"), service.device_for(user, "watch")
        first, second = (urlsplit(d.registration_id).path for d in (phone, watch))
        yield PushWorld(service, env, task, first, second)


def test_a_notify_job_killed_after_sending_pushes_once_per_device(push_world, logs):
    service, first, second = push_world.service, push_world.first, push_world.second
    env = {**push_world.env, "CELERY_VISIBILITY_TIMEOUT": "2"}
    service.hold_once(second)
    worker = Worker(env, logs, beat=False)
    try:
        publish_job(env, notify_task_job.name, push_world.task.id)
        wait_until(lambda: service.accepted(first) == 1, timeout=20, what="the phone's push")
        wait_until(lambda: second in service.holding, timeout=10, what="the watch's push in flight")
        worker.popen.send_signal(signal.SIGKILL)
        worker.popen.wait(10)
        worker.stop()
        worker = Worker(env, logs, beat=False)  # the job comes back after the visibility timeout
        wait_until(lambda: service.accepted(second) == 1, timeout=30, what="the redelivered job")
        assert service.accepted(first) == 1
    finally:
        service.release_all()
        worker.stop()


def test_a_busy_push_service_is_retried_by_the_worker_once_per_device(push_world, logs):
    """A real worker: the watch's push fails with a 503, the notify job hands it
    to the push job, which fails once more and is retried by Celery after its
    countdown. The phone, already sent, is not pushed again."""
    service, first, second = push_world.service, push_world.first, push_world.second
    env = {**push_world.env, "PUSH_RETRY_BASE": "0.2"}
    service.respond_with(201, 503, 503)  # the phone's push, then the watch's two
    worker = Worker(env, logs, beat=False)
    try:
        publish_job(env, notify_task_job.name, push_world.task.id)
        wait_until(lambda: service.accepted(second) == 1, timeout=30, what="the watch's push, retried")
        assert service.attempts == [(first, 201), (second, 503), (second, 503), (second, 201)]
        retried = re.compile(r"notifications\.jobs\.push_job\[[^]]+\] retry: Retry in 0\.4s")
        wait_until(lambda: retried.search(worker.output()), timeout=10, what="Celery's retry")
    finally:
        worker.stop()
