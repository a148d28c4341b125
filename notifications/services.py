"""The transport of notices: people's push devices (Web Push, APNs, FCM),
their preferences, their inbox, and `notice_push`, which shows a notice on
their open pages and pushes it to each device once. The apps build their own
notices (tasks/notify.py, devices/notify.py); this app knows none of them."""

import ipaddress
import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

from accounts.groups import user_group
from accounts.models import User
from codexhub.errors import ServiceError
from codexhub.events import group_send
from codexhub.jobs import job_on_commit
from notifications import vapid
from notifications.models import Delivery, InboxEntry, Preference

logger = logging.getLogger(__name__)

MAX_PAYLOAD = 4096
MAX_NAME = 64
KINDS: dict[str, type[WebPushDevice] | type[APNSDevice] | type[GCMDevice]] = {
    "webpush": WebPushDevice,
    "apns": APNSDevice,
    "fcm": GCMDevice,
}
# In this order: an Edge User-Agent says Chrome too, and a Chrome one says Safari.
BROWSERS = ("EDGE", "OPERA", "FIREFOX", "CHROME", "SAFARI")
ENDPOINT_REFUSED = "This push service is not allowed on this hub."
BAD_SUBSCRIPTION = "That is not a push subscription: it needs an https endpoint and its p256dh and auth keys."
NO_SUCH_DEVICE = "No such device."
RETRIES = 3  # tries of each push: one at once, the others by the push job, PUSH_RETRY_BASE apart and doubling
INBOX_KEEP = 100  # inbox entries kept per user, the newest
PERMISSION_CATEGORY = "CODEXHUB_PERMISSION"  # a native app registers its buttons under this


# Devices ----------------------------------------------------------------------------


def endpoint_allowed(url: str) -> bool:
    """Web Push endpoints only at known push services: the hub POSTs to them,
    so any other address would let a user aim the hub at internal hosts (SSRF)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or not host or parts.username or parts.password:
        return False
    netloc = f"{host}:{port}" if port else host
    for allowed in settings.WEBPUSH_ALLOWED_HOSTS:
        if allowed == netloc:  # listed exactly (tests list a loopback push service this way)
            return True
        if allowed.startswith("*.") and not port and host.endswith(allowed[1:]) and _not_an_address(host):
            return True
    return False


def _not_an_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _b64_field(value: object, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise ServiceError(BAD_SUBSCRIPTION)
    if any(ch not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=" for ch in value):
        raise ServiceError(BAD_SUBSCRIPTION)
    return value


def device_name(user_agent: str) -> str:
    """ "Chrome on Android" and the like, from the browser's User-Agent."""
    agent = user_agent or ""
    browser = next((b for b in ("Edg", "OPR", "Firefox", "Chrome", "Safari") if b in agent), "")
    browser = {"Edg": "Edge", "OPR": "Opera", "": "Browser"}.get(browser, browser)
    system = next(
        (label for token, label in (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
         ("Mac OS X", "macOS"), ("Windows", "Windows"), ("Linux", "Linux")) if token in agent),
        "",
    )  # fmt: skip
    return f"{browser} on {system}" if system else browser


def _browser(user_agent: str) -> str:
    agent = (user_agent or "").upper().replace("EDG/", "EDGE/").replace("OPR/", "OPERA/")
    return next((b for b in BROWSERS if b in agent), "CHROME")


def webpush_register(*, user: User, subscription: object, user_agent: str) -> WebPushDevice:
    """Store the browser's PushSubscription for the user (never another user
    named in the body). The same endpoint again updates the device."""
    if not isinstance(subscription, dict) or not isinstance(subscription.get("keys"), dict):
        raise ServiceError(BAD_SUBSCRIPTION)
    endpoint = subscription.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 2000 or not endpoint.startswith("https://"):
        raise ServiceError(BAD_SUBSCRIPTION)
    if not endpoint_allowed(endpoint):
        raise ServiceError(ENDPOINT_REFUSED)
    keys = subscription["keys"]
    p256dh, auth = _b64_field(keys.get("p256dh"), 80, 88), _b64_field(keys.get("auth"), 16, 24)
    # A browser belongs to whoever signed in on it last.
    WebPushDevice.objects.filter(registration_id=endpoint).exclude(user=user).delete()
    device, _ = WebPushDevice.objects.update_or_create(
        user=user,
        registration_id=endpoint,
        defaults={
            "p256dh": p256dh,
            "auth": auth,
            "browser": _browser(user_agent),
            "name": device_name(user_agent)[:MAX_NAME],
            "active": True,
        },
    )
    return device


