"""JSON-RPC 2.0 over `codex app-server`'s stdio: one JSON object a line each way
(codex leaves out the "jsonrpc" member; we send it).

Requests we send are answered by id; notifications go to `on_notification`
in the order they came (synchronously, so the timeline keeps codex's order);
requests codex sends go to `on_request`, each in a task of its own (an
approval waits for the phone), answered with its result or a JSON-RPC error.
Whatever breaks the stream (a line that is not a JSON object, a message of no
known shape, one longer than MAX_LINE, the output closing) sets `broken` with
the reason once; requests still waiting then fail with RpcClosed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("hostagent.tasks.codex")

MAX_LINE = 16 * 1024 * 1024  # bytes of one message from codex
READ_CHUNK = 64 * 1024
METHOD_NOT_FOUND = -32601
INTERNAL_ERROR = -32603

Notification = Callable[[str, dict[str, Any]], None]
Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class RpcError(Exception):
    """codex answered a request with a JSON-RPC error."""

    def __init__(self, code: object, message: str):
        super().__init__(message)
        self.code = code


class RpcClosed(Exception):
    """The stream broke before the answer came; `broken` says why."""


class Refuse(Exception):
    """Raised by a request handler: answered with this JSON-RPC error."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


class Rpc:
    def __init__(
        self,
        stdin: asyncio.StreamWriter,
        stdout: asyncio.StreamReader,
        on_notification: Notification,
        on_request: Handler,
    ):
        self.stdin = stdin
        self.stdout = stdout
        self.on_notification = on_notification
        self.on_request = on_request
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.broken: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.handlers: set[asyncio.Task[None]] = set()
        self.reader = asyncio.create_task(self._read())

    # Sending ----------------------------------------------------------------------------

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """codex's result. Raises RpcError (its error) or RpcClosed."""
        if self.broken.done():
            raise RpcClosed(self.broken.result())
        self.next_id += 1
        request_id = self.next_id
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = answer
        try:
            await self._write({"id": request_id, "method": method, "params": params})
            return await answer
        finally:
            self.pending.pop(request_id, None)

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        await self._write(message)

    async def _write(self, message: dict[str, Any]) -> None:
        try:
            self.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
            await self.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            self._break("it closed its input")
            raise RpcClosed(self.broken.result()) from None

    async def close(self) -> None:
        """Stop reading and answering; close codex's input (it exits at its end)."""
        self._break("the session closed")
        for task in (self.reader, *self.handlers):
            task.cancel()
        with contextlib.suppress(Exception):
            self.stdin.close()

    # Receiving --------------------------------------------------------------------------

    def _break(self, reason: str) -> None:
        if not self.broken.done():
            self.broken.set_result(reason)
        for answer in self.pending.values():
            if not answer.done():
                answer.set_exception(RpcClosed(reason))

    async def _read(self) -> None:
        parts: list[bytes] = []  # the line so far (only a new chunk is searched for its end)
        size = 0
        try:
            while not self.broken.done():
                chunk = await self.stdout.read(READ_CHUNK)
                if not chunk:
                    self._break("it closed its output")
                    return
                while (end := chunk.find(b"\n")) >= 0 and not self.broken.done():
                    line = b"".join((*parts, chunk[:end]))
                    parts, size, chunk = [], 0, chunk[end + 1 :]
                    if line.strip():
                        self._take(line)
                parts.append(chunk)
                size += len(chunk)
                if size > MAX_LINE:
                    self._break(f"it sent a message longer than {MAX_LINE // (1024 * 1024)} MiB")
        except Exception as exc:  # a handler's bug must not hang the session
            log.exception("the codex message reader failed")
            self._break(f"the host agent could not read it ({type(exc).__name__})")

    def _take(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            self._break(f"it sent a line that is not JSON: {_excerpt(line)}")
            return
        if not isinstance(message, dict):
            self._break(f"it sent a message that is not a JSON object: {_excerpt(line)}")
            return
        method, params = message.get("method"), message.get("params", {})
        if method is None:
            self._answered(message, line)
        elif not isinstance(method, str) or not isinstance(params, dict):
            self._break(f"it sent a message without a method name and params object: {_excerpt(line)}")
        elif "id" in message:
            task = asyncio.create_task(self._handle(message["id"], method, params))
            self.handlers.add(task)
            task.add_done_callback(self.handlers.discard)
        else:
            self.on_notification(method, params)

    def _answered(self, message: dict[str, Any], line: bytes) -> None:
        request_id = message.get("id")
        answer = self.pending.get(request_id) if isinstance(request_id, int) else None
        if answer is None or not ("result" in message or isinstance(message.get("error"), dict)):
            self._break(f"it sent an answer to no request of ours: {_excerpt(line)}")
            return
        if answer.done():
            return
        if "result" in message:
            answer.set_result(message["result"])
        else:
            error = message["error"]
            answer.set_exception(RpcError(error.get("code"), str(error.get("message") or "")[:500]))

    async def _handle(self, request_id: Any, method: str, params: dict[str, Any]) -> None:
        try:
            result = await self.on_request(method, params)
            reply: dict[str, Any] = {"id": request_id, "result": result}
        except Refuse as exc:
            reply = {"id": request_id, "error": {"code": exc.code, "message": str(exc)}}
        except Exception:
            log.exception("answering codex's %s failed", method[:64])
            reply = {"id": request_id, "error": {"code": INTERNAL_ERROR, "message": "the host agent failed"}}
        with contextlib.suppress(RpcClosed):
            await self._write(reply)


def _excerpt(line: bytes) -> str:
    text = line[:120].decode("utf-8", "replace")
    return repr(text + ("…" if len(line) > 120 else ""))
