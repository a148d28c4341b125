"""A local Web Push service (RFC 8030/8291/8292) standing in for FCM or Mozilla
autopush: the hub, through django-push-notifications -> pywebpush -> requests,
POSTs encrypted messages to it over HTTPS, and tests assert what arrived.

    with PushService() as service:
        service.trust(monkeypatch)             # REQUESTS_CA_BUNDLE = its self-signed cert
        subscription = service.subscribe()     # what pushManager.subscribe() gives a browser
        ...                                    # the hub sends to subscription.as_json()
        [push] = service.wait_for(1)
        assert push.json() == {...}

Every request is checked the way a real push service does (VAPID JWT signed
by the key in `k`, `aud` = this service's origin, `exp` within 24 h, `sub` a
mailto:/https: contact) and its body decrypted with the subscription's key.
"""

import base64
import json
import secrets
import ssl
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.kits.loopback import LoopbackServer, Reply, Request, self_signed_certificate

MAX_EXP_AHEAD = 24 * 60 * 60  # RFC 8292 section 2: exp no more than 24 hours ahead


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_point(key: ec.EllipticCurvePrivateKey) -> str:
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64encode(raw)


def vapid_keys() -> tuple[str, str]:
    """A fresh VAPID key pair: (private, public).

    private: base64url (no padding) of the raw 32-byte P-256 private scalar. Use it
        as is for pywebpush's `vapid_private_key` and for django-push-notifications'
        `PUSH_NOTIFICATIONS_SETTINGS["WP_PRIVATE_KEY"]` (or an app's "PRIVATE_KEY"):
        the setting is handed unchanged to pywebpush.webpush(), which takes either a
        path to an existing file (PEM, or base64 DER) or a string that py-vapid's
        Vapid.from_string() decodes: 32 bytes -> raw scalar, anything else -> base64
        (url or standard alphabet) DER, PKCS#8 or SEC1. A PEM text itself (with
        -----BEGIN lines) is NOT accepted as a string, only as a file.
    public: base64url (no padding) uncompressed point (65 bytes), the browser's
        `applicationServerKey`, and the `k=` the push service sees.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    return b64encode(key.private_numbers().private_value.to_bytes(32, "big")), _public_point(key)


@dataclass
class Subscription:
    """What a browser's pushManager.subscribe() gives, plus the key to decrypt."""

    endpoint: str
    p256dh: str
    auth: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    def as_json(self) -> dict:
        """As PushSubscription.toJSON() (expirationTime left out)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass
class Push:
    """One accepted request, checked and decrypted. Header names are lower-case."""

    path: str
    headers: dict[str, str]
    ttl: int | None
    urgency: str | None
    vapid_claims: dict
    vapid_public_key: str
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


class Rejected(Exception):
    """A request failed a check; the service answers 400."""


class PushService(LoopbackServer):
    """HTTPS Web Push service on 127.0.0.1 (threaded); a context manager."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="pushservice-")
        self.ca_file, key_file = self_signed_certificate(Path(self._tmp.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        super().__init__(tls=context)
        self.pushes: list[Push] = []
        self.rejected: list[tuple[str, str]] = []  # (path, reason), answered 400
        self.attempts: list[tuple[str, int]] = []  # (path, status) for every request
        self.requests_count = 0
        self._subscriptions: dict[str, Subscription] = {}
        self._statuses: deque[int] = deque()
        self._held: dict[str, threading.Event] = {}  # path -> released; one request each
        self.holding: list[str] = []  # paths whose request arrived and is being held
        self._changed = threading.Condition()

    def stop(self) -> None:
        super().stop()
        self._tmp.cleanup()

    def answer(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply(501)
        return Reply(self._receive(request.path, request.headers, request.body))

    # What tests call --------------------------------------------------------

    def subscribe(self) -> Subscription:
        key = ec.generate_private_key(ec.SECP256R1())
        subscription = Subscription(
            endpoint=f"{self.url}/push/{secrets.token_urlsafe(16)}",
            p256dh=_public_point(key),
            auth=b64encode(secrets.token_bytes(16)),
            private_key=key,
        )
        self._subscriptions[urlparse(subscription.endpoint).path] = subscription
        return subscription

    def device_for(self, user, name: str = ""):
        """A Web Push device of `user`, subscribed at this push service."""
        from push_notifications.models import WebPushDevice

        subscription = self.subscribe()
        return WebPushDevice.objects.create(
            user=user,
            name=name,
            registration_id=subscription.endpoint,
            p256dh=subscription.p256dh,
            auth=subscription.auth,
            browser="CHROME",
        )

    def respond_with(self, *statuses: int) -> None:
        """Answer the next requests that pass the checks with these statuses, then 201."""
        with self._changed:
            self._statuses.extend(statuses)

    def hold_once(self, path: str) -> None:
        """The next request to `path` gets no answer until `release_all()` (a
        sender that dies in the middle of a push)."""
        self._held[path] = threading.Event()

    def release_all(self) -> None:
        for event in self._held.values():
            event.set()

    def accepted(self, path: str) -> int:
        with self._changed:
            return sum(1 for push in self.pushes if push.path == path)

    def wait_for(self, count: int, timeout: float = 10) -> list[Push]:
        """The accepted pushes once there are at least `count` of them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.pushes) >= count, timeout):
                raise AssertionError(
                    f"{len(self.pushes)} of {count} pushes after {timeout} s; "
                    f"attempts={self.attempts} rejected={self.rejected}"
                )
            return list(self.pushes)

    def trust(self, monkeypatch) -> None:
        """Make requests (hence pywebpush) trust this service's certificate."""
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", self.ca_file)

    # The service ------------------------------------------------------------

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._changed:
            self.requests_count += 1
            subscription = self._subscriptions.get(path)
            held = self._held.pop(path, None)
            if held is not None:
                self.holding.append(path)
                self._changed.notify_all()
        if held is not None:
            held.wait(60)
            return 201  # to a sender long gone: neither counted nor checked
        push = reason = None
        if subscription is None:
            status = 404
        else:
            try:
                push = self._check(subscription, path, headers, body)
            except Rejected as error:
                status, reason = 400, str(error)
        with self._changed:
            if reason:
                self.rejected.append((path, reason))
            elif push is not None:
                status = self._statuses.popleft() if self._statuses else 201
                if 200 <= status < 300:
                    self.pushes.append(push)
            self.attempts.append((path, status))
            self._changed.notify_all()
        return status

    def _check(self, subscription: Subscription, path: str, headers: dict[str, str], body: bytes) -> Push:
        claims, public_key = self._verify_vapid(headers.get("authorization", ""))
        try:
            ttl = int(headers["ttl"]) if "ttl" in headers else None
        except ValueError:
            raise Rejected(f"bad TTL {headers['ttl']!r}") from None
        payload = b""
        if body:
            if headers.get("content-encoding") != "aes128gcm":
                raise Rejected(f"Content-Encoding {headers.get('content-encoding')!r} is not aes128gcm")
            try:
                payload = http_ece.decrypt(
                    body,
                    private_key=subscription.private_key,
                    auth_secret=b64decode(subscription.auth),
                    version="aes128gcm",
                )
            except Exception as error:
                raise Rejected(f"cannot decrypt: {error!r}") from None
        return Push(path, headers, ttl, headers.get("urgency"), claims, public_key, payload)

    def _verify_vapid(self, authorization: str) -> tuple[dict, str]:
        """RFC 8292: `vapid t=<ES256 JWT>,k=<uncompressed P-256 point>`."""
        scheme, _, params = authorization.partition(" ")
        fields = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        if scheme.lower() != "vapid" or not {"t", "k"} <= fields.keys():
            raise Rejected(f"Authorization {authorization!r} is not 'vapid t=...,k=...'")
        try:
            header_part, claims_part, signature_part = fields["t"].split(".")
            header, claims = json.loads(b64decode(header_part)), json.loads(b64decode(claims_part))
            signature = b64decode(signature_part)
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64decode(fields["k"]))
        except ValueError as error:
            raise Rejected(f"malformed VAPID token or key: {error}") from None
        if not isinstance(header, dict) or header.get("alg") != "ES256" or len(signature) != 64:
            raise Rejected(f"JWT is not ES256: {header}")
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        try:
            key.verify(
                encode_dss_signature(r, s), f"{header_part}.{claims_part}".encode(), ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            raise Rejected("JWT signature does not verify with k") from None
        if not isinstance(claims, dict):
            raise Rejected(f"JWT claims are not an object: {claims}")
        if claims.get("aud") != self.url:
            raise Rejected(f"aud {claims.get('aud')!r} is not {self.url!r}")
        exp, now = claims.get("exp"), time.time()
        if not isinstance(exp, int) or not now < exp <= now + MAX_EXP_AHEAD:
            raise Rejected(f"exp {exp!r} is not within the next 24 h")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise Rejected(f"sub {claims.get('sub')!r} is not a mailto: or https: contact")
        return claims, fields["k"]
