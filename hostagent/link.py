"""The host link: one WebSocket to the hub's /ws/host/, kept up until told to stop.

`HostLink.run()` connects, reconnects after drops with full-jitter back-off,
and returns once `request_close()` was called (SIGTERM/SIGINT in the CLI). It
raises HostRevoked (close 4401, or HTTP 401/403 at the handshake: reconnecting
with a dead token would only hammer the hub), LinkReplaced (close 4409) and
ProtocolRefused (close 4426: the hub does not take this agent's protocol
version; the `refused` frame before it says what to run).
Hub messages go to handlers registered by type in `HANDLERS`.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from hostagent import __version__
from hostagent.outbox import EncodedPayload, Message, Outbox, encode_payload
from protocol import limits
from protocol.version import CLOSE_INCOMPATIBLE, MAX_REFUSAL, PROTOCOL_HEADER, PROTOCOL_VERSION

log = logging.getLogger("hostagent.link")

MAX_FRAME = limits.MAX_FRAME
OPEN_TIMEOUT = 10.0
STABLE_AFTER = 30.0  # a link up this long resets the back-off even without a welcome
DEFAULT_HEARTBEAT = 20.0
MIN_HEARTBEAT = 0.1  # a hostile or broken hub must not make us spin


class State(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"


class HostRevoked(Exception):
    """The hub no longer accepts this host's token."""


class LinkReplaced(Exception):
    """Another agent connected with the same token; the hub closed this link."""


class ProtocolRefused(Exception):
    """The hub does not take this agent's protocol version; the message says what to run."""


Handler = Callable[["HostLink", dict[str, Any]], Awaitable[None]]


