"""A desktop for the notification tests: push messages delivered to the hub's service worker
as a push service would (`push`), a phone signed in with notifications allowed
(`signed_in_phone`), and the desktop's notification daemon (`NotificationDaemon`) that
Chromium shows its notifications through, so a test sees what the desktop was asked to
show and can click it (tests/e2e/test_push_worker.py says why a click needs it).

The fixtures `daemon` and `desktop` (tests/e2e/conftest.py) start them."""

import json
import os
import queue
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

from playwright.sync_api import BrowserContext, Page

from accounts.models import Membership, Role, Team
from tasks.models import PermissionRequest
from tests.kits.common import make_host, make_user
from tests.kits.phone import off_the_loop, sign_in


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


def signed_in_phone(context: BrowserContext, hub_url: str) -> Page:
    context.grant_permissions(["notifications"], origin=hub_url)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, hub_url, make_user("pia@example.com"))
    return page


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
