"""The service worker in Chromium: a push message becomes a notification, and a
click on that notification brings up the task it names.

The push is real: DevTools' ServiceWorker.deliverPushMessage hands the
payload to the worker's `push` handler, as the push service would.

There is no web API to click a notification, and a synthetic
`NotificationEvent` dispatched inside the worker does not count:
`clients.openWindow()` and `WindowClient.focus()` refuse with
"InvalidAccessError: Not allowed to open a window" outside a click the
browser itself delivered. So the click tests stand in for the desktop
instead: Chromium on Linux shows notifications through the freedesktop
notification daemon on the session D-Bus, and a click there comes back as
its `ActionInvoked(id, "default")` signal. `NotificationDaemon` below is that
daemon on a private bus, the browser is launched on that bus, and the click
goes through Chromium's own click path: the worker gets a trusted
`notificationclick`, may open or focus a window, and closes the notification.
Chromium routes such a click to a person's profile, never to an incognito one,
so the click tests use a persistent context, not `browser.new_context()`.
"""

import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from accounts.models import Membership, Role, Team, User
from notifications import vapid
from tasks.models import PermissionRequest
from tasks.notify import permission_message
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, off_the_loop
from tests.kits.common import make_host, make_user
from tests.kits.phone import shot, sign_in
from tests.kits.processes import wait_until

pytestmark = pytest.mark.e2e

TASK_PUSH = {
    "title": "Done · Turn this into a list",
    "body": "notes on studio",
    "url": "/tasks/42/",
    "tag": "task-42",
}
NOTIFICATIONS_JS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data}));
}"""


# The worker --------------------------------------------------------------------


def push(page: Page, hub_url: str, payload: dict) -> None:
    """Deliver a push message to the hub's service worker, as the push service would."""
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    cdp = page.context.new_cdp_session(page)
    versions: list[dict] = []
    cdp.on("ServiceWorker.workerVersionUpdated", lambda event: versions.extend(event["versions"]))
    cdp.send("ServiceWorker.enable")  # reports every registration and version, then their changes
    deadline = time.monotonic() + 10
    while not (
        active := [v for v in versions if v["scriptURL"] == f"{hub_url}/sw.js" and v["status"] == "activated"]
    ):
        assert time.monotonic() < deadline, f"no active service worker for {hub_url}: {versions}"
        page.wait_for_timeout(50)  # lets Playwright take in the next events
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": hub_url, "registrationId": active[0]["registrationId"], "data": json.dumps(payload)},
    )
    cdp.detach()


def shown_notifications(page: Page, *, any_at_all: bool = True) -> list[dict]:
    """The notifications the worker shows, once there is one (or once there are none)."""
    page.wait_for_function(
        "async (any) => (await (await navigator.serviceWorker.ready).getNotifications()).length > 0 === any",
        arg=any_at_all,
        polling=100,
        timeout=10_000,
    )
    return page.evaluate(NOTIFICATIONS_JS)


def signed_in_phone(context: BrowserContext, hub_url: str) -> Page:
    context.grant_permissions(["notifications"], origin=hub_url)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, hub_url, make_user("pia@example.com"))
    return page


@pytest.fixture
def vapid_key(tmp_path, monkeypatch):
    """A VAPID key for the hub about to start, so that it offers Web Push."""
    vapid.generate(tmp_path / "vapid.pem")
    monkeypatch.setenv("VAPID_PRIVATE_KEY_FILE", str(tmp_path / "vapid.pem"))


def test_a_push_shows_a_notification_for_the_task(vapid_key, live_hub, browser, artifacts):
    context = browser.new_context(**PHONE)
    try:
        page = signed_in_phone(context, live_hub.url)
        push(page, live_hub.url, TASK_PUSH)
        assert shown_notifications(page) == [
            {
                "title": "Done · Turn this into a list",
                "body": "notes on studio",
                "tag": "task-42",
                "data": {"url": "/tasks/42/"},
            }
        ]
        page.goto(f"{live_hub.url}/settings/notifications/")
        expect(page.get_by_role("button", name="Enable notifications on this device")).to_be_enabled()
        shot(page, artifacts, "notification-settings")
    finally:
        context.close()


