"""Web Push end to end through the real code: registration from the browser,
then django-push-notifications posting to a local push service that checks
the VAPID signature and decrypts the payload (SECURITY.md 34, 74-78)."""

import json

import pytest
from django.test import Client
from django.urls import reverse
from push_notifications.models import WebPushDevice

from accounts.models import User
from notifications import services
from notifications.jobs import push_job
from notifications.models import Preference
from tasks.models import TaskState
from tasks.notify import notify_task
from tests.kits.common import login, make_host
from tests.kits.task_stream import make_task, offering, shared_project

pytestmark = pytest.mark.django_db

CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
)


def register(client, subscription: dict, **extra):
    body = {"subscription": subscription, **extra}
    return client.post(
        reverse("webpush_subscribe"),
        json.dumps(body),
        content_type="application/json",
        HTTP_USER_AGENT=CHROME_ANDROID,
    )


@pytest.fixture
def task(team_a, alice):
    host, _ = make_host(team_a, "studio")
    project = shared_project(offering(host), name="notes")
    return make_task(project, alice, prompt="Turn this into a bulleted list", state=TaskState.SUCCEEDED)


def test_a_browser_registers_and_gets_the_end_of_its_task(alice_client, alice, bob, task, push_service):
    subscription = push_service.subscribe()
    response = register(alice_client, subscription.as_json(), user=bob.id, user_id=bob.id)
    assert response.status_code == 201 and response.json()["name"] == "Chrome on Android"
    device = WebPushDevice.objects.get()
    assert device.user == alice and device.browser == "CHROME"  # never the user the body names

    assert notify_task(task_id=task.id) == 1
    (push,) = push_service.wait_for(1)
    assert (
        push.vapid_claims["aud"] == push_service.url and push.vapid_claims["sub"] == "mailto:ops@example.com"
    )
    assert push.json() == {
        "title": "Done · Turn this into a bulleted list",
        "body": "notes on studio",
        "url": f"/tasks/{task.id}/",
        "tag": f"task-{task.id}",
    }


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://fcm.googleapis.com/fcm/send/abc",
        "https://127.0.0.1/push/abc",
        "https://localhost:8443/push/abc",
        "https://10.0.0.5/push/abc",
        "https://192.168.1.20/push/abc",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/push",
        "https://evil.example/push",
        "https://fcm.googleapis.com.evil.example/push",
        "https://user:pass@fcm.googleapis.com/push",
        "https://fcm.googleapis.com:8443/push",
    ],
)
def test_endpoints_outside_the_push_services_are_refused(alice_client, settings, endpoint):
    settings.WEBPUSH_ALLOWED_HOSTS = ["fcm.googleapis.com", "*.push.apple.com"]
    keys = {"p256dh": "B" + "A" * 86, "auth": "A" * 22}
    response = register(alice_client, {"endpoint": endpoint, "keys": keys})
    assert response.status_code == 400
    assert response.json()["error"] in (services.ENDPOINT_REFUSED, services.BAD_SUBSCRIPTION)
    assert not WebPushDevice.objects.exists()


def test_known_push_services_are_accepted(alice_client, settings):
    settings.WEBPUSH_ALLOWED_HOSTS = ["fcm.googleapis.com", "*.push.apple.com"]
    keys = {"p256dh": "B" + "A" * 86, "auth": "A" * 22}
    for endpoint in ("https://fcm.googleapis.com/fcm/send/abc", "https://web.push.apple.com/QGz"):
        assert register(alice_client, {"endpoint": endpoint, "keys": keys}).status_code == 201
    assert WebPushDevice.objects.count() == 2


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", json.dumps({"subscription": {"endpoint": "https://x"}}).encode(), b"{" * 9000],
)
def test_a_malformed_registration_is_400(alice_client, body):
    response = alice_client.post(reverse("webpush_subscribe"), body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]
    assert not WebPushDevice.objects.exists()


def test_a_gone_subscription_is_turned_off_without_retrying(alice_client, alice, task, push_service):
    register(alice_client, push_service.subscribe().as_json())
    push_service.respond_with(410)
    assert notify_task(task_id=task.id) == 0
    assert [status for _, status in push_service.attempts] == [410]
    assert WebPushDevice.objects.get().active is False
    task.refresh_from_db()
    assert task.state == "succeeded"


def retried_by_the_push_job(jobs_enqueued) -> int:
    """The push job notify_task handed over, run here with Celery's retries (at once)."""
    ((name, *args),) = jobs_enqueued
    assert name == push_job.name
    return push_job.apply(args=args, throw=False).get()


