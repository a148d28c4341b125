"""The task log: merged stdout and stderr as `task.log` pieces (docs/protocol.md, "Tasks").

A piece is at most 16 KiB of UTF-8 text; output is coalesced (a piece at most
every 0.2 s while it flows, or as soon as 16 KiB wait) rather than sent per
read. After `cap` bytes the log says it was truncated and drops the rest, but
the pipe is still drained so the child never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Awaitable, Callable
from typing import Any

from protocol.limits import MAX_LOG_PIECE

MAX_PIECE = MAX_LOG_PIECE  # bytes of UTF-8 text per task.log
FLUSH_EVERY = 0.2
READ_CHUNK = 64 * 1024

Send = Callable[[dict[str, Any]], Awaitable[Any]]


def split_utf8(text: str, limit: int = MAX_PIECE) -> list[str]:
    """`text` cut into pieces of at most `limit` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")
    pieces = []
    while data:
        cut = min(limit, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:  # a continuation byte: back off
            cut -= 1
        pieces.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    return pieces


class TaskLog:
    def __init__(self, send: Send, task_id: int, cap: int):
        self.send = send
        self.task_id = task_id
        self.cap = cap
        self.seq = 0
        self.received = 0  # bytes of output seen, kept or not
        self.truncated = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self.pending_size = 0  # characters waiting (a bound on what a flush sends)

    def feed(self, data: bytes) -> None:
        """Take output bytes; what is past the cap is dropped."""
        room = self.cap - self.received
        self.received += len(data)
        if self.truncated:
            return
        if len(data) > room:
            data = data[: max(0, room)]
            self.truncated = True
        self._add(self._decoder.decode(data))
        if self.truncated:
            self._add(self._decoder.decode(b"", final=True))
            self._add(f"\n[output truncated after {self.cap} bytes]\n")

    def _add(self, text: str) -> None:
        text = text.replace("\0", "")  # Postgres text cannot hold NUL
        if text:
            self._pending.append(text)
            self.pending_size += len(text)

    async def note(self, text: str) -> None:
        """A line from the agent itself (counted against the cap like output); sent at once."""
        self.feed(text.encode("utf-8"))
        await self.flush()

    async def flush(self, final: bool = False) -> None:
        if final and not self.truncated:
            self._add(self._decoder.decode(b"", final=True))
        text = "".join(self._pending)
        self._pending = []
        self.pending_size = 0
        for piece in split_utf8(text):
            self.seq += 1
            await self.send({"task_id": self.task_id, "seq": self.seq, "text": piece})


async def pump(reader: asyncio.StreamReader, log: TaskLog) -> None:
    """Read `reader` to EOF into `log`, flushing at least every FLUSH_EVERY s while output flows.

    The caller flushes with `final=True` afterwards (also when it had to cancel this).
    """
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            # Cancelling a StreamReader.read loses no data: it only waits for the buffer.
            chunk = await asyncio.wait_for(reader.read(READ_CHUNK), timeout)
        except TimeoutError:
            await log.flush()
            deadline = None
            continue
        if not chunk:
            return
        log.feed(chunk)
        if log.pending_size >= MAX_PIECE:
            await log.flush()
            deadline = None
        elif deadline is None and log.pending_size:
            deadline = loop.time() + FLUSH_EVERY