class Registry:
    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def on(self, type_: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.handlers[type_] = handler
            return handler

        return register

    def get(self, type_: str) -> Handler | None:
        return self.handlers.get(type_)


HANDLERS = Registry()


def _ignoring_link(handler: Callable[[dict[str, Any]], Awaitable[None]]) -> Handler:
    """A registry handler calling `handler` with the message only."""

    def handle(link: HostLink, message: dict[str, Any]) -> Awaitable[None]:
        return handler(message)

    return handle


def ws_url(hub: str) -> str:
    parts = urlsplit(hub)
    scheme = {"http": "ws", "https": "wss"}[parts.scheme]
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws/host/", "", ""))


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        log.warning("ignoring %s=%r: not a number of seconds", name, raw)
        return default
    return value


def backoff_from_env() -> tuple[float, float]:
    return _env_seconds("CODEXHUB_AGENT_BACKOFF_BASE", 1.0), _env_seconds("CODEXHUB_AGENT_BACKOFF_CAP", 60.0)


def frame_text(type_: str, stream: str, seq: int, body: str) -> str:
    """A sequenced frame around a payload's JSON text, as json.dumps would write it."""
    return f'{{"type": {json.dumps(type_)}, "stream": {json.dumps(stream)}, "seq": {seq}, "payload": {body}}}'


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class HostLink:
    def __init__(
        self,
        hub: str,
        token: str,
        outbox: Outbox,
        *,
        platform: str,
        agent_version: str = __version__,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        registry: Registry = HANDLERS,
    ):
        self.url = ws_url(hub)
        self.outbox = outbox
        self.platform = platform
        self.agent_version = agent_version
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.registry = registry
        # The mirror adds "mirror" when it shares a project; the task service adds "agent" and
        # `executors` ({"name", "label", "kind", "needs_file"} each) when it offers executors.
        self.capabilities: list[str] = []
        self.executors: list[dict[str, Any]] = []
        self.clis: list[dict[str, str]] = []  # hostagent.clis: the agent CLIs on PATH and their versions
        self.protocol_version = PROTOCOL_VERSION
        self.refusal = ""  # what the hub's last `refused` frame said
        # Per stream, how to rebuild a payload as stored in the outbox before it is resent
        # (called in a worker thread): the mirror stores references to file text, not the text.
        self.restorers: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {}
        self._headers = {"Authorization": f"Bearer {token}", PROTOCOL_HEADER: str(self.protocol_version)}

        self.state = State.DISCONNECTED
        self.close_requested = False
        self.welcomed = False  # on the current connection
        self.close_reason = ""  # of the last connection
        self.attempt = 0
        self.delays: list[float] = []  # reconnect delays drawn so far
        self.drop_reasons: list[str] = []
        self.ws: ClientConnection | None = None
        self._stop = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.hello_sent: dict[str, Any] | None = None  # the last hello queued on this connection

    # Lifecycle -----------------------------------------------------------------

    def request_close(self) -> None:
        """Close the socket with 1000 and make run() return. Safe to call from a signal handler."""
        if self.close_requested:
            return
        self.close_requested = True
        self._stop.set()
        if self.ws is not None:
            self._closing = asyncio.ensure_future(self.ws.close(1000, "agent stopping"))

    async def run(self) -> None:
        while not self.close_requested:
            code, up_for = await self._connect_once()
            if self.close_requested:
                break
            if code == 4401:
                raise HostRevoked("closed with 4401")
            if code == 4409:
                raise LinkReplaced("closed with 4409")
            if code == CLOSE_INCOMPATIBLE:
                # Reconnecting cannot help: the same agent would be refused again.
                raise ProtocolRefused(
                    self.refusal or self.close_reason or "the hub refused this agent's protocol"
                )
            if self.welcomed or up_for >= STABLE_AFTER:
                self.attempt = 0
            delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** min(self.attempt, 32)))
            self.attempt += 1
            self.delays.append(delay)
            log.info("reconnecting in %.2f s", delay)
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                pass
        log.info("stopped")

    async def _connect_once(self) -> tuple[int | None, float]:
        """One connection, from handshake to close: (close code or None, seconds it was up)."""
        loop = asyncio.get_running_loop()
        self.state = State.CONNECTING
        self.welcomed = False
        code: int | None = None
        started = loop.time()
        up_for = 0.0
        log.info("connecting to %s", self.url)
        try:
            async with connect(
                self.url,
                additional_headers=self._headers,
                max_size=MAX_FRAME,
                open_timeout=OPEN_TIMEOUT,
                user_agent_header=f"codexhub-hostagent/{__version__}",
            ) as ws:
                self.ws = ws
                self.state = State.CONNECTED
                started = loop.time()
                log.info("connected to %s", self.url)
                if self.close_requested:  # the signal came during the handshake
                    await ws.close(1000, "agent stopping")
                await self._receive(ws)
            up_for = loop.time() - started
            code = ws.close_code
            self.close_reason = ws.close_reason or ""
            reason = f"code {code} reason {ws.close_reason!r}"
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise HostRevoked(f"handshake refused with HTTP {status}") from None
            reason = f"handshake refused with HTTP {status}"
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self._stop_heartbeat()
            self.ws = None
            self.state = State.DISCONNECTED
        self.drop_reasons.append(reason)
        log.info("disconnected: %s", reason)
        return code, up_for

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                await self.handle_frame(raw)
        except ConnectionClosed:
            pass

    # Frames --------------------------------------------------------------------

    async def handle_frame(self, raw: str | bytes) -> None:
        """Dispatch one hub frame. Bad frames and handler errors are logged, never fatal."""
        if isinstance(raw, bytes):
            log.warning("ignoring a binary frame of %d bytes", len(raw))
            return
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("ignoring a frame that is not JSON: %r", raw[:100])
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            log.warning("ignoring a frame that is not an object with a type: %r", raw[:100])
            return
        handler = self.registry.get(message["type"])
        if handler is None:
            log.warning("ignoring a message of unknown type %r", message["type"][:50])
            return
        try:
            await handler(self, message)
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("handler for %r failed", message["type"])

    async def send_frame(self, message: dict[str, Any]) -> None:
        if self.ws is None:
            raise ConnectionError("not connected")
        await self.ws.send(json.dumps(message))

    async def send_live(self, message: dict[str, Any]) -> bool:
        """Send a message that may be lost (a live frame: docs/protocol.md, "Watching a computer
        task live"): now if the link is up and welcomed, else never. Returns whether it went."""
        ws = self.ws
        if ws is None or not self.welcomed:
            return False
        try:
            await ws.send(json.dumps(message))
        except (ConnectionClosed, ConnectionError):
            return False
        return True

    async def send(self, stream: str, type_: str, payload: dict[str, Any]) -> int:
        """Queue a sequenced message in the outbox; send it now if the link is up. Returns its seq.

        The payload is encoded once (or not at all if it is an EncodedPayload):
        the outbox row and the frame share that text (or the outbox keeps the
        EncodedPayload's `stored` form, which `restorers` rebuild on a resend)."""
        body = encode_payload(payload)
        # A frame the hub must refuse (1009) would be resent forever: refuse it here.
        if len(frame_text(type_, stream, 2**53, "")) + len(body) > MAX_FRAME:
            raise ValueError("message too large for one frame")
        stored = payload.stored if isinstance(payload, EncodedPayload) else body
        seq = self.outbox.append_json(stream, type_, stored)
        if self.ws is not None and self.welcomed:
            try:
                await self.ws.send(frame_text(type_, stream, seq, body))
            except (ConnectionClosed, ConnectionError):
                pass  # stays in the outbox; resent after the next welcome
        return seq

    async def resend(self, messages: list[Message]) -> None:
        for message in messages:
            restore = self.restorers.get(message["stream"])
            if restore is not None:
                payload = await asyncio.to_thread(restore, message["type"], message["payload"])
                message = {**message, "payload": payload}
            await self.send_frame(message)

    def extend(
        self,
        handlers: Mapping[str, Callable[[dict[str, Any]], Awaitable[None]]],
        after_welcome: Callable[[], Awaitable[None]],
    ) -> None:
        """Give this link its own copy of the registry, with `handlers` (by
        message type) added and `after_welcome` run after each welcome."""
        registry = Registry()
        registry.handlers.update(self.registry.handlers)
        original = registry.get("welcome")

        async def on_welcome(link: HostLink, message: dict[str, Any]) -> None:
            if original is not None:
                await original(link, message)
            await after_welcome()

        registry.handlers["welcome"] = on_welcome
        for type_, handler in handlers.items():
            registry.handlers[type_] = _ignoring_link(handler)
        self.registry = registry

    def offer(self, capability: str, on: bool = True) -> None:
        """Say (or, with `on` false, stop saying) in hello that this agent has `capability`;
        "agent" goes first."""
        if not on:
            if capability in self.capabilities:
                self.capabilities.remove(capability)
        elif capability not in self.capabilities:
            self.capabilities.insert(0 if capability == "agent" else len(self.capabilities), capability)

    async def send_hello_if_changed(self) -> bool:
        """Send hello again if it would now say something else than the one sent after this
        connection's welcome (a live config edit changed the executors or capabilities). Before a
        welcome there is nothing to do: the welcome sends the new one. Returns whether it sent."""
        payload = self.hello_payload()
        if not self.welcomed or payload == self.hello_sent:
            return False
        self.hello_sent = payload
        await self.send("host", "hello", payload)
        return True

    def hello_payload(self) -> dict[str, Any]:
        return {
            "agent_version": self.agent_version,
            "protocol_version": self.protocol_version,
            "clis": [dict(cli) for cli in self.clis],
            "platform": self.platform,
            "capabilities": list(self.capabilities),
            "executors": [dict(executor) for executor in self.executors],
        }

    # Heartbeats ----------------------------------------------------------------

    def start_heartbeat(self, interval: float) -> None:
        self._stop_heartbeat()
        self._heartbeat = asyncio.create_task(self._beat(interval))

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    async def _beat(self, interval: float) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                await self.send_frame({"type": "heartbeat"})
        except (ConnectionClosed, ConnectionError):
            return


