"""The transport of notices: people's push devices (Web Push, APNs, FCM),
their preferences, their inbox, and `notice_push`, which shows a notice on
their open pages and pushes it to each device once. The apps build their own
notices (tasks/notify.py, devices/notify.py); this app knows none of them."""

import ipaddress
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.timesince import timesince
from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

from accounts.groups import user_group
from accounts.models import User
from codexhub.errors import ServiceError
from codexhub.events import group_send
from codexhub.jobs import job_on_commit
from notifications import vapid
from notifications.models import Delivery, DeviceHealth, InboxEntry, Preference, TeamReminder

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
    DeviceHealth.objects.filter(kind="webpush", device_id=device.id).update(off_reason="")
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
    DeviceHealth.objects.filter(kind=kind, device_id=device.id).update(off_reason="")
    return device


@dataclass(frozen=True)
class DeviceRow:
    kind: str
    device: Any  # a django-push-notifications device of that kind
    health: DeviceHealth | None = None

    @property
    def label(self) -> str:
        return str(self.device.name or "Unnamed device")


def devices_for_user(*, user: User) -> list[DeviceRow]:
    health = {(h.kind, h.device_id): h for h in DeviceHealth.objects.filter(user=user)}
    rows = []
    for kind, model in KINDS.items():
        for device in model.objects.filter(user=user).order_by("id"):
            rows.append(DeviceRow(kind, device, health.get((kind, device.id))))
    return rows


def device_switch(*, user: User, kind: str, device_id: int) -> Any:
    """Turn one of the user's devices on or off. Turning it on forgets why
    the hub turned it off: the person says it works again."""
    device = device_get(user=user, kind=kind, device_id=device_id)
    device.active = not device.active
    device.save(update_fields=["active"])
    if device.active:
        DeviceHealth.objects.filter(kind=kind, device_id=device.id).update(off_reason="")
    return device


def device_remove(*, user: User, kind: str, device_id: int) -> None:
    device = device_get(user=user, kind=kind, device_id=device_id)
    DeviceHealth.objects.filter(kind=kind, device_id=device.id).delete()
    device.delete()


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
    # Not a notice but an order to take down the shown one with this tag (notice_clear).
    clear: bool = False

    def toast(self) -> dict:
        return {"title": self.title, "body": self.body, "url": self.url, "tag": self.tag}

    def payload(self) -> str:
        """The Web Push body: small, and never more than the push services take."""
        if self.clear:
            return json.dumps({"type": "clear", "tag": self.tag})
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
    """A push service is busy or unreachable: worth trying again later. The
    message says what happened in words a person reads."""


class PermanentPushError(Exception):
    """The push service refused this message: trying again would not help."""


def notice_push(*, user: User, notice: Notice, key: str) -> int:
    """Tell the user: the inbox entry and the toast on their open pages once per
    `key`, and a push to each active device once per `key`. A push that fails
    for a moment goes to the push job, which Celery retries. Returns pushes sent
    now; never raises for a push that failed."""
    if inbox_record(user=user, notice=notice, key=key):
        group_send(user_group(user.id), {"type": "notify", **notice.toast()})
    return _push_and_hand_over(user, notice, key)


def _push_and_hand_over(user: User, notice: Notice, key: str) -> int:
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
        _badge_send(user)
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


def notice_give_up(*, key: str, tries: int) -> int:
    """The last retry of a notice failed: its undelivered pushes are final
    failures now (the settings page and the test's results say so)."""
    pending = Delivery.objects.filter(notice_key=key[:120], sent_at__isnull=True, gave_up_at__isnull=True)
    now, count = timezone.now(), 0
    for delivery in pending:
        error = f"{delivery.error} Tried {tries} times." if delivery.error else f"Tried {tries} times."
        count += Delivery.objects.filter(id=delivery.id, sent_at__isnull=True).update(
            gave_up_at=now, error=error[:300]
        )
    return count


def _push_devices(user: User, notice: Notice, key: str) -> tuple[int, str]:
    """(pushes sent, the last transient failure or "")."""
    sent, transient = 0, ""
    for row in devices_for_user(user=user):
        if not row.device.active:
            continue
        try:
            sent += _deliver(row, notice, key)
        except TransientPushError as exc:
            transient = str(exc) or "transient push failure"
    return sent, transient