def test_a_busy_push_service_is_retried_with_backoff(
    alice_client, alice, task, push_service, jobs_enqueued, django_capture_on_commit_callbacks
):
    register(alice_client, push_service.subscribe().as_json())
    push_service.respond_with(503, 503, 201)
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_task(task_id=task.id) == 0  # the first try; Celery retries the push job
    assert retried_by_the_push_job(jobs_enqueued) == 1
    assert [status for _, status in push_service.attempts] == [503, 503, 201]


def test_three_failures_give_up_and_the_task_is_untouched(
    alice_client, alice, task, push_service, jobs_enqueued, django_capture_on_commit_callbacks
):
    register(alice_client, push_service.subscribe().as_json())
    push_service.respond_with(503, 503, 503, 503)
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_task(task_id=task.id) == 0
    assert retried_by_the_push_job(jobs_enqueued) == 0
    assert len(push_service.attempts) == 3
    assert WebPushDevice.objects.get().active is True
    task.refresh_from_db()
    assert task.state == "succeeded"


def test_a_long_prompt_sends_its_first_words_only(alice_client, alice, task, push_service):
    task.prompt = "Rewrite " + "very " * 2000 + "SECRET-TAIL"
    task.save()
    register(alice_client, push_service.subscribe().as_json())
    notify_task(task_id=task.id)
    (push,) = push_service.wait_for(1)
    assert len(push.payload) <= 4096
    data = push.json()
    assert "SECRET-TAIL" not in push.payload.decode() and data["title"].endswith("…")
    assert set(data) == {"title", "body", "url", "tag"}


def test_a_redelivered_job_pushes_once_per_device(alice_client, alice, task, push_service):
    register(alice_client, push_service.subscribe().as_json())
    assert notify_task(task_id=task.id) == 1
    assert notify_task(task_id=task.id) == 0  # the job again, after a worker died
    assert len(push_service.attempts) == 1


def test_preferences_off_means_nothing_is_sent(alice_client, alice, task, push_service):
    register(alice_client, push_service.subscribe().as_json())
    Preference.objects.update_or_create(user=alice, defaults={"task_succeeded": False})
    assert notify_task(task_id=task.id) == 0
    assert push_service.requests_count == 0


def test_a_device_switched_off_gets_nothing(alice_client, alice, task, push_service):
    register(alice_client, push_service.subscribe().as_json())
    device = WebPushDevice.objects.get()
    alice_client.post(reverse("device_toggle", args=["webpush", device.id]))
    assert notify_task(task_id=task.id) == 0
    assert push_service.requests_count == 0


def test_someone_elses_device_cannot_be_removed(alice_client, charlie, push_service):
    register(login(Client(), charlie), push_service.subscribe().as_json())
    device = WebPushDevice.objects.get(user=charlie)
    for name in ("device_remove", "device_toggle"):
        assert alice_client.post(reverse(name, args=["webpush", device.id])).status_code == 404
    assert alice_client.post(reverse("device_remove", args=["nope", device.id])).status_code == 404
    assert WebPushDevice.objects.get(id=device.id).active


def test_cancelling_ones_own_task_does_not_notify(alice_client, alice, task, push_service):
    register(alice_client, push_service.subscribe().as_json())
    task.state, task.cancelled_by = TaskState.CANCELLED, alice
    task.save()
    assert notify_task(task_id=task.id) == 0
    task.cancelled_by = User.objects.create_user(username="ops", email="ops@example.com")
    task.save()
    assert notify_task(task_id=task.id) == 1


def test_the_test_notification_is_rate_limited(
    alice_client, settings, push_service, jobs_enqueued, django_capture_on_commit_callbacks
):
    register(alice_client, push_service.subscribe().as_json())
    settings.NOTIFY_TEST_RATE = "2/m"
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [alice_client.post(reverse("notification_test")).status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    assert len(jobs_enqueued) == 2


def test_a_finished_task_hands_its_notification_over(team_a, alice, jobs_enqueued):
    from tests.kits.task_stream import TaskStream

    host, _ = make_host(team_a, "studio")
    task = make_task(shared_project(offering(host)), alice, state=TaskState.RUNNING)
    from unittest import mock

    with mock.patch("django.db.transaction.on_commit", lambda f: f()):
        TaskStream(host.id).finished(task.id, outcome="failed", exit_code=1)
    assert jobs_enqueued == [("tasks.jobs.notify_task_job", task.id)]