# Hub messages ------------------------------------------------------------------


@HANDLERS.on("welcome")
async def on_welcome(link: HostLink, message: dict[str, Any]) -> None:
    streams = message.get("streams")
    for stream, last in streams.items() if isinstance(streams, dict) else ():
        if _is_int(last) and last >= 0:
            link.outbox.ack(stream, last)
            # If the outbox was lost but the hub remembers, new messages must not
            # reuse numbers the hub would take for duplicates and silently drop.
            link.outbox.advance(stream, last)
    link.welcomed = True
    interval = message.get("heartbeat_interval")
    if isinstance(interval, int | float) and not isinstance(interval, bool) and interval > 0:
        link.start_heartbeat(max(MIN_HEARTBEAT, float(interval)))
    else:
        link.start_heartbeat(DEFAULT_HEARTBEAT)
    link.hello_sent = link.hello_payload()
    link.outbox.append("host", "hello", link.hello_sent)
    await link.resend(link.outbox.pending())


@HANDLERS.on("ack")
async def on_ack(link: HostLink, message: dict[str, Any]) -> None:
    stream, seq = message.get("stream"), message.get("seq")
    if not isinstance(stream, str) or not _is_int(seq):
        log.warning("ignoring an ack without stream and seq")
        return
    link.outbox.ack(stream, seq)


@HANDLERS.on("error")
async def on_error(link: HostLink, message: dict[str, Any]) -> None:
    error = message.get("error")
    if error != "gap":
        log.warning("the hub reported an error: %r", str(error)[:200])
        return
    stream, expected = message.get("stream"), message.get("expected")
    if not isinstance(stream, str) or not _is_int(expected) or expected < 1:
        log.warning("ignoring a gap error without stream and expected")
        return
    # The hub applied everything before `expected`.
    link.outbox.ack(stream, expected - 1)
    link.outbox.advance(stream, expected - 1)
    pending = link.outbox.pending(stream)
    if pending and pending[0]["seq"] > expected:
        log.warning(
            "the hub expects %s seq %d but the outbox starts at %d; renumbering",
            stream,
            expected,
            pending[0]["seq"],
        )
        link.outbox.renumber(stream, expected)
        pending = link.outbox.pending(stream)
    log.info("resending %s from seq %d (%d messages)", stream, expected, len(pending))
    await link.resend(pending)


@HANDLERS.on("refused")
async def on_refused(link: HostLink, message: dict[str, Any]) -> None:
    """The hub's words before it closes the link for good (4426): kept for the user."""
    text = message.get("message")
    if isinstance(text, str):
        link.refusal = "".join(c for c in text[:MAX_REFUSAL] if c.isprintable())


@HANDLERS.on("heartbeat_ack")
async def on_heartbeat_ack(link: HostLink, message: dict[str, Any]) -> None:
    return None
