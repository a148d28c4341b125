"""Watching a computer task live (docs/protocol.md, "Watching a computer task live").

While a computer task runs and someone watches it (the hub's `computer.watch`, which each
page showing the task renews every 5 s and which lasts LIVE_WATCH seconds), the agent sends
the screen as `computer.frame`: at most `live_fps` a second, scaled down to fit a phone
(LIVE_WIDTH x LIVE_HEIGHT) and encoded as JPEG by Pillow, at most `live_max_bytes` (lower
quality, then half the size, else not sent at all and the task log says why once).

Frames are not sequenced: no outbox, no ack, sent only while the link is up. The next frame
is grabbed once the last one went out, so a slow link gets the latest picture rather than a
backlog. An unchanged screen sends nothing, except right after a watch (a page that just
opened needs a picture). The screen is grabbed through one mss connection kept for the whole
task in one thread of its own (mss wants the thread it was opened in; opening a connection to
X for every frame is slow, and Xvfb refuses quick reconnects).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hostagent.tasks.desktop import open_screen, screen_region
from protocol import limits

log = logging.getLogger("hostagent.tasks.computer_live")

QUALITIES = (70, 50, 30)  # JPEG qualities tried in turn until a frame fits its byte cap
HALVINGS = 2  # then the size is halved at most this many times
IDLE_POLL = 0.25  # seconds between looks at whether someone watches, while nobody does
STOP_WAIT = 2.0  # seconds the end of a task waits for a frame being grabbed or sent


class FrameTooLarge(Exception):
    """The screen does not fit in the byte cap, even small; the message says so."""


@dataclass(frozen=True)
class Frame:
    data: bytes
    mime: str
    width: int
    height: int


def encode(rgb: Any, max_bytes: int) -> Frame:
    """`rgb` (a Pillow image of the screen) fitted into LIVE_WIDTH x LIVE_HEIGHT and encoded as
    JPEG within `max_bytes`. Raises FrameTooLarge."""
    from PIL import Image

    image = rgb.copy()
    image.thumbnail((limits.LIVE_WIDTH, limits.LIVE_HEIGHT), Image.Resampling.BILINEAR)
    size = 0
    for halving in range(HALVINGS + 1):
        if halving:
            image = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BOX)
        for quality in QUALITIES:
            out = io.BytesIO()
            image.save(out, "JPEG", quality=quality)
            size = out.tell()
            if size <= max_bytes:
                return Frame(out.getvalue(), "image/jpeg", image.width, image.height)
    raise FrameTooLarge(
        f"a frame of the screen takes {size} bytes even at {image.width}x{image.height}, "
        f"over live_max_bytes ({max_bytes})"
    )


class Watches:
    """Which tasks someone watches live, and until when (the hub's `computer.watch`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.until: dict[int, float] = {}
        self.fresh: set[int] = set()  # watched anew: the next frame goes even if unchanged

    def watch(self, task_id: int, seconds: float) -> None:
        now = self.clock()
        self.until = {task: until for task, until in self.until.items() if until > now}
        self.until[task_id] = now + seconds
        self.fresh.add(task_id)

    def watched(self, task_id: int) -> bool:
        return self.until.get(task_id, 0.0) > self.clock()

    def take_fresh(self, task_id: int) -> bool:
        if task_id in self.fresh:
            self.fresh.discard(task_id)
            return True
        return False

    def forget(self, task_id: int) -> None:
        self.until.pop(task_id, None)
        self.fresh.discard(task_id)


class _Grabber:
    """The screen through one mss connection; used from one thread only."""

    def __init__(self, display: str, max_bytes: int, monitor: str | None = None) -> None:
        self.display = display
        self.monitor = monitor
        self.max_bytes = max_bytes
        self.screen: Any = None
        self.last: int | None = None  # a checksum of the last screen encoded (sent or refused)

    def frame(self, forced: bool) -> Frame | None:
        """The screen as a frame; None if it did not change since the last (unless `forced`).
        Raises FrameTooLarge (once per screen) and whatever mss raises."""
        from PIL import Image

        if self.screen is None:
            self.screen = open_screen(self.display)
        shot = self.screen.grab(screen_region(self.screen, self.monitor))
        checksum = zlib.crc32(shot.raw)
        if checksum == self.last and not forced:
            return None
        self.last = checksum
        image = Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
        return encode(image, self.max_bytes)

    def close(self) -> None:
        if self.screen is not None:
            with contextlib.suppress(Exception):
                self.screen.close()
            self.screen = None


Send = Callable[[dict[str, Any]], Awaitable[object]]
Note = Callable[[str], Awaitable[object]]


class LiveView:
    """The live view of one task on `display`: `showing()` sends frames while the block runs."""

    def __init__(
        self,
        display: str,
        task_id: int,
        send: Send,
        watches: Watches,
        *,
        fps: int = limits.MAX_LIVE_FPS,
        max_bytes: int = limits.MAX_LIVE_FRAME,
        note: Note | None = None,
        monitor: str | None = None,
    ) -> None:
        self.display = display
        self.monitor = monitor
        self.task_id = task_id
        self.send = send
        self.watches = watches
        self.interval = 1.0 / max(1, min(fps, limits.MAX_LIVE_FPS))
        self.enabled = fps > 0
        self.max_bytes = min(max_bytes, limits.MAX_LIVE_FRAME)
        self.note = note
        self.sent = 0  # frames sent so far; the next one's number is sent + 1

    @contextlib.asynccontextmanager
    async def showing(self, stop: asyncio.Event | None = None) -> AsyncIterator[None]:
        """Send frames while the block runs (and `stop` is not set); the last one goes before
        the block's end returns."""
        if not self.enabled:
            yield
            return
        done = asyncio.Event()
        runner = asyncio.create_task(self._run(done, stop or asyncio.Event()))
        try:
            yield
        finally:
            done.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(runner), STOP_WAIT)
            if not runner.done():
                runner.cancel()
            self.watches.forget(self.task_id)

    async def _run(self, done: asyncio.Event, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        thread = ThreadPoolExecutor(1, thread_name_prefix=f"live-{self.task_id}")
        grabber = _Grabber(self.display, self.max_bytes, self.monitor)
        told = False
        tick = loop.time()
        try:
            while not (done.is_set() or stop.is_set()):
                if self.watches.watched(self.task_id):
                    try:
                        frame = await loop.run_in_executor(
                            thread, grabber.frame, self.watches.take_fresh(self.task_id)
                        )
                    except FrameTooLarge as exc:
                        frame = None
                        if not told and self.note is not None:
                            await self.note(f"live view: {exc}; no frame of it is sent\n")
                        told = True
                    if frame is not None and not (done.is_set() or stop.is_set()):
                        await self._send(frame)
                    # Frames start at least `interval` apart, whatever a grab or a send took.
                    tick = max(tick + self.interval, loop.time())
                else:
                    tick = loop.time() + IDLE_POLL
                await _wait(done, stop, tick - loop.time())
        except Exception as exc:  # the display went away: the task's steps say so, not this
            log.warning("task %d: the live view stopped: %s: %s", self.task_id, type(exc).__name__, exc)
        finally:
            await loop.run_in_executor(thread, grabber.close)
            thread.shutdown(wait=False)

    async def _send(self, frame: Frame) -> None:
        self.sent += 1
        await self.send(
            {
                "type": "computer.frame",
                "task_id": self.task_id,
                "frame": self.sent,
                "mime": frame.mime,
                "width": frame.width,
                "height": frame.height,
                "data": base64.b64encode(frame.data).decode("ascii"),
            }
        )


async def _wait(done: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    waiters = [asyncio.ensure_future(done.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