@pytest.mark.parametrize(
    "url",
    ["https://evil.example/tasks/42/", "//evil.example/tasks/42/", "/\\evil.example/", "javascript:alert(1)"],
    ids=["other-site", "scheme-relative", "backslash", "javascript"],
)
def test_a_push_for_another_site_links_home(live_hub, browser, url):
    context = browser.new_context(**PHONE)
    try:
        page = signed_in_phone(context, live_hub.url)
        push(page, live_hub.url, {**TASK_PUSH, "url": url})
        [notification] = shown_notifications(page)
        assert notification["title"] == TASK_PUSH["title"]
        assert notification["data"] == {"url": "/"}
    finally:
        context.close()


# The click ---------------------------------------------------------------------


class NotificationDaemon:
    """The desktop's notification daemon (org.freedesktop.Notifications), alone
    on a private D-Bus session bus: it keeps what it is asked to show and
    clicks a notification on request, speaking just enough of the D-Bus wire
    protocol (little-endian messages, no file descriptors) for Chromium."""

    NAME = "org.freedesktop.Notifications"
    PATH = "/org/freedesktop/Notifications"

    def __init__(self, folder: Path):
        config = folder / "bus.conf"
        config.write_text(
            "<busconfig><type>session</type>"
            f"<listen>unix:dir={folder}</listen><auth>EXTERNAL</auth>"
            '<policy context="default"><allow send_destination="*" eavesdrop="true"/>'
            '<allow eavesdrop="true"/><allow own="*"/></policy></busconfig>'
        )
        self.bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # as root it cannot raise its file limit, and says so
            text=True,
        )
        self.shown: queue.Queue[tuple[int, str, str]] = queue.Queue()
        self.buttons: dict[int, dict[str, str]] = {}  # notification id -> {button title: action key}
        self.closed: queue.Queue[int] = queue.Queue()
        self.ids = iter(range(1, 1 << 31))
        self.serial = 0
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX)
        try:
            self.address = self.bus.stdout.readline().strip()
            assert self.address.startswith("unix:path="), f"dbus-daemon did not start: {self.address!r}"
            self.sock.settimeout(10)
            self.sock.connect(dict(part.split("=", 1) for part in self.address[5:].split(","))["path"])
            self.sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
            assert self._line().startswith(b"OK "), "the bus refused us"
            self.sock.sendall(b"BEGIN\r\n")
            self._call("Hello")
            self._call("RequestName", "su", self.NAME, 4)  # 4: do not queue; 1 comes back: ours
        except BaseException:
            self.stop()
            raise
        self.sock.settimeout(None)
        threading.Thread(target=self._serve, daemon=True).start()

    def next_shown(self) -> tuple[int, str, str]:
        """(id, title, text) of the next notification Chromium shows."""
        return self._next(self.shown, "showed")

    def next_closed(self) -> int:
        return self._next(self.closed, "closed")

    def _next(self, events: queue.Queue, what: str):
        try:
            return events.get(timeout=10)
        except queue.Empty:
            raise AssertionError(f"Chromium {what} no notification within 10 s") from None

    def click(self, notification_id: int, button: str = "") -> None:
        """What a tap on the notification does: the daemon's `default` action,
        or the action of the button with that title."""
        key = self.buttons[notification_id][button] if button else "default"
        self._send(
            4,
            path=self.PATH,
            interface=self.NAME,
            member="ActionInvoked",
            signature="us",
            args=(notification_id, key),
        )

    def stop(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread reading
        except OSError:
            pass  # never connected
        self.sock.close()
        self.bus.terminate()
        self.bus.wait(10)

    # Chromium's side of the conversation.

    def _serve(self) -> None:
        try:
            while True:
                kind, serial, fields, body = self._read()
                if kind == 1:  # a method call
                    self._answer(serial, fields, body)
        except OSError:
            pass  # stopped

    def _answer(self, serial: int, fields: dict, body: bytes) -> None:
        reply = {"reply_serial": serial, "destination": fields.get(7)}
        member = fields.get(3)
        if member == "GetCapabilities":
            self._send(2, signature="as", args=(["actions", "body"],), **reply)
        elif member == "GetServerInformation":
            self._send(2, signature="ssss", args=("test", "codexhub", "1", "1.2"), **reply)
        elif member == "Notify":  # (app, replaces id, icon, summary, body, actions, hints, timeout)
            _, _, _, summary, text, actions = _strings(body, "susssA")
            notification_id = next(self.ids)
            # The actions come as pairs: key, then the button's title.
            self.buttons[notification_id] = dict(zip(actions[1::2], actions[::2], strict=True))
            self._send(2, signature="u", args=(notification_id,), **reply)
            self.shown.put((notification_id, summary, text))
        elif member == "CloseNotification":
            self._send(2, **reply)
            self.closed.put(_strings(body, "u")[0])
        else:
            self._send(3, error="org.freedesktop.DBus.Error.UnknownMethod", **reply)

    # The wire.

    def _call(self, member: str, signature: str = "", *args) -> None:
        self._send(
            1,
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member=member,
            destination="org.freedesktop.DBus",
            signature=signature,
            args=args,
        )
        while True:  # the bus's own signals (NameAcquired) may come first
            kind, _, fields, _ = self._read()
            if kind in (2, 3) and fields.get(5) == self.serial:
                assert kind == 2, f"the bus refused {member}: {fields.get(4)}"
                return

    def _send(
        self,
        kind,
        *,
        path=None,
        interface=None,
        member=None,
        error=None,
        reply_serial=None,
        destination=None,
        signature="",
        args=(),
    ) -> None:
        body = _marshal(bytearray(), signature, args)
        with self.lock:
            self.serial += 1
            header = bytearray(b"l" + bytes([kind, 0, 1]) + struct.pack("<II", len(body), self.serial))
            fields = [
                (1, "o", path),
                (2, "s", interface),
                (3, "s", member),
                (4, "s", error),
                (5, "u", reply_serial),
                (6, "s", destination),
                (8, "g", signature or None),
            ]
            length_at = len(header)
            header += b"\0\0\0\0"
            _pad(header, 8)
            start = len(header)
            for code, kind_of, value in fields:
                if value is not None:
                    _pad(header, 8)
                    header.append(code)
                    _marshal(header, "g", (kind_of,))
                    _marshal(header, kind_of, (value,))
            struct.pack_into("<I", header, length_at, len(header) - start)
            _pad(header, 8)
            self.sock.sendall(bytes(header + body))

    def _read(self) -> tuple[int, int, dict, bytes]:
        fixed = self._exactly(16)
        assert fixed[:1] == b"l", "a big-endian message"
        kind = fixed[1]
        body_length, serial, fields_length = struct.unpack("<III", fixed[4:16])
        raw = fixed + self._exactly(fields_length + (-fields_length % 8) + body_length)
        fields, at = {}, 16
        while at < 16 + fields_length:
            at += -at % 8
            code, signature_length = raw[at], raw[at + 1]
            signature = raw[at + 2 : at + 2 + signature_length].decode()
            at += 3 + signature_length
            if signature == "g":
                fields[code] = raw[at + 1 : at + 1 + raw[at]].decode()
                at += 2 + raw[at]
            elif signature == "u":
                at += -at % 4
                fields[code] = struct.unpack_from("<I", raw, at)[0]
                at += 4
            else:  # s, o
                at += -at % 4
                size = struct.unpack_from("<I", raw, at)[0]
                fields[code] = raw[at + 4 : at + 4 + size].decode()
                at += 5 + size
        return kind, serial, fields, bytes(raw[len(raw) - body_length :])

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise OSError("the bus hung up")
            data += chunk
        return data

    def _line(self) -> bytes:
        data = b""
        while not data.endswith(b"\r\n"):
            data += self._exactly(1)
        return data


def _pad(buffer: bytearray, alignment: int) -> None:
    buffer += b"\0" * (-len(buffer) % alignment)


def _marshal(buffer: bytearray, signature: str, args) -> bytearray:
    """Append args of the types u, i, s, o, g and as (an array of strings)."""
    for kind, value in zip(signature.replace("as", "A"), args, strict=True):
        if kind in "ui":
            _pad(buffer, 4)
            buffer += struct.pack("<I" if kind == "u" else "<i", value)
        elif kind in "so":
            _pad(buffer, 4)
            buffer += struct.pack("<I", len(value.encode())) + value.encode() + b"\0"
        elif kind == "g":
            buffer += bytes([len(value)]) + value.encode() + b"\0"
        elif kind == "A":
            _pad(buffer, 4)
            items = _marshal(bytearray(), "s" * len(value), value)
            buffer += struct.pack("<I", len(items)) + items
    return buffer


def _strings(body: bytes, signature: str) -> list:
    """The leading args of a message body of the types s, u and A (as: an array of strings)."""
    values, at = [], 0
    for kind in signature:
        at += -at % 4
        number = struct.unpack_from("<I", body, at)[0]
        if kind == "u":
            values.append(number)
            at += 4
        elif kind == "A":
            end, at, items = at + 4 + number, at + 4, []
            while at < end:
                at += -at % 4
                size = struct.unpack_from("<I", body, at)[0]
                items.append(body[at + 4 : at + 4 + size].decode())
                at += 5 + size
            values.append(items)
        else:
            values.append(body[at + 4 : at + 4 + number].decode())
            at += 5 + number
    return values


@pytest.fixture
def daemon():
    if not shutil.which("dbus-daemon"):
        pytest.fail("dbus-daemon is missing: apt-get install -y dbus-daemon")
    with tempfile.TemporaryDirectory(prefix="bus-") as folder:  # short: a socket path has 108 bytes
        daemon = NotificationDaemon(Path(folder))
        yield daemon
        daemon.stop()


@pytest.fixture
def desktop(browser, daemon, tmp_path):
    """A phone-sized Chromium with a profile of its own, on the daemon's bus."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": daemon.address},
        **PHONE,
    )
    yield context
    context.close()


def shown_on_the_desktop(daemon: NotificationDaemon) -> int:
    notification_id, summary, text = daemon.next_shown()
    assert summary == TASK_PUSH["title"]
    assert TASK_PUSH["body"] in text  # Chromium puts the site's name above it
    return notification_id


def test_a_click_opens_the_task(live_hub, daemon, desktop):
    page = signed_in_phone(desktop, live_hub.url)
    push(page, live_hub.url, TASK_PUSH)
    assert [n["data"] for n in shown_notifications(page)] == [{"url": "/tasks/42/"}]
    notification_id = shown_on_the_desktop(daemon)

    with desktop.expect_page(timeout=10_000) as opened:
        daemon.click(notification_id)
    task_page = opened.value
    task_page.wait_for_load_state()
    assert urlparse(task_page.url).path == "/tasks/42/"  # a 404 for pia: no such task, which is fine
    assert daemon.next_closed() == notification_id  # the worker closed it
    assert shown_notifications(page, any_at_all=False) == []


WATCH_FOCUS_JS = """() => {
  const focus = WindowClient.prototype.focus;
  self.focusedPath = new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("no window was focused within 10 s")), 10_000);
    WindowClient.prototype.focus = function () {
      const focusing = focus.call(this);
      focusing.then((client) => resolve(new URL(client.url).pathname), reject);
      return focusing;
    };
  });
}"""


def test_a_click_focuses_the_task_already_open(live_hub, daemon, desktop):
    page = signed_in_phone(desktop, live_hub.url)
    task_page = desktop.new_page()
    task_page.goto(f"{live_hub.url}/tasks/42/")
    page.bring_to_front()
    push(page, live_hub.url, TASK_PUSH)
    notification_id = shown_on_the_desktop(daemon)

    # Headless windows are all visible and Playwright tells every page it has
    # the focus, so the pages cannot tell which one came forward. The worker's
    # WindowClient.focus() can: it is watched (and still called) as it resolves;
    # it would refuse outside a click Chromium delivered.
    [worker] = desktop.service_workers
    worker.evaluate(WATCH_FOCUS_JS)
    opened = []
    desktop.on("page", lambda new: opened.append(new))
    daemon.click(notification_id)
    assert worker.evaluate("self.focusedPath") == "/tasks/42/"
    assert daemon.next_closed() == notification_id
    assert shown_notifications(page, any_at_all=False) == []
    assert opened == []  # focused, not opened a second time
    assert [urlparse(p.url).path for p in desktop.pages] == ["/hosts/", "/tasks/42/"]


# A permission request's buttons ------------------------------------------------


def asking_pia(user) -> PermissionRequest:
    """pia's running agent session on her host, waiting for her answer."""
    return off_the_loop(_asking_pia, user)


