"""/ws/host/: the live link of each paired host (see docs/protocol.md)."""

import asyncio
import json
import logging
import time
from collections import deque

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from codexhub.consumers import DirectDispatch
from devices import hooks, link, services, versions
from devices.applier import applier
from devices.handlers import known_streams
from devices.limits import LogBudget, TokenBucket, host_auth_failure_allowed, host_connect_allowed
from devices.live import FrameRelay, Refused
from devices.presence import presence
from protocol import version as protocol_version

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_HEARTBEAT_TIMEOUT = 4408
CLOSE_REPLACED = 4409
CLOSE_TOO_MANY_CONNECTS = 4429
CLOSE_POLICY = 1008
CLOSE_HUB_ERROR = 1011
GROUP_RENEW_AFTER = 600  # seconds; channels-redis keeps a membership for a day
MAX_UNACKED = 1000  # messages of one link waiting for their commit before the hub stops reading it
MAX_SEQ = 2**62
LAYER_TIMEOUT = 5  # seconds a channel-layer call may take before the link goes on without it
LAYER_LOG_PER_MINUTE = 10

_layer_log = LogBudget()


class HostConsumer(DirectDispatch, AsyncWebsocketConsumer):
    host_id: int | None = None
    watchdog: asyncio.Task | None = None
    acker: asyncio.Task | None = None
    renewing: asyncio.Task | None = None
    flooded = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unacked: deque[tuple[dict, asyncio.Future]] = deque()
        self.layer_failures, self.group_renewed_at = 0, time.monotonic()

    async def connect(self):
        # Accept, then close with a code the agent can read: a refusal before
        # accept reaches it as a bare HTTP 403.
        await self.accept()
        host = self.scope.get("host")
        if host is None:
            allowed = await database_sync_to_async(host_auth_failure_allowed)(client_ip=self._client_ip())
            await self.close(code=CLOSE_UNAUTHORIZED if allowed else CLOSE_TOO_MANY_CONNECTS)
            return
        token_key = services.secret_hash(self.scope["host_token"])[:32]
        if not await database_sync_to_async(host_connect_allowed)(token_key=token_key):
            await self.close(code=CLOSE_TOO_MANY_CONNECTS)
            return
        if not await self._protocol_accepted(host):
            return
        opened = await database_sync_to_async(link.host_link_opened)(
            host_id=host.id, channel_name=self.channel_name
        )
        if opened is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        host, previous = opened
        self.host_id, self.host_name, self.group = host.id, host.name, services.host_group(host.id)
        self.bucket = TokenBucket(settings.HOST_LINK_RATE, settings.HOST_LINK_BURST)
        self.frames = FrameRelay(host.id)
        self.last_heard = time.monotonic()
        # Without the layer the link still works; the heartbeat renews the group later.
        self.layer_failures = getattr(self.channel_layer, "failures", 0)
        await self._layer("group_add", self.group, self.channel_name)
        if previous:
            await self._layer("send", previous, {"type": "host.replaced"})
        positions = await database_sync_to_async(link.stream_positions)(host_id=host.id)
        await self._send(
            type="welcome",
            host_id=host.id,
            heartbeat_interval=settings.HOST_HEARTBEAT_INTERVAL,
            streams=positions,
        )
        self.watchdog = asyncio.create_task(self._watch_heartbeats())
        # After the welcome: what the host missed while it was away.
        for message in await database_sync_to_async(hooks.link_open_messages)(host_id=host.id):
            await self._send(**message)

    async def _protocol_accepted(self, host) -> bool:
        """Refuse an agent whose protocol version this hub does not take, before anything
        of the link is recorded: say what to run, then close for good (4426)."""
        offered = protocol_version.from_header(self._header(protocol_version.PROTOCOL_HEADER))
        if offered is not None and protocol_version.accepted(offered):
            return True
        message, reason = versions.protocol_refusal(offered, versions.hub_url_of(self.scope))
        await database_sync_to_async(services.host_protocol_refused)(
            host=host, offered=offered, reason=reason, ip=self._client_ip()
        )
        await self._send(type="refused", error="protocol", message=message)
        await self.close(code=protocol_version.CLOSE_INCOMPATIBLE, reason=reason)
        return False

    def _header(self, name: str) -> str | None:
        """A handshake header's value; "" when it is sent more than once (unreadable)."""
        key = name.lower().encode()
        values = [value for header, value in self.scope.get("headers", []) if header == key]
        if not values:
            return None
        return values[0].decode("latin1") if len(values) == 1 else ""

    def _client_ip(self) -> str:
        return (self.scope.get("client") or ["unknown"])[0]

    async def disconnect(self, code):
        for task in (self.watchdog, self.acker, self.renewing):
            if task:
                task.cancel()
        if self.host_id is None:
            return
        presence().forget(self)
        services.host_refusals_flush(host_id=self.host_id, host_name=self.host_name)
        # The database first: presence must not hang on the channel layer.
        try:
            await database_sync_to_async(link.host_link_closed)(
                host_id=self.host_id, channel_name=self.channel_name
            )
        finally:
            await self._layer("group_discard", self.group, self.channel_name)

    async def _layer(self, operation: str, *args) -> None:
        """A channel-layer call that may fail: the layer only rings the bell
        (STYLE 7), so a failure is logged and the link goes on."""
        try:
            await asyncio.wait_for(getattr(self.channel_layer, operation)(*args), timeout=LAYER_TIMEOUT)
        except Exception as exc:
            self.group_renewed_at = -GROUP_RENEW_AFTER  # the next heartbeat renews the group
            logged, earlier = _layer_log.take("layer", LAYER_LOG_PER_MINUTE)
            if earlier:
                logger.warning("channel layer: and %d more failures not logged", earlier)
            if logged:
                error = f"{type(exc).__name__}: {exc}"[:200]
                logger.warning("channel layer %s failed for host %s: %s", operation, self.host_id, error)

    async def receive(self, text_data=None, bytes_data=None):
        if self.host_id is None or self.flooded:
            return  # frames that were queued behind the close
        if not self.bucket.take():
            self.flooded = True
            await self._record_refused(f"flooded its link (over {settings.HOST_LINK_RATE} messages a second)")
            await self.close(code=CLOSE_POLICY)
            return
        self.last_heard = time.monotonic()
        message = self._parse(text_data)
        if message is None:
            await self._refuse("send JSON objects as text frames")
        elif message.get("type") == "heartbeat":
            await self._heartbeat()
        elif message.get("type") == "computer.frame" and "seq" not in message:
            await self._frame(message)
        elif "seq" in message or "stream" in message:
            await self._sequenced(message)
        else:
            await self._refuse("unknown message type", message)

    @staticmethod
    def _parse(text_data) -> dict | None:
        if text_data is None:
            return None
        try:
            message = json.loads(text_data)
        except (ValueError, RecursionError):
            return None
        return message if isinstance(message, dict) else None

    async def _frame(self, message: dict):
        """A live frame: relayed to its task's pages, never stored or acked (devices.live)."""
        try:
            relayed = await self.frames.event(message)
        except Refused as exc:
            await self._refuse(str(exc))
            return
        if relayed is not None:
            await self._layer("group_send", *relayed)

    async def _heartbeat(self):
        """Answered from memory, ahead of any data this link has waiting:
        presence reaches the database coalesced (devices.presence)."""
        await self._send(type="heartbeat_ack")
        presence().heard_from(self)
        if self._group_needs_renewal():
            self.renewing = asyncio.create_task(self._layer("group_add", self.group, self.channel_name))

    def _group_needs_renewal(self) -> bool:
        """Group membership expires in Redis and is lost on its restart: renew
        it after the layer failed, and every GROUP_RENEW_AFTER seconds."""
        if self.renewing is not None and not self.renewing.done():
            return False
        failures = getattr(self.channel_layer, "failures", 0)
        now = time.monotonic()
        if failures == self.layer_failures and now - self.group_renewed_at < GROUP_RENEW_AFTER:
            return False
        self.layer_failures, self.group_renewed_at = failures, now
        return True

    async def presence_lost(self, status: str) -> None:
        """The database says this link is no longer the host's (devices.presence)."""
        await self.close(code=CLOSE_UNAUTHORIZED if status == link.LINK_REVOKED else CLOSE_REPLACED)

    async def _sequenced(self, message: dict):
        stream, seq, kind, payload = (message.get(k) for k in ("stream", "seq", "type", "payload"))
        if not (isinstance(stream, str) and isinstance(kind, str) and 0 < len(kind) <= 64):
            await self._refuse("a sequenced message needs a stream and a type", message)
            return
        if stream not in known_streams():
            await self._refuse(f"unknown stream: use one of {', '.join(sorted(known_streams()))}", message)
            return
        if type(seq) is not int or not 0 < seq < MAX_SEQ:
            await self._refuse("seq must be a positive integer", message, stream=stream)
            return
        assert self.host_id is not None  # set when the link opened, before any message
        if kind == "task.finished" and isinstance(payload, dict):
            self.frames.forget(payload.get("task_id"))  # its frames stop here
        incoming = services.Incoming(host_id=self.host_id, stream=stream, seq=seq, kind=kind, payload=payload)
        self.unacked.append((message, applier().submit(incoming)))
        if self.acker is None or self.acker.done():
            self.acker = asyncio.create_task(self._ack_in_order())
        if len(self.unacked) > MAX_UNACKED:
            await self.acker  # the hub is behind: read no more of this link until it caught up

    async def _ack_in_order(self):
        """Answer each sequenced message once its transaction committed, in the order sent."""
        while self.unacked:
            message, applied = self.unacked[0]
            try:
                result = await applied
            except Exception:
                self.unacked.clear()
                await self.close(code=CLOSE_HUB_ERROR)  # the database failed: the agent resends later
                return
            self.unacked.popleft()
            await self._answer(message, result)

    async def _answer(self, message: dict, result: services.ApplyResult):
        stream, seq = message["stream"], message["seq"]
        if result.outcome == services.GAP:
            await self._record_refused(f"gap: expected seq {result.expected}", message)
            await self._send(type="error", error="gap", stream=stream, seq=seq, expected=result.expected)
            return
        await self._send(type="ack", stream=stream, seq=seq)
        if message.get("type") == "task.finished" and isinstance(message.get("payload"), dict):
            self.frames.forget(message["payload"].get("task_id"))  # ended: no frame goes on
        if result.outcome == services.REJECTED:
            await self._refuse(result.error, message, stream=stream, seq=seq)

    async def _refuse(self, error: str, message: dict | None = None, **reply):
        """Tell the host why its frame was refused, and count it on the hub."""
        await self._record_refused(error, message)
        await self._send(type="error", error=error, **reply)

    async def _record_refused(self, reason: str, message: dict | None = None):
        message = message or {}
        await database_sync_to_async(services.host_message_refused)(
            host_id=self.host_id,
            host_name=self.host_name,
            reason=reason,
            stream=message.get("stream"),
            seq=message.get("seq"),
            kind=message.get("type"),
        )

    async def _watch_heartbeats(self):
        timeout = settings.HOST_HEARTBEAT_TIMEOUT
        while True:
            await asyncio.sleep(min(timeout / 4, 5))
            if time.monotonic() - self.last_heard > timeout:
                logger.info("host %s missed its heartbeats; closing", self.host_id)
                await self.close(code=CLOSE_HEARTBEAT_TIMEOUT)
                return

    async def _send(self, **message):
        await self.send(text_data=json.dumps(message))

    # Channel-layer events ------------------------------------------------------

    async def host_revoke(self, event):
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def host_replaced(self, event):
        await self.close(code=CLOSE_REPLACED)

    async def mirror_resync(self, event):
        await self._send(type="mirror.resync", project=event["project"])

    async def file_fetch(self, event):
        fields = ("request", "project", "path", "max_size")
        await self._send(type="file.fetch", **{key: event[key] for key in fields})

    async def task_assign(self, event):
        await self._send(type="task.assign", task=event["task"])

    async def task_cancel(self, event):
        await self._send(type="task.cancel", task_id=event["task_id"])

    async def computer_watch(self, event):
        """Someone watches a computer task of this host live (tasks.live): send frames."""
        await self._send(type="computer.watch", task_id=event["task_id"], seconds=event["seconds"])

    # Agent sessions: the phone's answers and follow-ups (tasks.services).

    async def task_answer(self, event):
        fields = ("task_id", "request_id", "option_id")
        await self._send(type="task.answer", **{key: event[key] for key in fields})

    async def task_message(self, event):
        fields = ("task_id", "message_id", "text")
        await self._send(type="task.message", **{key: event[key] for key in fields})

    async def task_interrupt(self, event):
        await self._send(type="task.interrupt", task_id=event["task_id"])

    async def task_end(self, event):
        await self._send(type="task.end", task_id=event["task_id"])

    async def codex_threads(self, event):
        """A page asks for the host's Codex threads (tasks.threads), built through
        protocol.codex.CodexThreadsRequest: sent as is."""
        await self._send(**event)

    async def git_request(self, event):
        """A phone's git decision (tasks.git), built through protocol.git.GitRequest: sent as is."""
        await self._send(**event)

    async def host_manage(self, event):
        """The phone manages the host (projects.manage), built through protocol.manage.ManageRequest:
        sent as is."""
        await self._send(**event)
