"""One loopback HTTP server for the fakes of what lies outside this machine:
push services, model servers, the sites a browser task visits, the hub's HTTP
API as the agent sees it.

    class FakeModel(LoopbackServer):
        def answer(self, request: Request) -> Reply:
            return json_reply({"choices": [...]})

    with FakeModel() as model:  # 127.0.0.1, an ephemeral port, a daemon thread
        ... model.url ...
        model.received          # every Request, in order of arrival

Each request is served on a thread of its own, so an answer may block (a
held request) without stopping the others; leaving the `with` shuts the
server down and joins its thread. Pass `tls=` an ssl.SSLContext for HTTPS.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Request:
    """One request as it arrived. Header names are lower-case."""

    method: str
    path: str  # as sent, with the query
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        """The body as JSON; an empty body is {}."""
        return json.loads(self.body or b"{}")

    @property
    def route(self) -> str:
        """The path without the query."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        """The query's parameters, the first value of each."""
        return {name: values[0] for name, values in parse_qs(urlsplit(self.path).query).items()}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # Content-Length is added


def json_reply(data: Any, status: int = 200) -> Reply:
    """`data` as JSON; a str or bytes is sent as it is (a broken answer)."""
    if isinstance(data, str):
        data = data.encode()
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return Reply(status, body, {"Content-Type": "application/json"})


def html_reply(text: str, status: int = 200) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})


def redirect_reply(location: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(302, b"", {"Location": location, **(headers or {})})


class LoopbackServer:
    """An HTTP(S) server on 127.0.0.1 answering with `answer()`; a context manager."""

    def __init__(self, *, tls: ssl.SSLContext | None = None):
        self.received: list[Request] = []
        self.lock = threading.Lock()  # guards `received` and what a subclass records
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https" if tls is not None else "http"
        # A short poll interval: stop() waits for serve_forever to notice.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self._stopped = False

    def answer(self, request: Request) -> Reply:
        """What to send back; runs on the request's own thread."""
        return Reply(404)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self._scheme}://{self.netloc}"

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self.lock:
            self.received.clear()

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread; again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():  # shutdown() waits forever on a server never started
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = Request(
            method=handler.command,
            path=handler.path,
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=handler.rfile.read(length),
            at=time.monotonic(),
        )
        with self.lock:
            self.received.append(request)
        reply = self.answer(request)
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    fake: LoopbackServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    """A day-long certificate for 127.0.0.1 and localhost: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


def self_signed_tls(directory: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate: what no client trusts."""
    cert, key = self_signed_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
