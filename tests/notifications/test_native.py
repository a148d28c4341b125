"""APNs and FCM: tokens registered through the JSON API for the signed-in user,
the payloads the library would send for each outcome, the admin status, and
the toast on open pages (SECURITY.md 34, 76)."""

import json

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse
from push_notifications.apns_async import _create_notification_request_from_args
from push_notifications.gcm import dict_to_fcm_message
from push_notifications.models import APNSDevice, GCMDevice

from accounts.groups import user_group
from codexhub.events import group_send
from notifications import services
from tasks.notify import notify_task, task_message
from tests.kits.common import login, make_host
from tests.kits.task_stream import make_task, offering, shared_project
from tests.kits.ui_socket import OUR_ORIGIN, headers_for, open_socket

APNS_TOKEN = "a1" * 32


def api(client, body):
    return client.post(reverse("api_push_register"), json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_tokens_are_bound_to_the_signed_in_user(alice_client, alice, bob):
    response = api(alice_client, {"type": "apns", "token": APNS_TOKEN, "name": "Apple Watch", "user": bob.id})
    assert response.status_code == 201
    assert api(alice_client, {"type": "fcm", "token": "fcm:" + "x" * 140, "name": "Pixel"}).status_code == 201
    assert APNSDevice.objects.get().user == alice
    assert GCMDevice.objects.get().user == alice and GCMDevice.objects.get().cloud_message_type == "FCM"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"type": "wns", "token": APNS_TOKEN},
        {"type": "apns", "token": "not hex at all"},
        {"type": "apns", "token": "ab"},
        {"type": "fcm", "token": "x" * 5000},
        {"type": "fcm", "token": "bad\x00token"},
        {"type": "fcm"},
    ],
)
def test_bad_tokens_are_400(alice_client, body):
    response = api(alice_client, body)
    assert response.status_code == 400 and response.json()["error"]
    assert not APNSDevice.objects.exists() and not GCMDevice.objects.exists()


@pytest.mark.django_db
def test_anonymous_and_foreign_deletes_are_refused(alice_client, charlie):
    anonymous = Client().post(reverse("api_push_register"), "{}", content_type="application/json")
    assert anonymous.status_code == 302  # to sign-in
    other = login(Client(), charlie)
    api(other, {"type": "apns", "token": APNS_TOKEN})
    device = APNSDevice.objects.get()
    assert alice_client.delete(reverse("api_push_delete", args=["apns", device.id])).status_code == 404
    assert other.delete(reverse("api_push_delete", args=["apns", device.id])).status_code == 204
    assert not APNSDevice.objects.exists()


@pytest.fixture
def finished_task(team_a, alice):
    def build(state: str, error: str = ""):
        host, _ = make_host(team_a, f"box-{state}")
        project = shared_project(offering(host), name="notes")
        return make_task(project, alice, prompt="Tidy the README " + "x" * 9000, state=state, error=error)

    return build


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "error", "title"),
    [
        ("succeeded", "", "Done · Tidy the README"),
        ("failed", "exit code 2", "Failed: exit code 2 · Tidy the README"),
        ("failed", "host lost: the host went offline while it had the task", "Failed: host lost"),
        ("cancelled", "", "Cancelled · Tidy the README"),
        ("expired", "", "Expired · Tidy the README"),
    ],
)
def test_apns_and_fcm_payloads_for_each_outcome(finished_task, state, error, title):
    task = finished_task(state, error)
    message = task_message(task)
    assert message.title.startswith(title) and len(message.title) < 130
    apns = services.apns_payload(message)
    request = _create_notification_request_from_args(
        APNS_TOKEN, apns["message"], sound=apns["sound"], extra=apns["extra"], thread_id=apns["thread_id"]
    )
    aps = request.message["aps"]
    assert aps["alert"] == {"title": message.title, "body": f"notes on box-{state}"}
    assert aps["thread-id"] == f"task-{task.id}" and request.message["url"] == f"/tasks/{task.id}/"
    assert len(json.dumps(request.message)) <= 4096 and "xxxxxxxxxx" * 10 not in json.dumps(request.message)
    fcm = dict_to_fcm_message(dict(services.fcm_payload(message)["extra"]))
    assert fcm.android.notification.title == message.title
    assert fcm.android.notification.body == f"notes on box-{state}"
    assert fcm.data["url"] == f"/tasks/{task.id}/"


@pytest.mark.django_db
def test_apns_and_fcm_are_off_until_configured(settings):
    settings.APNS_AUTH_KEY_PATH = settings.APNS_KEY_ID = settings.APNS_TEAM_ID = ""
    settings.FCM_SERVICE_ACCOUNT_FILE = ""
    assert services.status()["apns"] is False and services.status()["fcm"] is False
    settings.APNS_AUTH_KEY_PATH, settings.APNS_KEY_ID, settings.APNS_TEAM_ID = "/k.p8", "KEY", "TEAM"
    assert services.status()["apns"] is True


@pytest.mark.django_db
def test_the_admin_shows_which_push_channels_are_on(staff_client):
    body = staff_client.get("/admin/").content.decode()
    assert (
        "Push notifications" in body and "APNS_AUTH_KEY_PATH" in body and "FCM_SERVICE_ACCOUNT_FILE" in body
    )


@pytest.mark.django_db
def test_a_native_device_is_not_sent_to_while_its_service_is_off(
    alice_client, alice, finished_task, settings
):
    settings.APNS_AUTH_KEY_PATH = ""
    api(alice_client, {"type": "apns", "token": APNS_TOKEN})
    assert notify_task(task_id=finished_task("succeeded").id) == 0
    from notifications.models import Delivery

    assert Delivery.objects.get().error == services.NOT_CONFIGURED.format(name="Apple push (APNs)")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_open_page_gets_the_toast(alice, team_a):
    client = await database_sync_to_async(lambda: login(Client(), alice))()
    communicator, connected, _ = await open_socket(headers_for(client, OUR_ORIGIN))
    assert connected
    await communicator.receive_json_from(timeout=5)  # hello
    toast = {"title": "Done · Tidy", "body": "notes on studio", "url": "/tasks/1/", "tag": "task-1"}
    await database_sync_to_async(group_send)(user_group(alice.id), {"type": "notify", **toast})
    assert await communicator.receive_json_from(timeout=5) == {"type": "notify", **toast}
    await communicator.disconnect()


@pytest.mark.django_db
def test_a_host_offline_for_a_while_is_told_once(team_a, alice, bob, settings):
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    from devices.models import Host
    from notifications.models import Preference
    from tasks.housekeeping import housekeeping

    settings.HOST_OFFLINE_NOTIFY_AFTER = 60
    host, _ = make_host(team_a, "studio")
    Preference.objects.create(user=alice, host_offline=True)
    Host.objects.filter(id=host.id).update(last_seen_at=timezone.now() - timedelta(seconds=61))
    with mock.patch("notifications.services.group_send") as toast:
        assert housekeeping().hosts_offline == 1
        assert housekeeping().hosts_offline == 0  # once per outage
    (call,) = [call for call in toast.call_args_list if call.args[1]["type"] == "notify"]
    assert call.args[0] == user_group(alice.id) and call.args[1]["title"] == "studio went offline"
