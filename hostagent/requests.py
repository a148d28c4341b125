"""`HubRequests`: requests the hub re-sends on every link open until they are answered
(`git.request`, `host.manage`), each run at most once on this host.

The ledger records a request running before it runs and done once its result is in the
outbox; one the ledger says was running when the agent stopped is answered STOPPED after the
next welcome and never run again (half of it may have happened). A copy of a request in hand
or done is ignored: its result is, or will be, in the outbox. A subclass says how to read a
request (`parse`), how to serve it (`serve`), how its result is checked (`result_payload`)
and how a result too large for one frame is cut (`shrink`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, ClassVar

from hostagent.tasks.ledger import Ledger

log = logging.getLogger("hostagent.requests")

UNREPORTABLE = "the agent could not report the result ({error})"


class Invalid(Exception):
    """A request the protocol refuses; the message is why."""


class HubRequests:
    kind: ClassVar[str]  # the ledger's kind of request: "git", "manage"
    request_type: ClassVar[str]  # "git.request"
    result_type: ClassVar[str]  # "git.result"
    stream: ClassVar[str]
    request_id: ClassVar[re.Pattern[str]]
    stopped: ClassVar[str]  # the answer to a request a stop cut short

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.link: Any = None  # a HostLink, or anything with `async send(stream, type, payload)`
        self.doing: set[str] = set()  # request ids in hand in this process
        self.running: set[asyncio.Task[None]] = set()

    # What a subclass says -------------------------------------------------------------------------

    def parse(self, message: dict[str, Any]) -> Any:
        """The request as its protocol model; raises Invalid."""
        raise NotImplementedError

    async def serve(self, request: Any) -> None:
        """Run the request (marking it started in the ledger) and answer it."""
        raise NotImplementedError

    def result_payload(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The result as the protocol model makes it; ValueError for what the hub would refuse."""
        raise NotImplementedError

    def shrink(self, fields: dict[str, Any]) -> bool:
        """Cut the result to fit a frame; False when nothing can be cut."""
        return False

    # Hub messages ---------------------------------------------------------------------------------

    async def idle(self) -> None:
        """Wait until no request is in hand (for tests)."""
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)

    async def on_welcome(self) -> None:
        for request in self.ledger.requests_running(self.kind):
            if request not in self.doing:
                log.warning(
                    "%s %s was running when the agent stopped: reporting it", self.request_type, request
                )
                await self.answer(request, {"ok": False, "error": self.stopped})

    async def on_request(self, message: dict[str, Any]) -> None:
        request_id = message.get("request")
        if not isinstance(request_id, str) or not self.request_id.fullmatch(request_id):
            log.warning("ignoring a %s without a readable request id", self.request_type)
            return
        if request_id in self.doing or self.ledger.request_state(self.kind, request_id) is not None:
            return  # a copy of one in hand or done: its result is (or will be) in the outbox
        try:
            request = self.parse(message)
        except Invalid as exc:
            log.warning("refusing %s %s: %s", self.request_type, request_id, exc)
            await self.answer(request_id, {"ok": False, "error": f"refused: {exc}"})
            return
        self.doing.add(request_id)
        task = asyncio.create_task(self._serve(request_id, request))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def _serve(self, request_id: str, request: Any) -> None:
        try:
            await self.serve(request)
        finally:
            self.doing.discard(request_id)

    async def answer(self, request: str, fields: dict[str, Any]) -> None:
        """Send the result (cut until it fits one frame), then record the request done: a crash in
        between answers it again, as stopped, which the hub ignores."""
        fields = {"request": request, **fields}
        while True:
            try:
                payload = self.result_payload(fields)
            except ValueError as exc:  # a bug of ours: the hub must still hear an answer
                log.error("%s %s: %s", self.request_type, request, exc)
                fields = {"request": request, "ok": False, "error": UNREPORTABLE.format(error=exc)}
                payload = self.result_payload(fields)
            try:
                await self.link.send(self.stream, self.result_type, payload)
                break
            except ValueError:  # larger than one frame
                if not self.shrink(fields):
                    raise
        self.ledger.request_done(self.kind, request)
