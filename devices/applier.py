"""Group commit for the host links of one hub process.

The sequenced messages of every link go through one queue (a lane; more with
HOST_APPLY_THREADS). Whatever arrived while the previous batch was being
written is applied next, in one transaction (services.host_messages_apply),
so a busy hub commits a few dozen times a second instead of once per message.
Each message's future resolves after the commit; the link acks it then, in
order."""

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from codexhub.consumers import per_event_loop
from codexhub.events import collected_events
from devices import services
from devices.services import ApplyResult, Incoming

logger = logging.getLogger(__name__)
MAX_BATCH = 500  # messages per transaction: bounds the time a batch holds its rows
RING_TIMEOUT = 5  # seconds an event may take to reach the channel layer
MAX_RINGING = 64  # batches whose events may be on their way at once


class Applier:
    """HOST_APPLY_THREADS lanes, each a queue and a database thread of its own:
    a host's messages always take the same lane, so each stream stays in
    order, and the lanes' transactions touch different hosts' rows while
    their waits on the database overlap."""

    def __init__(self):
        if settings.HOST_APPLY_THREADS == 1:
            self.lanes = [Lane(None)]  # Channels' own database thread, as every other call here
        else:
            self.lanes = [Lane(executor) for executor in _executors()]

    def submit(self, message: Incoming) -> asyncio.Future:
        return self.lanes[message.host_id % len(self.lanes)].submit(message)

    @property
    def batches(self) -> int:
        return sum(lane.batches for lane in self.lanes)


applier = per_event_loop(Applier)  # the applier of the running event loop (one per hub process)


_lane_executors: list[ThreadPoolExecutor] = []


def _executors() -> list[ThreadPoolExecutor]:
    """One thread per lane for the whole process (each keeps its database connection)."""
    while len(_lane_executors) < settings.HOST_APPLY_THREADS:
        _lane_executors.append(ThreadPoolExecutor(1, thread_name_prefix=f"host-apply-{len(_lane_executors)}"))
    return _lane_executors[: settings.HOST_APPLY_THREADS]


def _apply(messages: list[Incoming]) -> tuple[list[ApplyResult], list[tuple[str, dict]]]:
    with collected_events() as events:
        results = services.host_messages_apply(messages=messages)
    return results, events


class Lane:
    def __init__(self, executor: ThreadPoolExecutor | None):
        self.executor = executor
        self.queue: deque[tuple[Incoming, asyncio.Future]] = deque()
        self.arrived = asyncio.Event()
        self.runner: asyncio.Task | None = None
        self.ringing: set[asyncio.Task] = set()
        self.batches = 0  # batches committed: group commit, seen from the tests

    def submit(self, message: Incoming) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.queue.append((message, future))
        self.arrived.set()
        if self.runner is None or self.runner.done():
            self.runner = asyncio.create_task(self._run())
        return future

    async def _run(self) -> None:
        while True:
            await self.arrived.wait()
            self.arrived.clear()
            while self.queue:
                batch = [self.queue.popleft() for _ in range(min(len(self.queue), MAX_BATCH))]
                await self._write(batch)

    async def _write(self, batch: list[tuple[Incoming, asyncio.Future]]) -> None:
        try:
            if self.executor is None:
                apply = database_sync_to_async(_apply)
            else:
                apply = database_sync_to_async(_apply, thread_sensitive=False, executor=self.executor)
            results, events = await apply([message for message, _ in batch])
        except Exception as exc:  # the database is down: nothing was taken, the agents resend
            logger.warning("could not apply %d host messages: %s", len(batch), type(exc).__name__)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches += 1
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        if events:
            self._ring(events)

    def _ring(self, events: list[tuple[str, dict]]) -> None:
        """Send the batch's events (each distinct one once) without holding the next batch."""
        if len(self.ringing) >= MAX_RINGING:
            logger.warning("channel layer behind: %d events of a batch not sent", len(events))
            return
        distinct = list({repr(event): event for event in events}.values())
        task = asyncio.create_task(_send_events(distinct))
        self.ringing.add(task)
        task.add_done_callback(self.ringing.discard)


async def _send_events(events: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if hasattr(layer, "group_send_many"):  # the Redis layer: one round trip for the lot
        try:
            await asyncio.wait_for(layer.group_send_many(events), timeout=RING_TIMEOUT)
        except Exception as exc:  # the layer only rings the bell; pages resync from the database
            logger.warning("channel layer: %d events were lost: %s", len(events), type(exc).__name__)
        return
    for group, message in events:
        try:
            await asyncio.wait_for(layer.group_send(group, message), timeout=RING_TIMEOUT)
        except Exception as exc:  # the layer only rings the bell; pages resync from the database
            logger.warning("channel layer: an event for %s was lost: %s", group, type(exc).__name__)
