"""Telling people when a task ends or an agent asks for an answer: their push
devices (Web Push, APNs, FCM), their preferences, and the in-page toast. One
function per verb."""

import ipaddress
import json
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import IntegrityError
from django.utils import timezone
from push_notifications.models import APNSDevice, GCMDevice, WebPushDevice

from accounts.groups import user_group
from accounts.models import MANAGER_ROLES, User
from codexhub.events import group_send
from notifications import vapid
from notifications.models import Delivery, Preference
from projects.paths import path_visible

logger = logging.getLogger(__name__)

MAX_PAYLOAD = 4096
MAX_NAME = 64
KINDS = {"webpush": WebPushDevice, "apns": APNSDevice, "fcm": GCMDevice}
# In this order: an Edge User-Agent says Chrome too, and a Chrome one says Safari.
BROWSERS = ("EDGE", "OPERA", "FIREFOX", "CHROME", "SAFARI")
ENDPOINT_REFUSED = "This push service is not allowed on this hub."
BAD_SUBSCRIPTION = "That is not a push subscription: it needs an https endpoint and its p256dh and auth keys."
RETRIES = 3
ANSWER_SALT = "codexhub.notifications.permission-answer"
PERMISSION_CATEGORY = "CODEXHUB_PERMISSION"  # a native app registers its buttons under this