def _asking_pia(user) -> PermissionRequest:
    from tasks.models import TaskState
    from tests.kits.task_stream import make_task, offering, shared_project

    team = Team.objects.create(name="Pia's")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    host, _ = make_host(team, "studio")
    acp = {"name": "codex", "label": "Codex", "kind": "acp", "needs_file": False}
    project = shared_project(offering(host, acp), name="notes")
    task = make_task(project, user, executor="codex", prompt="Add milk", state=TaskState.RUNNING)
    options = [
        {"option_id": "allow", "name": "Allow once", "kind": "allow_once"},
        {"option_id": "reject", "name": "Reject", "kind": "reject_once"},
    ]
    return PermissionRequest.objects.create(
        task=task, request_id="p1", title="Edit notes.md", tool_kind="edit", options=options
    )


def test_allow_on_the_notification_answers_the_agent(live_hub, daemon, desktop):
    page = signed_in_phone(desktop, live_hub.url)
    user = User.objects.get(email="pia@example.com")
    request = asking_pia(user)
    push(page, live_hub.url, json.loads(permission_message(request, user).payload()))
    notification_id, summary, _ = daemon.next_shown()
    assert summary == "Agent asks: Edit notes.md"
    assert {"Allow once", "Reject"} <= set(daemon.buttons[notification_id])  # beside Chromium's own

    opened = []
    desktop.on("page", lambda new: opened.append(new))
    daemon.click(notification_id, "Allow once")
    assert daemon.next_closed() == notification_id
    wait_until(
        lambda: PermissionRequest.objects.get(id=request.id).state == "answered",
        timeout=10,
        what="the answer to reach the hub",
    )
    request.refresh_from_db()
    assert (request.option_id, request.answered_by) == ("allow", user)
    assert opened == []  # answered in the background: nothing to open


def test_a_button_that_cannot_answer_opens_the_request(live_hub, daemon, desktop):
    page = signed_in_phone(desktop, live_hub.url)
    user = User.objects.get(email="pia@example.com")
    request = asking_pia(user)
    push(page, live_hub.url, json.loads(permission_message(request, user).payload()))
    notification_id, _, _ = daemon.next_shown()
    PermissionRequest.objects.filter(id=request.id).update(state="answered", option_id="allow")

    with desktop.expect_page(timeout=10_000) as opened:
        daemon.click(notification_id, "Reject")  # answered meanwhile on another screen: 409
    task_page = opened.value
    task_page.wait_for_load_state()
    assert urlparse(task_page.url).path == f"/tasks/{request.task_id}/"
    assert urlparse(task_page.url).fragment == f"permission-{request.id}"
    assert PermissionRequest.objects.get(id=request.id).option_id == "allow"
