"""The hosts page in the first hour: a host approved on the phone shows as
pending until its agent confirms (not "No hosts yet"), a host's chips name
its executors, a hub opened at a loopback address says why its QR code will
not open on a phone, and a waiting agent's polls do not fill the console
with warnings."""

import asyncio
import logging
from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.groups import team_group
from devices.models import Host, HostState
from devices.views import is_loopback
from tests.kits.common import make_host, page_text, totp_for
from tests.kits.pairing_api import bearer_post, poll, start

pytestmark = pytest.mark.django_db

CLAUDE = {"name": "claude", "label": "Claude Code", "kind": "command", "needs_file": False}
ROW = "data-host-name>Lab box<"  # the host's row, not the flash message naming it
BROWSER = {"name": "browser", "label": "Chromium", "kind": "browser", "needs_file": False}


def approve_on_the_phone(client, user, team) -> str:
    """An agent asks to pair, and the user approves it on /pair/; returns the device code."""
    started = start(Client(), name="Lab box").json()
    code = started["user_code"]
    data = {"code": code, "action": "approve", "team": team.id, "otp_code": totp_for(user).now()}
    response = client.post(reverse("pair"), data, REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 302 and response["Location"] == reverse("host_list")
    return started["device_code"]


def test_a_host_approved_on_the_phone_shows_as_pending_until_it_confirms(alice_client, alice, team_a):
    approve_on_the_phone(alice_client, alice, team_a)
    body = page_text(alice_client.get(reverse("host_list")))
    assert "No hosts in" not in body
    assert ROW in body and "Pending" in body
    assert "waiting for the host to confirm" in body
    Host.objects.filter(name="Lab box").update(state=HostState.ACTIVE)
    body = page_text(alice_client.get(reverse("host_list")))
    assert ROW in body and "Pending" not in body and "Offline" in body


def test_the_team_hears_when_a_pending_host_confirms(
    alice_client, alice, team_a, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(team_group(team_a.id), channel)
    device_code = approve_on_the_phone(alice_client, alice, team_a)
    token = poll(Client(), device_code).json()["host_token"]
    with django_capture_on_commit_callbacks(execute=True):
        assert bearer_post(Client(), "/api/pairing/confirm/", token).status_code == 200

    async def presence():
        while True:
            message = await asyncio.wait_for(layer.receive(channel), timeout=5)
            if message["type"] == "host.presence":
                return message["host"]

    host = async_to_sync(presence)()
    assert (host["name"], host["state"]) == ("Lab box", "active")  # the page drops "Pending"


def test_a_pending_host_that_can_no_longer_confirm_is_not_shown(alice_client, alice, team_a):
    approve_on_the_phone(alice_client, alice, team_a)
    later = timezone.now() + timedelta(seconds=601)
    with time_machine.travel(later, tick=False):
        body = page_text(alice_client.get(reverse("host_list")))
    assert ROW not in body and "No hosts in Team A yet" in body


def test_other_teams_pending_hosts_are_not_shown(alice_client, team_b):
    make_host(team_b, "Charlie's box", state=HostState.UNCONFIRMED)
    assert "Charlie's box" not in page_text(alice_client.get(reverse("host_list")))


def test_a_hosts_chips_name_its_executors(alice_client, team_a):
    host, _ = make_host(team_a, "Studio")
    Host.objects.filter(id=host.id).update(
        executors=[CLAUDE, BROWSER], capabilities=["agent", "browser", "mirror"]
    )
    for page in (reverse("host_list"), reverse("host_detail", args=[host.id])):
        body = page_text(alice_client.get(page))
        assert '<span class="badge"' in body
        assert "Claude Code" in body and "Chromium" in body
        assert ">agent<" not in body and ">mirror<" not in body


def test_a_host_without_executors_says_how_to_add_one(alice_client, team_a):
    host, _ = make_host(team_a, "Studio")
    body = page_text(alice_client.get(reverse("host_detail", args=[host.id])))
    assert "nothing yet: add an executor to its agent.toml" in body.replace("<code>", "").replace(
        "</code>", ""
    )


@pytest.mark.parametrize("address", ["127.0.0.1:8000", "localhost", "[::1]:8000", "127.0.1.1"])
def test_a_loopback_hub_says_its_qr_code_will_not_open_on_a_phone(alice_client, settings, address):
    settings.ALLOWED_HOSTS = ["*"]
    body = page_text(alice_client.get(reverse("host_list"), HTTP_HOST=address))
    assert 'id="loopback-note"' in body
    assert "a phone cannot open it" in body
    assert "ALLOWED_HOSTS=192.168.1.20 make run HOST=0.0.0.0" in body


@pytest.mark.parametrize("address", ["192.168.1.20:8000", "hub.example.com", "testserver", "[2001:db8::1]"])
def test_a_hub_on_the_network_has_no_such_note(alice_client, settings, address):
    settings.ALLOWED_HOSTS = ["*"]
    body = page_text(alice_client.get(reverse("host_list"), HTTP_HOST=address))
    assert 'id="loopback-note"' not in body


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("LOCALHOST:8000", True),
        ("app.localhost", True),
        ("[::1]", True),
        ("10.0.0.2", False),
    ],
)
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_a_waiting_agents_polls_are_logged_below_warning(caplog):
    agent = Client()
    device_code = start(agent).json()["device_code"]
    caplog.set_level(logging.DEBUG)
    response = poll(agent, device_code)
    assert response.json()["error"] == "authorization_pending"
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any(r.name == "devices.api" and r.levelno == logging.DEBUG for r in caplog.records)


@pytest.mark.parametrize("device_code", ["x" * 43, "short"])
def test_a_refused_poll_still_warns(caplog, device_code):
    caplog.set_level(logging.DEBUG)
    response = poll(Client(), device_code)
    assert response.json()["error"] == "invalid_grant"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "django.request"]
    assert len(warnings) == 1 and "/api/pairing/token/" in warnings[0].getMessage()
