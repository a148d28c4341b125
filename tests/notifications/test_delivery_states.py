"""What a push really did, against the local push service answering 201,
404/410, 429 and 500 or not answering at all: each device's last delivery,
its last error in words, its state, and the test notification's result per
device, as the settings page shows them."""

from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from push_notifications.models import WebPushDevice

from notifications import services
from notifications.jobs import push_job
from notifications.models import Delivery, DeviceHealth
from notifications.services import Notice, notice_push

pytestmark = pytest.mark.django_db

NOTICE = Notice(title="Done · Tidy", body="notes on studio", url="/tasks/7/", tag="task-7")


def device(user, push_service, name="Pixel") -> WebPushDevice:
    return push_service.device_for(user, name)


def path_of(phone: WebPushDevice) -> str:
    return urlsplit(phone.registration_id).path


def retry_until_done(jobs_enqueued) -> None:
    """Run the push job as Celery would, its retries included."""
    for name, *args in list(jobs_enqueued):
        if name == push_job.name:
            push_job.apply(args=args, throw=False)


def settings_page(client) -> str:
    return client.get(reverse("notification_settings")).content.decode()


def test_a_delivered_push_is_the_devices_last_delivery(alice_client, alice, push_service):
    phone = device(alice, push_service)
    assert notice_push(user=alice, notice=NOTICE, key="task:7") == 1
    health = DeviceHealth.objects.get(kind="webpush", device_id=phone.id)
    assert health.last_sent_at is not None and health.last_error == "" and not health.failing
    page = settings_page(alice_client)
    assert "Last delivered just now." in page and ">On</span>" in page


@pytest.mark.parametrize("status, words", [(404, "404 Not Found"), (410, "410 Gone")])
def test_a_device_the_push_service_dropped_is_turned_off_and_says_why(
    alice_client, alice, push_service, jobs_enqueued, status, words
):
    phone = device(alice, push_service)
    push_service.respond_with(status)
    assert notice_push(user=alice, notice=NOTICE, key="task:7") == 0
    assert jobs_enqueued == []  # for good: never retried
    phone.refresh_from_db()
    assert phone.active is False
    why = services.PUSH_GONE.format(status=words)
    assert DeviceHealth.objects.get(device_id=phone.id).off_reason == why
    delivery = Delivery.objects.get()
    assert delivery.error == why and delivery.gave_up_at is not None
    page = settings_page(alice_client)
    assert f"Turned off by the hub: {why}" in page and ">Off</span>" in page

    # The person turns it on again: the reason goes, the last error stays to read.
    alice_client.post(reverse("device_toggle", args=["webpush", phone.id]))
    page = settings_page(alice_client)
    assert "Turned off by the hub" not in page and f"Last error just now: {why}" in page


@pytest.mark.parametrize(
    "status, words",
    [
        (429, services.PUSH_SLOW_DOWN.format(status="429 Too Many Requests")),
        (500, services.PUSH_SERVER_FAILED.format(status="500 Internal Server Error")),
    ],
)
def test_a_busy_push_service_is_retried_then_the_failure_is_final(
    alice_client, alice, push_service, jobs_enqueued, status, words
):
    phone = device(alice, push_service)
    push_service.respond_with(status, status, status)
    assert notice_push(user=alice, notice=NOTICE, key="task:7") == 0
    assert Delivery.objects.get().gave_up_at is None  # still trying
    retry_until_done(jobs_enqueued)
    assert push_service.attempts == [(path_of(phone), status)] * services.RETRIES
    delivery = Delivery.objects.get()
    assert delivery.error == f"{words} Tried 3 times." and delivery.gave_up_at is not None
    phone.refresh_from_db()
    assert phone.active is True  # a busy service is no reason to drop the device
    page = settings_page(alice_client)
    assert ">Failing</span>" in page and f"Last error just now: {words}" in page
    assert "Never delivered yet." in page


def test_a_push_service_that_never_answers_times_out_and_is_retried(
    alice, push_service, jobs_enqueued, settings, monkeypatch
):
    monkeypatch.setitem(settings.PUSH_NOTIFICATIONS_SETTINGS, "WP_ERROR_TIMEOUT", 0.5)
    phone = device(alice, push_service)
    push_service.hold_once(path_of(phone))
    try:
        assert notice_push(user=alice, notice=NOTICE, key="task:7") == 0
    finally:
        push_service.release_all()
    timed_out = services.PUSH_TIMED_OUT.format(seconds=0.5)
    assert Delivery.objects.get().error == timed_out == "The push service did not answer within 0.5 s."
    assert DeviceHealth.objects.get().last_error == timed_out
    retry_until_done(jobs_enqueued)  # the next try gets through
    assert push_service.accepted(path_of(phone)) == 1
    delivery = Delivery.objects.get()
    assert delivery.sent_at is not None and delivery.error == ""
    assert not DeviceHealth.objects.get().failing


# The test notification ------------------------------------------------------------------


def test_the_test_reports_what_happened_on_each_device(
    alice_client, alice, push_service, django_capture_on_commit_callbacks, jobs_enqueued
):
    phone, laptop = device(alice, push_service, "Pixel"), device(alice, push_service, "Laptop")
    push_service.respond_with(201, 410)
    response = alice_client.post(reverse("notification_test"))
    run = int(response["Location"].split("test=")[1].split("#")[0])
    assert response["Location"] == f"/settings/notifications/?test={run}#test-results"
    results_url = reverse("notification_test_results", args=[run])
    assert alice_client.get(results_url).json()["done"] is False  # the job has not run yet
    ((name, *args),) = jobs_enqueued
    from notifications.jobs import notify_test_job

    notify_test_job.apply(args=args)
    answer = alice_client.get(results_url).json()
    assert answer == {
        "done": True,
        "devices": [
            {
                "kind": "webpush",
                "id": phone.id,
                "name": "Pixel",
                "state": "delivered",
                "text": "Delivered to the push service.",
            },
            {
                "kind": "webpush",
                "id": laptop.id,
                "name": "Laptop",
                "state": "failed",
                "text": "Failed: " + services.PUSH_GONE.format(status="410 Gone"),
            },
        ],
    }
    page = alice_client.get(response["Location"]).content.decode()
    assert "Sent. It should show" not in page
    assert "Delivered to the push service." in page and "Failed: The push service no longer knows" in page


def test_a_test_with_no_device_on_says_so(alice_client, alice, push_service, jobs_enqueued):
    phone = device(alice, push_service)
    alice_client.post(reverse("device_toggle", args=["webpush", phone.id]))
    response = alice_client.post(reverse("notification_test"), follow=True)
    assert jobs_enqueued == []
    assert "No device is on: enable notifications on this device" in response.content.decode()


def test_someone_elses_test_is_404_and_shows_nothing(
    alice_client, alice, push_service, client, jobs_enqueued
):
    from tests.kits.common import login, make_user

    device(alice, push_service)
    location = alice_client.post(reverse("notification_test"))["Location"]
    run = location.split("test=")[1].split("#")[0]
    mallory = login(client, make_user("mallory@example.com"))
    assert mallory.get(f"/settings/notifications/test/{run}/").status_code == 404
    assert 'id="test-results"' not in mallory.get(location).content.decode()


@pytest.mark.parametrize(
    "run", ["99999999999999999999999999", "12345678901234567890123", "1700000000000000000"]
)
def test_a_made_up_test_name_is_404(alice_client, run):
    response = alice_client.get(f"/settings/notifications/test/{run}/")
    assert response.status_code == 404
