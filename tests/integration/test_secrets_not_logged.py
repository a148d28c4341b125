"""SECURITY.md section 5 on a real daphne with its access log on (the
default): invitation links, valid or not, a redirect that carries one in its
`next`, the pairing device code and a host token never reach its output."""

import json
import secrets
import urllib.error
import urllib.request

import pytest
from django.test import Client

from accounts import services
from devices.services import TOKEN_PREFIX
from tests.kits.common import login, make_owner, make_user
from tests.kits.processes import Hub, hub_env, wait_until


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, *, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.build_opener(NoRedirects).open(request, timeout=10) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, {}


@pytest.fixture
def hub(transactional_db, logs):
    hub = Hub(hub_env(), logs)
    yield hub
    hub.stop()


def test_daphne_and_the_hub_log_no_token(hub):
    owner, _ = make_owner("olga@example.com", "Olga's")
    valid = services.invitation_create(
        actor=owner.memberships.get(), email="erin@example.com", role="member"
    ).token
    invalid = secrets.token_urlsafe(32)
    newcomer = login(Client(), make_user("erin@example.com", otp=False), verified=False)
    cookie = {"Cookie": f"sessionid={newcomer.cookies['sessionid'].value}"}
    host_token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    assert fetch(f"{hub.url}/invite/{valid}/")[0] == 200
    assert fetch(f"{hub.url}/invite/{invalid}/")[0] == 404
    assert fetch(f"{hub.url}/invite/{valid}/", headers=cookie)[0] == 302  # to setup, next=/invite/<token>/
    assert fetch(f"{hub.url}/settings/2fa/setup/?next=%2Finvite%2F{valid}%2F", headers=cookie)[0] == 200
    pairing = {"name": "box", "platform": "linux", "agent_version": "1"}
    status, started = fetch(f"{hub.url}/api/pairing/", body=pairing)
    assert status == 200
    device_code = started["device_code"]
    status, _ = fetch(f"{hub.url}/api/pairing/token/", body={"device_code": device_code})
    assert status == 400
    # A client that puts a host token where it does not belong: in the URL.
    status, _ = fetch(f"{hub.url}/api/host/unpair/?token={host_token}", body={})
    assert status in (401, 403)

    output = wait_until(
        lambda: (text := hub.output()).count("[redacted]") >= 6 and text,
        timeout=10,
        what="the access log lines",
    )
    assert '"GET /invite/[redacted]/" 200' in output
    assert '"GET /invite/[redacted]/" 404' in output
    assert "Not Found: /invite/[redacted]/" in output
    assert '"GET /invite/[redacted]/" 302' in output
    assert '"GET /settings/2fa/setup/?next=%2Finvite%2F[redacted]%2F" 200' in output
    for secret in (valid, invalid, host_token, device_code):
        assert secret not in output
