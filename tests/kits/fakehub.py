"""Fakes of the hub for agent tests, on 127.0.0.1 only.

FakeHub is a real websockets server for /ws/host/ that speaks the protocol
(welcome, acks, duplicates, gaps) and can be scripted per connection to inject
faults. FakePairingApi and FakeArtifactApi answer the agent's HTTP calls
(tests.kits.loopback servers).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hostagent import __version__
from protocol import sequenced
from protocol.base import reason
from protocol.link import Envelope
from protocol.live import ComputerFrame
from protocol.version import PROTOCOL_VERSION
from tests.kits import loopback

TOKEN = "chub_test-token-0123456789abcdefghijklmnopqrstuvwxyz012"
DEVICE_CODE = "device-secret-0123456789abcdefghijklmnopqrstuvwxyz01"


async def wait_for(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Conn:
    """One agent connection as the hub saw it."""

    def __init__(self, hub: FakeHub, ws: ServerConnection):
        self.hub = hub
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def welcome(self, streams: dict[str, int] | None = None, heartbeat_interval: float = 20) -> None:
        await self.send(
            {
                "type": "welcome",
                "host_id": 12,
                "heartbeat_interval": heartbeat_interval,
                "streams": dict(self.hub.applied) if streams is None else streams,
            }
        )

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        self.raw.append(raw)
        message = json.loads(raw)
        self.received.append(message)
        if "seq" in message:
            self.hub.seen.append((message["stream"], message["seq"], message["type"]))
        if message.get("type") == "computer.frame":
            self.hub.frame(message)
        return message

    async def recv_until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    async def serve(self, ack: bool = True) -> None:
        """Act like the hub: apply in order, ack, re-ack duplicates, refuse gaps, answer heartbeats."""
        while True:
            message = await self.recv(timeout=60)
            if message.get("type") == "heartbeat":
                await self.send({"type": "heartbeat_ack"})
            elif "seq" in message and ack:
                stream, seq = message["stream"], message["seq"]
                last = self.hub.applied.get(stream, 0)
                if seq > last + 1:
                    await self.send(
                        {"type": "error", "error": "gap", "stream": stream, "seq": seq, "expected": last + 1}
                    )
                    continue
                if seq == last + 1:
                    self.hub.applied[stream] = seq
                    self.hub.applied_messages.append(message)
                    self.hub.check(message)
                await self.send({"type": "ack", "stream": stream, "seq": seq})

    async def close(self, code: int, reason: str = "") -> None:
        await self.ws.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (the agent sees 1006)."""
        self.ws.transport.abort()


Script = Callable[[Conn], Awaitable[None]]


async def default_script(conn: Conn) -> None:
    await conn.welcome()
    await conn.serve()