def retry_delay(*, attempt: int) -> float:
    """Seconds before try `attempt + 1` of a push (attempt 1 is the first)."""
    return float(settings.PUSH_RETRY_BASE * 2 ** (attempt - 1))


def _deliver(row: DeviceRow, notice: Notice, notice_key: str) -> bool:
    """Send unless this key was sent to this device before, and record how it
    went on the Delivery and the device's health. Raises TransientPushError;
    any other failure is recorded and ends there."""
    key = f"{notice_key}:{row.kind}:{row.device.id}"[:120]
    fields = {"user_id": row.device.user_id, "notice_key": notice_key[:120], "kind": row.kind}
    try:
        delivery, _ = Delivery.objects.get_or_create(key=key, defaults={**fields, "device_id": row.device.id})
    except IntegrityError:
        delivery = Delivery.objects.get(key=key)
    if delivery.sent_at is not None or delivery.gave_up_at is not None:
        return False
    now = timezone.now()
    try:
        _send(row, notice)
    except TransientPushError as exc:
        Delivery.objects.filter(id=delivery.id).update(error=str(exc)[:300])
        _health_failed(row, str(exc), now)
        raise
    except Exception as exc:  # a failure to notify never fails anything else
        error = str(exc) if isinstance(exc, PermanentPushError) else _words_for_unknown(exc)
        logger.warning("push %s not delivered: %s", key, error)
        Delivery.objects.filter(id=delivery.id).update(error=error[:300], gave_up_at=now)
        _health_failed(row, error, now)
        return False
    Delivery.objects.filter(id=delivery.id).update(sent_at=now, error="")
    _health(row).update(last_sent_at=now)
    return True


def _health(row: DeviceRow):
    DeviceHealth.objects.get_or_create(
        kind=row.kind, device_id=row.device.id, defaults={"user_id": row.device.user_id}
    )
    return DeviceHealth.objects.filter(kind=row.kind, device_id=row.device.id)


def _health_failed(row: DeviceRow, error: str, now) -> None:
    """Record the failure; a device the push service dropped for good (the
    library turns it off on 404/410, APNs' Unregistered and the like) says why."""
    fields: dict[str, Any] = {"last_error": error[:300], "last_error_at": now}
    model = KINDS[row.kind]
    if model.objects.filter(id=row.device.id, active=False).exists():
        fields["off_reason"] = error[:300]
    _health(row).update(**fields)


# What a failure says, in words ----------------------------------------------------------

PUSH_GONE = (
    "The push service no longer knows this device ({status}): the browser unsubscribed or the "
    "subscription expired. The hub turned it off; enable notifications on that device again."
)
PUSH_SLOW_DOWN = "The push service asked the hub to slow down ({status})."
PUSH_SERVER_FAILED = "The push service had a failure of its own ({status})."
PUSH_KEY_REFUSED = (
    "The push service refused the hub's key ({status}): the hub's VAPID key may have changed since "
    "this device subscribed. Enable notifications on that device again."
)
PUSH_REFUSED = "The push service refused the message ({status})."
PUSH_TIMED_OUT = "The push service did not answer within {seconds:g} s."
PUSH_UNREACHABLE = "The hub could not reach the push service."
NOT_CONFIGURED = "{name} is not set up on this hub: an admin adds its keys (docs/settings.md)."
PLATFORM_NAMES = {"apns": "Apple push (APNs)", "fcm": "Firebase Cloud Messaging (FCM)"}


def _status_words(message: str) -> tuple[int, str]:
    """(status, "410 Gone") from pywebpush's "Push failed: 410 Gone\nResponse body:…", else (0, "")."""
    match = re.search(r"Push failed: (\d{3}) ?([^\n]*)", message)
    if not match:
        return 0, ""
    return int(match.group(1)), f"{match.group(1)} {match.group(2)}".strip()


