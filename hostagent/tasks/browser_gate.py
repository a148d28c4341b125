"""The browser executor's filtering proxy: the allow-list where Chromium's network stack meets the network.

Playwright's `context.route` sees most requests but not all of them: a
redirect target is fetched without asking the route handler (checked with
Playwright 1.65: `/go-away` -> 302 -> `http://evil.example/` went out), and a
service worker's requests are not routed. So the browser also runs with this
proxy (`--proxy-server`, loopback included: Playwright adds `<-loopback>`), on
127.0.0.1 in the agent's event loop, one per task. It forwards only to
allowed host:port pairs:

- `CONNECT host:port` (https, wss): refused with 403, or tunnelled as bytes
  (TLS stays end to end between the browser and the site);
- `GET http://host:port/path` (plain http, ws): refused with 403, or sent on
  with `Connection: close` and the response piped back until the site closes.

Everything it refuses is recorded in `blocked` (the URL for plain http, else
`host:port`). It never resolves a name it refuses, so a refused host sees no
request and no DNS query from the browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from hostagent.tasks.sites import SCHEME_PORTS, SiteList, display

log = logging.getLogger("hostagent.tasks.browser")

MAX_HEAD = 64 * 1024
HEAD_TIMEOUT = 30.0
CONNECT_TIMEOUT = 15.0
CHUNK = 64 * 1024
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
}


class SiteGate:
    def __init__(self, sites: SiteList):
        self.sites = sites
        self.blocked: list[str] = []
        self.forwarded: list[str] = []  # host:port of what it let through (for the log and tests)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # the pipes see the connections end
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass
        except asyncio.CancelledError:
            # close() cancels what is left; asyncio's server would log a cancelled handler as an error.
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        if len(head) > MAX_HEAD:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = (lines[0].split(" ") + ["", "", ""])[:3]
        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            host = host.strip("[]")
            port = int(port_text) if port_text.isdigit() else 0
            if not host or not 0 < port < 65536 or not self.sites.allows(host, port):
                await self._refuse(writer, display(host, port) if host else target[:200])
                return
            upstream = await self._open(host, port)
            if upstream is None:
                await self._answer(writer, 502, "cannot reach the site")
                return
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await self._pipe(reader, writer, *upstream, first=b"")
            return
        parts = urlsplit(target)
        try:
            port = parts.port or SCHEME_PORTS.get(parts.scheme, 0)
        except ValueError:
            port = 0
        if (
            parts.scheme != "http"
            or not parts.hostname
            or not port
            or not self.sites.allows(parts.hostname, port)
        ):
            await self._refuse(writer, target[:500])
            return
        upstream = await self._open(parts.hostname, port)
        if upstream is None:
            await self._answer(writer, 502, "cannot reach the site")
            return
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = [
            line for line in lines[1:] if line and line.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP
        ]
        upgrade = any(line.lower().startswith("upgrade:") for line in headers)
        # A WebSocket upgrade needs its Connection header; anything else gets one request per connection.
        connection = "Connection: Upgrade" if upgrade else "Connection: close"
        request = "\r\n".join([f"{method} {path} {version}", *headers, connection, "", ""])
        await self._pipe(reader, writer, *upstream, first=request.encode("latin-1"))

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            opened = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            log.info("browser proxy: cannot reach %s:%d: %s", host, port, exc)
            return None
        self.forwarded.append(display(host, port))
        return opened

    async def _refuse(self, writer: asyncio.StreamWriter, what: str) -> None:
        self.blocked.append(what)
        await self._answer(writer, 403, f"blocked by the codexhub allow-list: {what}")

    async def _answer(self, writer: asyncio.StreamWriter, status: int, text: str) -> None:
        body = (text + "\n").encode("utf-8", errors="replace")
        reason = {403: "Forbidden", 502: "Bad Gateway"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(OSError):
            await writer.drain()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        first: bytes,
    ) -> None:
        """Bytes both ways until the site closes (or the browser does)."""
        self._writers.add(up_writer)
        try:
            if first:
                up_writer.write(first)
            outgoing = asyncio.create_task(_copy(reader, up_writer))
            incoming = asyncio.create_task(_copy(up_reader, writer))
            done, pending = await asyncio.wait({outgoing, incoming}, return_when=asyncio.FIRST_COMPLETED)
            if incoming not in done:
                # The browser finished sending (or left): let the answer come, unless it left.
                with contextlib.suppress(Exception):
                    await incoming
            for task in (outgoing, incoming):
                task.cancel()
            await asyncio.gather(outgoing, incoming, return_exceptions=True)
        finally:
            self._writers.discard(up_writer)
            up_writer.transport.abort()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await source.read(CHUNK)
            if not data:
                if sink.can_write_eof():
                    sink.write_eof()
                return
            sink.write(data)
            await sink.drain()
    except OSError:
        return
