"""The local Web Push service works with the real client stack (pywebpush ->
py-vapid + http_ece -> requests over TLS), with no database."""

import json
import time
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from push_notifications.settings import PUSH_NOTIFICATIONS_SETTINGS
from push_notifications.webpush import webpush_send_message
from py_vapid import Vapid
from py_vapid.jwt import sign
from pywebpush import WebPushException, webpush

from tests.notifications.pushservice import PushService, vapid_keys

CONTACT = "mailto:ops@example.com"


@pytest.fixture
def service(monkeypatch):
    with PushService() as service:
        service.trust(monkeypatch)
        yield service


@pytest.fixture(scope="module")
def keys():
    return vapid_keys()


def send(subscription, keys, data=None, **kwargs):
    options = {"vapid_private_key": keys[0], "vapid_claims": {"sub": CONTACT}, "timeout": 2} | kwargs
    return webpush(subscription.as_json(), json.dumps(data or {"title": "Task done"}), **options)


def test_delivers_the_decrypted_payload_with_verified_claims(service, keys):
    subscription = service.subscribe()

    response = send(subscription, keys, {"title": "Task done", "url": "/tasks/7/"}, ttl=60)

    assert response.status_code == 201
    [push] = service.wait_for(1)
    assert push.json() == {"title": "Task done", "url": "/tasks/7/"}
    assert push.path == subscription.endpoint.removeprefix(service.url)
    assert push.vapid_claims["aud"] == service.url
    assert push.vapid_claims["sub"] == CONTACT
    assert push.vapid_public_key == keys[1]
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.ttl == 60
    assert service.attempts == [(push.path, 201)]
    assert service.rejected == []


def test_rejects_a_jwt_signed_by_another_key_than_k(service, keys):
    subscription = service.subscribe()
    claims = {"sub": CONTACT, "aud": service.url, "exp": int(time.time()) + 3600}
    token = sign(claims, Vapid.from_string(keys[0]).private_key)
    forged = f"vapid t={token},k={vapid_keys()[1]}"

    with pytest.raises(WebPushException) as error:
        send(subscription, keys, vapid_claims=None, headers={"Authorization": forged})

    assert error.value.response.status_code == 400
    assert service.rejected == [(service.attempts[0][0], "JWT signature does not verify with k")]
    assert service.pushes == []


def test_rejects_another_audience(service, keys):
    with pytest.raises(WebPushException) as error:
        send(service.subscribe(), keys, vapid_claims={"sub": CONTACT, "aud": "https://push.example.com"})

    assert error.value.response.status_code == 400
    assert service.rejected[0][1] == f"aud 'https://push.example.com' is not '{service.url}'"


def test_rejects_a_payload_encrypted_for_another_subscription(service, keys):
    subscription, other = service.subscribe(), service.subscribe()
    subscription.p256dh, subscription.auth = other.p256dh, other.auth

    with pytest.raises(WebPushException) as error:
        send(subscription, keys)

    assert error.value.response.status_code == 400
    assert service.rejected[0][1].startswith("cannot decrypt")


def test_gone_makes_pywebpush_raise(service, keys):
    subscription = service.subscribe()
    service.respond_with(410)

    with pytest.raises(WebPushException) as error:
        send(subscription, keys)

    assert error.value.response.status_code == 410
    assert service.attempts == [(subscription.endpoint.removeprefix(service.url), 410)]
    assert service.pushes == []


def test_a_retry_after_unavailable_succeeds(service, keys):
    subscription = service.subscribe()
    service.respond_with(503, 201)

    with pytest.raises(WebPushException) as error:
        send(subscription, keys, {"n": 1})
    assert error.value.response.status_code == 503
    send(subscription, keys, {"n": 1})

    assert [push.json() for push in service.wait_for(1)] == [{"n": 1}]
    assert [status for _, status in service.attempts] == [503, 201]


def test_an_unknown_subscription_is_not_found(service, keys):
    subscription = service.subscribe()
    subscription.endpoint = f"{service.url}/push/unknown"

    with pytest.raises(WebPushException) as error:
        send(subscription, keys)

    assert error.value.response.status_code == 404
    assert service.requests_count == 1
    assert service.attempts == [("/push/unknown", 404)]


@pytest.mark.parametrize("key_format", ["PEM file path", "base64url raw string"])
def test_django_push_notifications_delivers_with_its_wp_private_key(
    service, keys, key_format, tmp_path, monkeypatch
):
    private_key = Vapid.from_string(keys[0]).private_key
    if key_format == "PEM file path":  # as the hub's settings give it
        pem = tmp_path / "vapid_private.pem"
        pem.write_bytes(
            private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        setting = str(pem)
    else:
        setting = keys[0]
    monkeypatch.setitem(PUSH_NOTIFICATIONS_SETTINGS, "WP_PRIVATE_KEY", setting)
    monkeypatch.setitem(PUSH_NOTIFICATIONS_SETTINGS, "WP_CLAIMS", {"sub": CONTACT})
    subscription = service.subscribe()
    device = SimpleNamespace(
        application_id=None,
        registration_id=subscription.endpoint,
        browser="CHROME",
        p256dh=subscription.p256dh,
        auth=subscription.auth,
    )

    result = webpush_send_message(device, json.dumps({"title": "Hello"}))

    assert result["success"] == 1
    [push] = service.wait_for(1)
    assert push.json() == {"title": "Hello"}
    assert push.vapid_public_key == keys[1]