def webpush_failure(message: str) -> Exception:
    """The error to raise for a Web Push failure the library reported."""
    status, words = _status_words(message)
    if status in (404, 410):
        return PermanentPushError(PUSH_GONE.format(status=words))
    if status == 429:
        return TransientPushError(PUSH_SLOW_DOWN.format(status=words))
    if status >= 500:
        return TransientPushError(PUSH_SERVER_FAILED.format(status=words))
    if status in (401, 403):
        return PermanentPushError(PUSH_KEY_REFUSED.format(status=words))
    if status:
        return PermanentPushError(PUSH_REFUSED.format(status=words))
    return TransientPushError(PUSH_UNREACHABLE)


def _words_for_unknown(exc: Exception) -> str:
    return f"The push failed: {type(exc).__name__}: {exc}"[:300]


# The test notification --------------------------------------------------------------------

TEST_WAIT = 60  # seconds after which a test nobody attempted says so


def notify_test(*, user: User, run: int | None = None) -> int:
    """A test to each active device; `run` (a time in ns) names it, so the page
    can ask how it went (test_results)."""
    run = run or time.time_ns()
    body = "Notifications work on this device."
    notice = Notice(title="codexhub", body=body, url="/settings/notifications/", tag="test")
    return notice_push(user=user, notice=notice, key=f"test:{run}")


@dataclass(frozen=True)
class TestResult:
    kind: str
    device_id: int
    name: str
    state: str  # sending, retrying, delivered, failed, not-tried
    text: str

    @property
    def finished(self) -> bool:
        return self.state in ("delivered", "failed", "not-tried")


def test_results(*, user: User, run: int) -> list[TestResult]:
    """How test `run` went on each of the user's devices: sent, or failed and why."""
    rows = Delivery.objects.filter(user=user, notice_key=f"test:{run}")
    deliveries = {(d.kind, d.device_id): d for d in rows}
    waited = time.time() - run / 1e9
    results = []
    for row in devices_for_user(user=user):
        delivery = deliveries.get((row.kind, row.device.id))
        if delivery is None and not row.device.active:
            continue
        results.append(TestResult(row.kind, row.device.id, row.label, *_test_state(delivery, waited)))
    return results


def _test_state(delivery: Delivery | None, waited: float) -> tuple[str, str]:
    if delivery is None:
        if waited > TEST_WAIT:
            return "not-tried", "Not tried: the hub's job worker may not be running."
        return "sending", "Sending…"
    if delivery.sent_at is not None:
        return "delivered", "Delivered to the push service."
    if delivery.gave_up_at is not None:
        return "failed", f"Failed: {delivery.error}"
    if delivery.error:
        return "retrying", f"Trying again: {delivery.error}"
    return "sending", "Sending…"


def health_words(row: DeviceRow) -> list[str]:
    """What the settings page says of a device: when it last got a push, its last error."""
    health = row.health
    if health is None:
        return ["Nothing sent yet."]
    lines = []
    if health.last_sent_at:
        lines.append(f"Last delivered {_ago(health.last_sent_at)}.")
    else:
        lines.append("Never delivered yet.")
    said = not row.device.active and health.off_reason == health.last_error  # the page says why it is off
    if health.last_error_at and health.last_error and not said:
        lines.append(f"Last error {_ago(health.last_error_at)}: {health.last_error}")
    return lines


def _ago(moment) -> str:
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


def _send(row: DeviceRow, notice: Notice) -> None:
    """Raises TransientPushError or PermanentPushError, their messages in words."""
    import requests
    from push_notifications.exceptions import WebPushError

    if row.kind == "webpush":
        try:
            # The library turns the device off on 404/410 and returns a failure; it raises otherwise.
            result = row.device.send_message(notice.payload())
        except WebPushError as exc:
            raise webpush_failure(str(exc)) from exc
        except requests.Timeout as exc:
            seconds = settings.PUSH_NOTIFICATIONS_SETTINGS.get("WP_ERROR_TIMEOUT") or 0
            raise TransientPushError(PUSH_TIMED_OUT.format(seconds=seconds)) from exc
        except requests.RequestException as exc:  # refused connection, TLS, DNS
            raise TransientPushError(PUSH_UNREACHABLE) from exc
        if result.get("failure"):
            raise webpush_failure(str(result["results"][0].get("error", "")))
        return
    if not status()[row.kind]:
        raise PermanentPushError(NOT_CONFIGURED.format(name=PLATFORM_NAMES[row.kind]))
    if row.kind == "apns":
        row.device.send_message(**apns_payload(notice))
    else:
        row.device.send_message(None, **fcm_payload(notice))