def native_register(*, user: User, kind: str, token: object, name: object) -> APNSDevice | GCMDevice:
    """An APNs or FCM token of a native client or wearable, for the signed-in user."""
    if kind not in ("apns", "fcm"):
        raise ServiceError("type must be apns or fcm")
    if not isinstance(token, str) or not 8 <= len(token) <= 4096 or not token.isprintable() or " " in token:
        raise ServiceError("token must be the device token the platform gave")
    if kind == "apns" and (len(token) > 200 or any(c not in "0123456789abcdefABCDEF" for c in token)):
        raise ServiceError("an APNs token is hexadecimal")
    label = name if isinstance(name, str) and name.isprintable() else ""
    model = APNSDevice if kind == "apns" else GCMDevice
    model.objects.filter(registration_id=token).exclude(user=user).delete()
    extra = {"cloud_message_type": "FCM"} if kind == "fcm" else {}
    device, _ = model.objects.update_or_create(
        user=user, registration_id=token, defaults={"name": label[:MAX_NAME], "active": True, **extra}
    )
    return device


@dataclass(frozen=True)
class DeviceRow:
    kind: str
    device: Any  # a django-push-notifications device of that kind


def devices_for_user(*, user: User) -> list[DeviceRow]:
    rows = []
    for kind, model in KINDS.items():
        rows += [DeviceRow(kind, device) for device in model.objects.filter(user=user).order_by("id")]
    return rows


def device_get(*, user: User, kind: str, device_id: int):
    """The user's own device. Raises ServiceError (404; another user's id answers the same)."""
    model = KINDS.get(kind)
    device = model.objects.filter(user=user, id=device_id).first() if model else None
    if device is None:
        raise ServiceError(NO_SUCH_DEVICE, status=404)
    return device


def preference_for(*, user: User) -> Preference:
    preference, _ = Preference.objects.get_or_create(user=user)
    return preference


def status() -> dict[str, bool]:
    """Which push channels this hub can use (shown in the admin and settings)."""
    return {
        "webpush": vapid.configured(),
        "apns": bool(settings.APNS_AUTH_KEY_PATH and settings.APNS_KEY_ID and settings.APNS_TEAM_ID),
        "fcm": bool(settings.FCM_SERVICE_ACCOUNT_FILE),
    }


