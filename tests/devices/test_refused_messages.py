"""Frames and uploads the hub refuses from a host are logged (within a budget
per host) and counted on the host's admin page; the link stays up."""

import logging

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from accounts.models import Team
from devices import services
from devices.models import Host, RefusedMessage
from tests.kits.common import make_host
from tests.kits.hostlink import heartbeat, open_link

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_budget():
    services.refusal_budget.clear()
    yield
    services.refusal_budget.clear()


@pytest.fixture
def paired(transactional_db):
    return make_host(Team.objects.create(name="Team A"), "Workstation")


def refused_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "devices.refused"]


@database_sync_to_async
def host_row(host_id: int) -> Host:
    return Host.objects.get(id=host_id)


REFUSED = [
    ("not json", "send JSON objects as text frames"),
    ('{"type": "nope"}', "unknown message type"),
    ('{"type": "hello", "stream": "host", "seq": "1", "payload": {}}', "seq must be a positive integer"),
    ('{"type": "hello", "stream": "host"}', "seq must be a positive integer"),
    ('{"type": "hello", "seq": 1, "payload": {}}', "needs a stream and a type"),
    ('{"type": "hello", "stream": "host", "seq": 1, "payload": []}', "payload must be an object"),
    ('{"type": "task.nope", "stream": "tasks", "seq": 1, "payload": {}}', "unknown message 'task.nope'"),
    # About another host's task, or a project it never announced: the handler refuses it.
    ('{"type": "task.started", "stream": "tasks", "seq": 1, "payload": {"task_id": 9999}}', "no task 9999"),
    (
        '{"type": "mirror.batch", "stream": "mirror", "seq": 1, "payload": {"project": "x", "changes": []}}',
        "unknown proj",
    ),
    ('{"type": "hello", "stream": "host", "seq": 5, "payload": {}}', "gap: expected seq 1"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("frame", "reason"), REFUSED)
async def test_it_logs_and_counts_each_kind_of_refused_frame(paired, caplog, frame, reason):
    host, token = paired
    caplog.set_level(logging.WARNING, logger="devices.refused")
    communicator = await open_link(token)
    await communicator.send_to(text_data=frame)
    while (reply := await communicator.receive_json_from(timeout=5))["type"] == "ack":
        pass  # a message its handler rejects is acked (its seq is taken), then reported
    assert reply["type"] == "error"
    await heartbeat(communicator)
    [line] = refused_lines(caplog)
    assert f"host {host.id} (Workstation)" in line and reason in line
    row = await host_row(host.id)
    assert row.refused_count == 1 and reason in row.last_refused_reason
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_line_names_stream_type_and_seq_and_escapes_control_characters(paired, caplog):
    host, token = paired
    caplog.set_level(logging.WARNING, logger="devices.refused")
    communicator = await open_link(token)
    frame = {"type": "a\nb\x1b", "stream": "x", "seq": 7, "payload": {"secret": "s3"}}
    await communicator.send_json_to(frame)
    assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    [line] = refused_lines(caplog)
    assert "stream=x type=a\\nb\\x1b seq=7" in line
    assert "\n" not in line and "s3" not in line
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_flood_of_refused_frames_logs_a_bounded_number_of_lines(paired, caplog, settings):
    settings.HOST_LINK_BURST = 2000  # this test is about the refusals, not the link's budget
    host, token = paired
    caplog.set_level(logging.WARNING, logger="devices.refused")
    communicator = await open_link(token)
    for _ in range(1000):
        await communicator.send_to(text_data="not json")
    for _ in range(1000):
        assert (await communicator.receive_json_from(timeout=5))["type"] == "error"
    await heartbeat(communicator)
    assert len(refused_lines(caplog)) == settings.HOST_REFUSED_LOG_PER_MINUTE
    await communicator.disconnect()
    lines = refused_lines(caplog)
    assert len(lines) == settings.HOST_REFUSED_LOG_PER_MINUTE + 1
    assert "and 990 more not logged" in lines[-1]
    assert (await host_row(host.id)).refused_count == 1000
    kept = await database_sync_to_async(RefusedMessage.objects.filter(host_id=host.id).count)()
    assert kept == settings.HOST_REFUSED_LOG_PER_MINUTE


@pytest.mark.asyncio
async def test_a_flood_close_is_logged_with_its_reason(paired, caplog, settings):
    settings.HOST_LINK_RATE, settings.HOST_LINK_BURST = 10, 20
    host, token = paired
    caplog.set_level(logging.WARNING, logger="devices.refused")
    communicator = await open_link(token)
    for _ in range(40):
        await communicator.send_to(text_data='{"type": "heartbeat"}')
    while (message := await communicator.receive_output(timeout=5))["type"] != "websocket.close":
        pass
    assert message["code"] == 1008
    await communicator.wait()
    assert any(f"host {host.id}" in line and "flooded its link" in line for line in refused_lines(caplog))
    assert (await host_row(host.id)).refused_count == 1  # not once more per frame queued behind the close


def test_only_the_latest_refusals_are_kept(paired, settings):
    settings.HOST_REFUSED_LOG_PER_MINUTE, settings.HOST_REFUSED_KEEP = 1000, 5
    host, _ = paired
    for seq in range(1, 9):
        services.host_message_refused(host_id=host.id, host_name=host.name, reason="no", stream="s", seq=seq)
    assert list(RefusedMessage.objects.filter(host=host).values_list("seq", flat=True)) == [8, 7, 6, 5, 4]
    assert Host.objects.get(id=host.id).refused_count == 8


def test_the_hosts_admin_page_shows_the_count_and_reasons(paired, staff_client):
    host, _ = paired
    for reason in ("no task 41 for this host", "unknown project 'secret-plans'"):
        services.host_message_refused(host_id=host.id, host_name=host.name, reason=reason, seq=3)
    page = staff_client.get(reverse("admin:devices_host_change", args=[host.id])).content.decode()
    assert "Refused messages" in page and '<div class="readonly">2</div>' in page
    assert "no task 41 for this host" in page and "unknown project &#x27;secret-plans&#x27;" in page
    assert 'name="refused_messages-0-reason"' not in page  # read-only


@pytest.fixture
def api_client():
    return Client(enforce_csrf_checks=True)


def test_a_refused_artifact_upload_is_logged_with_the_host_and_counted(paired, api_client, caplog):
    host, token = paired
    caplog.set_level(logging.WARNING, logger="devices.refused")
    response = api_client.put(
        reverse("api_task_artifact", args=[424242, "step-1.png"]),
        data=b"\x89PNG\r\n\x1a\n",
        content_type="image/png",
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404
    [line] = refused_lines(caplog)
    assert f"host {host.id} (Workstation)" in line and "task 424242" in line and "No such task" in line
    assert token not in caplog.text
    assert Host.objects.get(id=host.id).refused_count == 1