class FakeHub:
    def __init__(self, token: str = TOKEN, scripts: list[Script] | None = None):
        self.token = token
        self.scripts = list(scripts or [])
        self.refuse_status: int | None = None  # answer the handshake with this HTTP status
        self.connections: list[Conn] = []
        self.applied: dict[str, int] = {}
        self.applied_messages: list[dict[str, Any]] = []
        self.seen: list[tuple[str, int, str]] = []
        self.refused: list[int] = []
        self.handshakes: list[dict[str, str]] = []  # each handshake's headers, names lower-case
        self.invalid: list[str] = []  # sequenced messages the hub's models would refuse
        self.frames: list[tuple[float, dict[str, Any]]] = []  # live frames: (monotonic time, frame)
        self.port = 0
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != "/ws/host/":
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        self.handshakes.append({name.lower(): value for name, value in request.headers.raw_items()})
        if self.refuse_status is not None:
            self.refused.append(self.refuse_status)
            return connection.respond(HTTPStatus(self.refuse_status), "refused\n")
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.refused.append(401)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad token\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        conn = Conn(self, ws)
        self.connections.append(conn)
        index = len(self.connections) - 1
        script = self.scripts[index] if index < len(self.scripts) else default_script
        try:
            await script(conn)
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            try:
                await asyncio.wait_for(ws.wait_closed(), 5)
            except TimeoutError:
                pass
            conn.close_code = ws.close_code
            conn.closed.set()

    async def __aenter__(self) -> FakeHub:
        self._server = await serve(self._handler, "127.0.0.1", 0, process_request=self._check)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if exc_type is None:
            assert self.invalid == [], "the agent sent what the hub would refuse"

    def check(self, message: dict[str, Any]) -> None:
        """Check a sequenced message as the hub does, with the protocol's models: the agent
        must never send one the hub refuses (a type the protocol does not know is left alone:
        tests send their own)."""
        try:
            envelope = Envelope.model_validate(message)
        except ValidationError as exc:
            self.invalid.append(f"envelope: {reason(exc)}")
            return
        model = sequenced().get((envelope.stream, envelope.type))
        if model is None:
            return
        try:
            model.model_validate(json.loads(json.dumps(envelope.payload)))
        except ValidationError as exc:
            self.invalid.append(f"{envelope.type}: {reason(exc)}")

    def frame(self, message: dict[str, Any]) -> None:
        """A live frame, kept with when it came, checked as the hub does."""
        self.frames.append((time.monotonic(), message))
        try:
            ComputerFrame.model_validate(message)
        except ValidationError as exc:
            self.invalid.append(f"computer.frame: {reason(exc)}")

    def mirror_messages(self, type_: str | None = None) -> list[dict[str, Any]]:
        """The applied messages of stream `mirror` (each once, in seq order), optionally of one type."""
        return [
            m
            for m in self.applied_messages
            if m.get("stream") == "mirror" and (type_ is None or m.get("type") == type_)
        ]

    def mirror_batches(self, project: str | None = None) -> list[dict[str, Any]]:
        """The payloads of the applied `mirror.batch` messages, optionally of one project."""
        payloads = [m["payload"] for m in self.mirror_messages("mirror.batch")]
        return [p for p in payloads if project is None or p.get("project") == project]

    async def connection(self, index: int, timeout: float = 5.0) -> Conn:
        await wait_for(lambda: len(self.connections) > index, timeout, f"connection #{index + 1}")
        return self.connections[index]


class FakePairingApi(loopback.LoopbackServer):
    """The pairing endpoints. `poll_answers` are (status, body) pairs used in turn
    before the grant; the grant comes once `approve()` was called (or at once if
    `auto_approve`)."""

    def __init__(
        self,
        *,
        interval: float = 0.05,
        expires_in: float = 30,
        team: str = "Team A",
        tls: ssl.SSLContext | None = None,
    ):
        super().__init__(tls=tls)
        self.interval = interval
        self.expires_in = expires_in
        self.user_code = "WDJB-MJHT"
        self.token = TOKEN
        self.grant = {
            "host_id": 12,
            "host_token": self.token,
            "team": team,
            "approved_by": "alice@example.com",
            "approved_from": "203.0.113.7",
            "confirm_within": 600,
        }
        self.poll_answers: list[tuple[int, dict[str, Any]]] = []
        self.approved = threading.Event()
        self.auto_approve = True
        self.answers: dict[str, tuple[int, dict[str, Any]]] = {}  # path -> fixed answer

    @property
    def requests(self) -> list[tuple[str, dict[str, Any], str | None, float]]:
        """(path, JSON body, Authorization, time.monotonic()) of each request."""
        with self.lock:
            received = list(self.received)
        return [(r.path, r.json(), r.headers.get("authorization"), r.at) for r in received]

    def approve(self, user_code: str) -> None:
        assert user_code == self.user_code
        self.approved.set()

    def paths(self) -> list[str]:
        return [path for path, *_ in self.requests]

    def poll_times(self) -> list[float]:
        return [at for path, _, _, at in self.requests if path == "/api/pairing/token/"]

    def answer(self, request: loopback.Request) -> loopback.Reply:
        status, body = self.answer_for(request.path, request.json(), request.headers.get("authorization"))
        return loopback.json_reply(body, status)

    def answer_for(self, path: str, body: dict[str, Any], auth: str | None) -> tuple[int, dict[str, Any]]:
        if path in self.answers:
            return self.answers[path]
        if path == "/api/pairing/":
            return 200, {
                "device_code": DEVICE_CODE,
                "user_code": self.user_code,
                "verification_uri": f"{self.url}/pair/",
                "verification_uri_complete": f"{self.url}/pair/?code={self.user_code}",
                "expires_in": self.expires_in,
                "interval": self.interval,
            }
        if path == "/api/pairing/token/":
            if body.get("device_code") != DEVICE_CODE:
                return 400, {"error": "invalid_grant", "error_description": "unknown code"}
            if self.poll_answers:
                return self.poll_answers.pop(0)
            if self.auto_approve or self.approved.is_set():
                return 200, self.grant
            return 400, {"error": "authorization_pending", "error_description": "waiting"}
        if path == "/api/host/status/":
            if auth != f"Bearer {self.token}":
                return 401, {"error": "invalid_token", "error_description": "unknown token"}
            return 200, {
                "host_id": 12,
                "host": "box",
                "team": self.grant["team"],
                "hub_version": __version__,
                "protocol": PROTOCOL_VERSION,
                "min_protocol": PROTOCOL_VERSION,
                "update": f"pipx install --force {self.url}/agent/codexhub_agent-{__version__}.whl",
            }
        if path in ("/api/pairing/confirm/", "/api/pairing/reject/", "/api/host/unpair/"):
            if auth != f"Bearer {self.token}":
                return 401, {"error": "invalid_token", "error_description": "unknown token"}
            status = {"/api/pairing/confirm/": "confirmed", "/api/pairing/reject/": "rejected"}
            if path == "/api/pairing/confirm/":
                return 200, {"host_id": 12, "status": status[path]}
            return 200, {"status": status.get(path, "revoked")}
        return 404, {"error": "not_found", "error_description": path}


