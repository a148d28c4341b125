"""The browser executor's allow-list (`allowed_sites`): which hosts and ports a browser task may reach.

A pattern is `host`, `host:port`, `host:*` (any port) or `*.host` (any
subdomain at any depth, not the host itself; add `host` for that), with an
optional port in each form: `*.example.com:8443`. A pattern without a port
allows the web's default ports, 80 and 443. Hosts are names (IDNA, compared
lowercase without a trailing dot), IPv4 addresses or bracketed IPv6
addresses (`[::1]:*`); a bare `*` is refused: it would allow every site.

Pure functions, no I/O: the config loader, the agent's step checks, its
`context.route` handler and its filtering proxy all judge with the same code.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = frozenset({80, 443})
SCHEME_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
MAX_PATTERN = 260
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")


class SiteError(ValueError):
    """A pattern or URL that cannot be judged; the message says why."""


def normalize_host(host: str) -> str:
    """`host` as compared: lowercase, IDNA-encoded, no trailing dot, IPs in canonical form.

    Raises SiteError for something that is neither a host name nor an IP address.
    """
    host = host.strip().lower().removesuffix(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise SiteError(f"{host[:64]!r} is not a valid host name") from None
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise SiteError(f"{host[:64]!r} is not a valid host name")
    return host


@dataclass(frozen=True)
class SitePattern:
    host: str  # normalized
    subdomains: bool  # "*.host": any name below host, not host itself
    ports: frozenset[int] | None  # None: any port

    @classmethod
    def parse(cls, text: str) -> SitePattern:
        """Raises SiteError naming what is wrong."""
        if not isinstance(text, str) or not text or len(text) > MAX_PATTERN:
            raise SiteError(f"a site is 1-{MAX_PATTERN} characters, like example.com or 127.0.0.1:*")
        if "/" in text or "@" in text or any(ch.isspace() for ch in text):
            raise SiteError(f"{text[:64]!r} is a host or host:port, not a URL")
        host, port = text, ""
        if text.startswith("["):
            end = text.find("]")
            rest = text[end + 1 :] if end > 0 else ""
            if end < 0 or (rest and not rest.startswith(":")):
                raise SiteError(f"{text[:64]!r}: an IPv6 address is written [::1] or [::1]:8000")
            host = text[: end + 1]
            if rest:
                port = rest[1:] or "-"
        elif text.count(":") > 1:
            raise SiteError(f"{text[:64]!r}: write an IPv6 address in brackets, like [::1]:*")
        elif ":" in text:
            host, port = text.rsplit(":", 1)
            port = port or "-"
        ports: frozenset[int] | None = DEFAULT_PORTS
        if port == "*":
            ports = None
        elif port:
            if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
                raise SiteError(f"{text[:64]!r}: a port is 1-65535 or *")
            ports = frozenset({int(port)})
        subdomains = host.startswith("*.")
        if subdomains:
            host = host[2:]
        if "*" in host:
            raise SiteError(
                f"{text[:64]!r}: * is only allowed as *.domain or as the port "
                "(a bare * would allow every site)"
            )
        host = normalize_host(host)
        if subdomains and _is_ip(host):
            raise SiteError(f"{text[:64]!r}: *. goes before a domain name, not an IP address")
        return cls(host, subdomains, ports)

    def matches(self, host: str, port: int) -> bool:
        """`host` normalized."""
        if self.ports is not None and port not in self.ports:
            return False
        if self.subdomains:
            return host.endswith("." + self.host)
        return host == self.host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def display(host: str, port: int, scheme: str = "") -> str:
    """`host`, or `host:port` unless port is the scheme's default (both when no scheme is known)."""
    shown = f"[{host}]" if ":" in host else host
    if SCHEME_PORTS.get(scheme) == port:
        return shown
    return f"{shown}:{port}"


class SiteList:
    def __init__(self, patterns: Iterable[str]):
        self.patterns = [SitePattern.parse(p) for p in patterns]

    def allows(self, host: str, port: int) -> bool:
        try:
            host = normalize_host(host)
        except SiteError:
            return False
        return any(pattern.matches(host, port) for pattern in self.patterns)

    def url_error(self, url: str, schemes: Iterable[str] = ("http", "https")) -> str | None:
        """Why the browser may not go to `url` (`site not allowed: ...`), or None."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in schemes:
            if not scheme:
                return "not a full URL (it needs http:// or https://)"
            return f"site not allowed: {scheme}: URLs"
        try:
            hostname, port = parts.hostname, parts.port
        except ValueError:
            return "not a valid URL (bad port)"
        if not hostname:
            return "not a valid URL (no host)"
        # The browser reads `\` as `/` and drops user names; Python does not: such a URL could mean
        # another host to each of them.
        if "\\" in url or parts.username is not None or parts.password is not None:
            return "URLs with a user name, password or backslash are not allowed"
        port = port if port is not None else SCHEME_PORTS[scheme]
        try:
            host = normalize_host(hostname)
        except SiteError as exc:
            return f"not a valid URL ({exc})"
        if not any(pattern.matches(host, port) for pattern in self.patterns):
            return f"site not allowed: {display(host, port, scheme)}"
        return None