# Notices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    url: str
    tag: str
    # Web Push buttons: {"action", "title", "token"}; the token answers for one user only.
    actions: tuple[dict, ...] = ()

    def toast(self) -> dict:
        return {"title": self.title, "body": self.body, "url": self.url, "tag": self.tag}

    def payload(self) -> str:
        """The Web Push body: small, and never more than the push services take."""
        data = self.toast()
        if self.actions:
            data["actions"] = list(self.actions)
        encoded = json.dumps(data)
        while len(encoded.encode()) > MAX_PAYLOAD:
            data["body"] = data["body"][: len(data["body"]) // 2]
            encoded = json.dumps(data)
        return encoded

    def as_job_argument(self) -> dict:
        return asdict(self)

    @classmethod
    def from_job_argument(cls, data: dict) -> "Notice":
        return cls(**{**data, "actions": tuple(data.get("actions") or ())})


class TransientPushError(Exception):
    """A push service is busy or unreachable: worth trying again later."""


class PermanentPushError(Exception):
    pass


def notice_push(*, user: User, notice: Notice, key: str) -> int:
    """Tell the user: the inbox entry and the toast on their open pages once per
    `key`, and a push to each active device once per `key`. A push that fails
    for a moment goes to the push job, which Celery retries. Returns pushes sent
    now; never raises for a push that failed."""
    if inbox_record(user=user, notice=notice, key=key):
        group_send(user_group(user.id), {"type": "notify", **notice.toast()})
    sent, transient = _push_devices(user, notice, key)
    if transient:
        from notifications.jobs import push_job

        job_on_commit(push_job, user.id, notice.as_job_argument(), key, countdown=retry_delay(attempt=1))
    return sent


def inbox_record(*, user: User, notice: Notice, key: str) -> bool:
    """Whether this notice is new to the user (and so now in their inbox)."""
    fields = {
        "title": notice.title[:200],
        "body": notice.body[:500],
        "url": notice.url[:300],
        "tag": notice.tag[:100],
    }
    try:
        with transaction.atomic():
            _, created = InboxEntry.objects.get_or_create(user=user, key=key[:120], defaults=fields)
    except IntegrityError:  # the same notice written at the same moment by another worker
        return False
    if created:
        _inbox_prune(user)
    return created


def _inbox_prune(user: User) -> None:
    oldest_kept = InboxEntry.objects.filter(user=user).order_by("-id").values_list("id", flat=True)
    cutoff = oldest_kept[INBOX_KEEP : INBOX_KEEP + 1].first()
    if cutoff is not None:
        InboxEntry.objects.filter(user=user, id__lte=cutoff).delete()


def notice_deliver(*, user: User, notice: Notice, key: str) -> int:
    """Push to each active device of the user not yet sent this `key` (a job run
    again sends nothing twice). Returns pushes sent; raises TransientPushError,
    after trying every device, when one is worth trying again."""
    sent, transient = _push_devices(user, notice, key)
    if transient:
        raise TransientPushError(transient)
    return sent


def _push_devices(user: User, notice: Notice, key: str) -> tuple[int, str]:
    """(pushes sent, the last transient failure or "")."""
    sent, transient = 0, ""
    for row in devices_for_user(user=user):
        if not row.device.active:
            continue
        try:
            sent += _deliver(row, notice, key=f"{key}:{row.kind}:{row.device.id}")
        except TransientPushError as exc:
            transient = str(exc) or "transient push failure"
    return sent, transient


def retry_delay(*, attempt: int) -> float:
    """Seconds before try `attempt + 1` of a push (attempt 1 is the first)."""
    return settings.PUSH_RETRY_BASE * 2 ** (attempt - 1)


def notify_test(*, user: User) -> int:
    body = "Notifications work on this device."
    notice = Notice(title="codexhub", body=body, url="/settings/notifications/", tag="test")
    return notice_push(user=user, notice=notice, key=f"test:{time.time_ns()}")


def _deliver(row: DeviceRow, notice: Notice, *, key: str) -> bool:
    """Send unless this key was sent before. Raises TransientPushError; any
    other failure is recorded and ends there."""
    try:
        delivery, _ = Delivery.objects.get_or_create(key=key[:120], defaults={"user_id": row.device.user_id})
    except IntegrityError:
        delivery = Delivery.objects.get(key=key[:120])
    if delivery.sent_at is not None:
        return False
    try:
        _send(row, notice)
    except TransientPushError as exc:
        Delivery.objects.filter(id=delivery.id).update(error=str(exc)[:200])
        raise
    except Exception as exc:  # a failure to notify never fails anything else
        error = f"{type(exc).__name__}: {exc}"[:200]
        logger.warning("push %s not delivered: %s", key, error)
        Delivery.objects.filter(id=delivery.id).update(error=error)
        return False
    Delivery.objects.filter(id=delivery.id).update(sent_at=timezone.now(), error="")
    return True


def _send(row: DeviceRow, notice: Notice) -> None:
    from push_notifications.exceptions import WebPushError

    if row.kind == "webpush":
        try:
            result = row.device.send_message(notice.payload())
        except WebPushError as exc:  # the library deactivates the device on 404/410 and raises otherwise
            code = re.search(r"Push failed: (\d{3})", str(exc))
            if code and not (code.group(1).startswith("5") or code.group(1) == "429"):
                raise PermanentPushError(str(exc)[:200]) from exc
            raise TransientPushError(str(exc)) from exc  # 5xx, 429, timeouts, refused connections
        if result.get("failure"):
            raise PermanentPushError(str(result["results"][0].get("error", "refused"))[:200])
        return
    if not status()[row.kind]:
        raise PermanentPushError(f"{row.kind} is not configured on this hub")
    if row.kind == "apns":
        row.device.send_message(**apns_payload(notice))
    else:
        row.device.send_message(None, **fcm_payload(notice))


def apns_payload(notice: Notice) -> dict:
    """APNSDevice.send_message's arguments: an alert, the thread, the URL to open;
    a permission request also names its category (the app's buttons open the request)."""
    from push_notifications.apns_async import Alert

    payload = {
        "message": Alert(title=notice.title, body=notice.body),
        "thread_id": notice.tag,
        "extra": {"url": notice.url},
        "sound": "default",
    }
    if notice.actions:
        payload["category"] = PERMISSION_CATEGORY
    return payload


def fcm_payload(notice: Notice) -> dict:
    """GCMDevice.send_message(None, **these): a notification and the URL as data."""
    extra = {"title": notice.title, "body": notice.body, "url": notice.url, "tag": notice.tag}
    if notice.actions:
        extra["category"] = PERMISSION_CATEGORY
    return {"extra": extra}