class FakeArtifactApi(loopback.LoopbackServer):
    """`PUT /api/host/tasks/<id>/artifacts/<name>` as the hub takes browser-task screenshots and PDFs.

    Every request is recorded in `requests` as (path, content type, Authorization, body); the
    ones answered 201 also in `uploads` by name. `statuses` are answered in turn first (a 5xx
    makes the agent try again)."""

    def __init__(self, token: str = TOKEN):
        super().__init__()
        self.token = token
        self.statuses: list[int] = []
        self.uploads: dict[str, tuple[str | None, bytes]] = {}  # name -> (content type, body)

    @property
    def requests(self) -> list[tuple[str, str | None, str | None, bytes]]:
        """(path, Content-Type, Authorization, body) of each request."""
        with self.lock:
            received = list(self.received)
        return [
            (r.path, r.headers.get("content-type"), r.headers.get("authorization"), r.body) for r in received
        ]

    def answer(self, request: loopback.Request) -> loopback.Reply:
        status = self._status(request)
        return loopback.json_reply({"status": status} if status < 400 else {"error": "refused"}, status)

    def _status(self, request: loopback.Request) -> int:
        with self.lock:
            if self.statuses:
                return self.statuses.pop(0)
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return 401
            prefix, _, name = request.path.rpartition("/")
            if not prefix.startswith("/api/host/tasks/") or not prefix.endswith("/artifacts"):
                return 404
            self.uploads[name] = (request.headers.get("content-type"), request.body)
            return 201


def start_link(hub_url: str, outbox_path, token: str = TOKEN, **kwargs: Any):
    """An in-process HostLink running as a task, with short back-off."""
    from hostagent.link import HostLink
    from hostagent.outbox import Outbox

    kwargs.setdefault("backoff_base", 0.05)
    kwargs.setdefault("backoff_cap", 0.2)
    link = HostLink(hub_url, token, Outbox(outbox_path), platform="test-x86_64", **kwargs)
    return link, asyncio.create_task(link.run())


async def stop_link(link, task, timeout: float = 5.0) -> None:
    link.request_close()
    try:
        await asyncio.wait_for(task, timeout)
    finally:
        link.outbox.close()


def seqs(conn: Conn) -> list[tuple[str, int]]:
    return [(m["type"], m["seq"]) for m in conn.received if "seq" in m]


def write_paired_config(path, hub_url: str, token: str = TOKEN, name: str = "box") -> None:
    from hostagent import config

    config.save(path, config.Config(hub=hub_url, host_id=12, name=name, token=token))


async def start_agent(config_path, *args: str) -> asyncio.subprocess.Process:
    """The real CLI, `run`, as a child process."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hostagent",
        "run",
        "--config",
        str(config_path),
        *args,
        cwd=root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = 5.0) -> tuple[int, str, str]:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()