def apns_payload(notice: Notice) -> dict:
    """APNSDevice.send_message's arguments: an alert, the thread, the URL to open;
    a permission request also names its category (the app's buttons open the request)."""
    from push_notifications.apns_async import Alert

    if notice.clear:  # silent: the app wakes up and removes what it shows under this thread
        return {"message": None, "content_available": True, "extra": {"clear": notice.tag}}
    payload: dict[str, Any] = {
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
    if notice.clear:  # a data message: the app cancels its notification with this tag
        return {"extra": {"clear": notice.tag}}
    extra = {"title": notice.title, "body": notice.body, "url": notice.url, "tag": notice.tag}
    if notice.actions:
        extra["category"] = PERMISSION_CATEGORY
    return {"extra": extra}


# Taking a notice back ----------------------------------------------------------------------


def notice_clear(*, keys: list[str], tag: str) -> int:
    """The notices `keys` no longer need anyone (a request answered elsewhere):
    mark them read in every inbox and take the notification shown under `tag`
    down from every device they went to. Web Push gets {"type": "clear",
    "tag"} (the service worker closes the notification with that tag), APNs a
    silent push and FCM a data message naming the tag, for the native app to
    remove it. Returns pushes sent."""
    keys = [key[:120] for key in keys]
    entries = InboxEntry.objects.filter(key__in=keys)
    users = list(User.objects.filter(id__in=entries.values("user_id")).order_by("id"))
    entries.filter(read_at__isnull=True).update(read_at=timezone.now())
    clear = Notice(title="", body="", url="", tag=tag, clear=True)
    sent = 0
    for user in users:
        _badge_send(user)
        if Delivery.objects.filter(notice_key__in=keys, user=user, sent_at__isnull=False).exists():
            sent += _push_and_hand_over(user, clear, f"clear:{keys[0]}")
    return sent


def notice_was_sent(*, key: str) -> bool:
    """Whether anyone was told of notice `key` (it is in an inbox)."""
    return InboxEntry.objects.filter(key=key[:120]).exists()


# The inbox --------------------------------------------------------------------------------


def inbox_for_user(*, user: User) -> list[InboxEntry]:
    return list(InboxEntry.objects.filter(user=user).order_by("-id")[:INBOX_KEEP])


def inbox_unread(*, user: User) -> int:
    return InboxEntry.objects.filter(user=user, read_at__isnull=True).count()


def inbox_open(*, user: User, entry_id: int) -> InboxEntry:
    """Mark the user's entry read and return it. Raises ServiceError 404."""
    entry = InboxEntry.objects.filter(user=user, id=entry_id).first()
    if entry is None:
        raise ServiceError("No such notice.", status=404)
    if entry.read_at is None:
        InboxEntry.objects.filter(id=entry.id).update(read_at=timezone.now())
        _badge_send(user)
    return entry


def inbox_read_all(*, user: User) -> int:
    marked = InboxEntry.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
    if marked:
        _badge_send(user)
    return marked


def _badge_send(user: User) -> None:
    """The tab bar's count on the user's open pages."""
    group_send(user_group(user.id), {"type": "inbox", "unread": inbox_unread(user=user)})


def inbox_path(url: str) -> str:
    """Where opening an entry leads: a path on this hub, else the inbox."""
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/inbox/"
    return url


# A team's reminders -----------------------------------------------------------------------


def team_reminder(*, team_id: int) -> TeamReminder:
    reminder, _ = TeamReminder.objects.get_or_create(team_id=team_id)
    return reminder


def reminders_due(*, team_ids: Iterable[int]) -> dict[int, timedelta]:
    """The wait before a reminder, for each of these teams that wants one."""
    waits = {team_id: timedelta(minutes=TeamReminder._meta.get_field("remind_after").default)
             for team_id in team_ids}  # fmt: skip
    for reminder in TeamReminder.objects.filter(team_id__in=list(waits)):
        waits[reminder.team_id] = timedelta(minutes=reminder.remind_after)
    return {team_id: wait for team_id, wait in waits.items() if wait}