class NotifyError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


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
        raise NotifyError(BAD_SUBSCRIPTION)
    if any(ch not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=" for ch in value):
        raise NotifyError(BAD_SUBSCRIPTION)
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
        raise NotifyError(BAD_SUBSCRIPTION)
    endpoint = subscription.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 2000 or not endpoint.startswith("https://"):
        raise NotifyError(BAD_SUBSCRIPTION)
    if not endpoint_allowed(endpoint):
        raise NotifyError(ENDPOINT_REFUSED)
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
        raise NotifyError("type must be apns or fcm")
    if not isinstance(token, str) or not 8 <= len(token) <= 4096 or not token.isprintable() or " " in token:
        raise NotifyError("token must be the device token the platform gave")
    if kind == "apns" and (len(token) > 200 or any(c not in "0123456789abcdefABCDEF" for c in token)):
        raise NotifyError("an APNs token is hexadecimal")
    label = name if isinstance(name, str) and name.isprintable() else ""
    model = KINDS[kind]
    model.objects.filter(registration_id=token).exclude(user=user).delete()
    extra = {"cloud_message_type": "FCM"} if kind == "fcm" else {}
    device, _ = model.objects.update_or_create(
        user=user, registration_id=token, defaults={"name": label[:MAX_NAME], "active": True, **extra}
    )
    return device


@dataclass(frozen=True)
class DeviceRow:
    kind: str
    device: object


def devices_for_user(*, user: User) -> list[DeviceRow]:
    rows = []
    for kind, model in KINDS.items():
        rows += [DeviceRow(kind, device) for device in model.objects.filter(user=user).order_by("id")]
    return rows


def device_get(*, user: User, kind: str, device_id: int):
    """The user's own device, or LookupError (another user's id answers the same)."""
    model = KINDS.get(kind)
    device = model.objects.filter(user=user, id=device_id).first() if model else None
    if device is None:
        raise LookupError("no such device")
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


# Messages -----------------------------------------------------------------------------


OUTCOME_TITLES = {
    "succeeded": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "expired": "Expired",
}


@dataclass(frozen=True)
class Message:
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


def _first_words(text: str, limit: int) -> str:
    """Host and agent text (titles, errors naming files) with hidden characters shown."""
    words = " ".join(path_visible(text).split())
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def task_message(task) -> Message:
    """Names the outcome, the task's first words, the project and the host; no
    file content, no full prompt, no secret."""
    outcome = OUTCOME_TITLES.get(task.state, task.state)
    if task.error and task.state == "failed":
        outcome = f"Failed: {_first_words(task.error, 40)}"
    return Message(
        title=f"{outcome} · {_first_words(task.prompt, 60)}",
        body=f"{path_visible(task.project.name)} on {task.host.name}",
        url=f"/tasks/{task.id}/",
        tag=f"task-{task.id}",
    )


def _wanted(task, preference: Preference) -> bool:
    if task.state == "succeeded":
        return preference.task_succeeded
    if task.state == "cancelled" and task.cancelled_by_id == task.created_by_id:
        return False  # they stopped it themselves
    return preference.task_failed


# Sending ------------------------------------------------------------------------------


class TransientPushError(Exception):
    pass


def notify_task(*, task_id: int) -> int:
    """Tell the task's sender that it ended, once per device. Returns pushes sent."""
    from tasks.models import Task

    task = Task.objects.select_related("project", "host", "created_by").filter(id=task_id).first()
    if task is None or task.created_by is None or not task.finished:
        return 0
    if not _wanted(task, preference_for(user=task.created_by)):
        return 0
    message = task_message(task)
    group_send(user_group(task.created_by_id), {"type": "notify", **message.toast()})
    return _push(task.created_by, message, key=f"task:{task.id}")


def notify_turn(*, task_id: int, turn: int) -> int:
    """An agent session's sender: the agent finished a turn and waits for a
    message. Told if they want to hear of finished tasks; each turn once."""
    from tasks.models import Task

    task = Task.objects.select_related("project", "host", "created_by").filter(id=task_id).first()
    if task is None or task.created_by is None or not task.session_open:
        return 0
    if not preference_for(user=task.created_by).task_succeeded:
        return 0
    message = Message(
        title=f"Your turn · {_first_words(task.prompt, 60)}",
        body=f"The agent waits for your message in {path_visible(task.project.name)} on {task.host.name}",
        url=f"/tasks/{task.id}/",
        tag=f"task-{task.id}",
    )
    group_send(user_group(task.created_by_id), {"type": "notify", **message.toast()})
    return _push(task.created_by, message, key=f"turn:{task.id}:{turn}")


def notify_host_offline(*, host) -> int:
    """Members of the host's team who asked to hear of it; each device once per outage."""
    from accounts.models import Membership

    message = Message(
        title=f"{host.name} went offline",
        body=f"Last seen {timezone.localtime(host.last_seen_at):%H:%M}. Its tasks wait until it is back.",
        url=f"/hosts/{host.id}/",
        tag=f"host-{host.id}",
    )
    sent = 0
    members = Membership.objects.filter(team_id=host.team_id, user__notify__host_offline=True).select_related(
        "user"
    )
    for membership in members:
        group_send(user_group(membership.user_id), {"type": "notify", **message.toast()})
        sent += _push(membership.user, message, key=f"host:{host.id}:{host.last_seen_at.timestamp():.0f}")
    return sent


def notify_test(*, user: User) -> int:
    body = "Notifications work on this device."
    message = Message(title="codexhub", body=body, url="/settings/notifications/", tag="test")
    group_send(user_group(user.id), {"type": "notify", **message.toast()})
    return _push(user, message, key=f"test:{time.time_ns()}")


def notify_permission(*, request_id: int) -> int:
    """Ask the people who may answer an agent's permission request: the task's
    sender if their role allows it, else the team's owners and admins. Each
    device once; Web Push carries Allow and Reject buttons."""
    from tasks.models import PermissionRequest, PermissionState

    request = (
        PermissionRequest.objects.select_related("task__project", "task__host", "task__created_by")
        .filter(id=request_id, state=PermissionState.PENDING)
        .first()
    )
    if request is None:
        return 0
    sent = 0
    for user in _answerers(request.task):
        if not preference_for(user=user).permission_asked:
            continue
        message = permission_message(request, user)
        group_send(user_group(user.id), {"type": "notify", **message.toast()})
        sent += _push(user, message, key=f"permission:{request.id}")
    return sent


def _answerers(task) -> list[User]:
    from tasks.sessions import may_answer

    if task.created_by is not None and may_answer(user=task.created_by, host=task.host):
        return [task.created_by]
    managers = User.objects.filter(
        memberships__team_id=task.team_id, memberships__role__in=MANAGER_ROLES
    ).order_by("id")
    return [user for user in managers if may_answer(user=user, host=task.host)]


def permission_message(request, user: User) -> Message:
    task = request.task
    actions = tuple(
        {"action": f"option-{index}", "title": option["name"], "token": answer_token(request, user, option)}
        for index, option in enumerate(_push_options(request.options))
    )
    return Message(
        title=f"Agent asks: {_first_words(request.title, 60)}",
        body=f"{path_visible(task.project.name)} on {task.host.name} · {_first_words(task.prompt, 60)}",
        url=f"/tasks/{task.id}/#permission-{request.id}",
        tag=f"permission-{request.id}",
        actions=actions,
    )


def _push_options(options: list[dict]) -> list[dict]:
    """Two buttons at most (Chrome shows two): allow once and reject once, else
    their "always" kin. Anything else is answered on the page."""
    chosen = []
    for kinds in (("allow_once", "allow_always"), ("reject_once", "reject_always")):
        match = next((o for kind in kinds for o in options if o.get("kind") == kind), None)
        if match is not None:
            chosen.append(match)
    return chosen


def answer_token(request, user: User, option: dict) -> str:
    """A signed, user-bound answer: it lets the service worker answer from the
    notification without a CSRF token, and answers nothing for anyone else."""
    return signing.dumps({"r": request.id, "u": user.id, "o": option["option_id"]}, salt=ANSWER_SALT)


def answer_from_token(*, user: User, token: object) -> tuple[int, str]:
    """(request id, option id) a notification button carried. Raises NotifyError."""
    if not isinstance(token, str) or len(token) > 1000:
        raise NotifyError("That answer is not one this hub sent.")
    try:
        data = signing.loads(token, salt=ANSWER_SALT, max_age=settings.PERMISSION_ANSWER_MAX_AGE)
    except signing.SignatureExpired:
        raise NotifyError("This notification is too old to answer: open the task.", status=410) from None
    except signing.BadSignature:
        raise NotifyError("That answer is not one this hub sent.") from None
    if data.get("u") != user.id:
        raise NotifyError("This notification was sent to someone else.", status=403)
    return data["r"], data["o"]


def _push(user: User, message: Message, *, key: str) -> int:
    sent = 0
    for row in devices_for_user(user=user):
        if row.device.active and _deliver(row, message, key=f"{key}:{row.kind}:{row.device.id}"):
            sent += 1
    return sent


def _deliver(row: DeviceRow, message: Message, *, key: str) -> bool:
    """Send unless this key was sent before (a redelivered job); retry a
    transient failure with backoff. Never raises."""
    try:
        delivery, _ = Delivery.objects.get_or_create(key=key[:120], defaults={"user_id": row.device.user_id})
    except IntegrityError:
        delivery = Delivery.objects.get(key=key[:120])
    if delivery.sent_at is not None:
        return False
    error = ""
    for attempt in range(RETRIES):
        try:
            _send(row, message)
            Delivery.objects.filter(id=delivery.id).update(sent_at=timezone.now(), error="")
            return True
        except TransientPushError as exc:
            error = str(exc)[:200]
            if attempt + 1 < RETRIES:
                time.sleep(settings.PUSH_RETRY_BASE * 2**attempt)
        except Exception as exc:  # a failure to notify never fails anything else
            error = f"{type(exc).__name__}: {exc}"[:200]
            break
    logger.warning("push %s not delivered: %s", key, error)
    Delivery.objects.filter(id=delivery.id).update(error=error)
    return False


def _send(row: DeviceRow, message: Message) -> None:
    from push_notifications.exceptions import WebPushError

    if row.kind == "webpush":
        try:
            result = row.device.send_message(message.payload())
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
        row.device.send_message(**apns_payload(message))
    else:
        row.device.send_message(None, **fcm_payload(message))


class PermanentPushError(Exception):
    pass


def apns_payload(message: Message) -> dict:
    """APNSDevice.send_message's arguments: an alert, the thread, the URL to open;
    a permission request also names its category (the app's buttons open the request)."""
    from push_notifications.apns_async import Alert

    payload = {
        "message": Alert(title=message.title, body=message.body),
        "thread_id": message.tag,
        "extra": {"url": message.url},
        "sound": "default",
    }
    if message.actions:
        payload["category"] = PERMISSION_CATEGORY
    return payload


def fcm_payload(message: Message) -> dict:
    """GCMDevice.send_message(None, **these): a notification and the URL as data."""
    extra = {"title": message.title, "body": message.body, "url": message.url, "tag": message.tag}
    if message.actions:
        extra["category"] = PERMISSION_CATEGORY
    return {"extra": extra}
