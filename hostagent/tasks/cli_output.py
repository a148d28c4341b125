"""A command task whose template declares a structured output format ("codex-jsonl",
"claude-stream-json"): its stdout is read line by line, each JSON event shown on the task's
timeline (cli_events), while its stderr stays the task log (executors.run_command).

Nothing it prints is lost: a line that is not a JSON object, one whose event lacks what the
mapping needs, and one longer than MAX_LINE go to the task log as text.
"""

from __future__ import annotations

import asyncio
import logging

from hostagent.tasks.acp_timeline import Send, Timeline
from hostagent.tasks.cli_events import PARSERS, parse_line
from hostagent.tasks.codex_timeline import Malformed
from hostagent.tasks.output import READ_CHUNK, TaskLog

log = logging.getLogger("hostagent.tasks.cli")

MAX_LINE = 8 * 1024 * 1024  # bytes: a longer line is not parsed, only logged (up to the log's cap)


class StructuredOutput:
    def __init__(self, output: str, task_id: int, root: str, send: Send, task_log: TaskLog):
        self.task_id = task_id
        self.task_log = task_log
        self.timeline = Timeline(task_id, root, send)
        self.events = PARSERS[output](self.timeline, root, self.note)
        self.logged = False  # text waits in the task log

    def prompt(self, text: str) -> None:
        self.timeline.user(text, None)

    def note(self, text: str) -> None:
        self.text(f"{text}\n".encode())

    def text(self, data: bytes) -> None:
        self.task_log.feed(data)
        self.logged = True

    def line(self, raw: bytes) -> None:
        event = parse_line(raw.decode("utf-8", "replace"))
        if event is None:
            self.text(raw + b"\n")
            return
        try:
            self.events.event(event)
        except Malformed as exc:
            log.warning("task %d: an event the timeline cannot show (%s): logged as text", self.task_id, exc)
            self.text(raw + b"\n")
        except Exception:  # a bug of ours must not end the task: the line is still in the log
            log.exception("task %d: could not show an event: logged as text", self.task_id)
            self.text(raw + b"\n")

    async def read(self, reader: asyncio.StreamReader) -> None:
        """Read stdout to EOF, a line at a time."""
        buffer = bytearray()
        skipping = False  # inside a line too long to parse
        while chunk := await reader.read(READ_CHUNK):
            buffer += chunk
            while (end := buffer.find(b"\n")) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                if skipping:
                    self.text(line + b"\n")
                    skipping = False
                else:
                    self.line(line)
            if len(buffer) > MAX_LINE:
                self.text(bytes(buffer))
                buffer.clear()
                skipping = True
            await self._flush_log()
        if skipping:
            self.text(bytes(buffer))
        elif buffer:
            self.line(bytes(buffer))
        await self._flush_log()

    async def _flush_log(self) -> None:
        if self.logged:
            self.logged = False
            await self.task_log.flush()

    async def close(self) -> None:
        """Send what the timeline still holds (before the task's end is reported)."""
        await self.timeline.close()
