"""The hub's HTTP API for pairing, unpairing and browser-task artifacts (docs/protocol.md), stdlib only.

Every call raises ApiError for a JSON error answer from the hub, HubUnreachable
when no usable answer came, and InsecureHubUrl before sending anything to a hub
that is not https (loopback excepted).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from hostagent import __version__

TIMEOUT = 10.0
MAX_ANSWER = 64 * 1024
UPLOAD_TIMEOUT = 30.0  # seconds per artifact upload attempt
UPLOAD_ATTEMPTS = 3
UPLOAD_PAUSE = 0.5  # seconds before the second attempt, doubled each time


class InsecureHubUrl(ValueError):
    pass


class HubUnreachable(Exception):
    pass


class ApiError(Exception):
    def __init__(self, code: str, description: str, status: int, interval: float | None = None):
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.status = status
        self.interval = interval
        self.retry_after: float | None = None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_hub_url(hub: str) -> str:
    """The hub URL without a trailing slash; raises InsecureHubUrl."""
    parts = urllib.parse.urlsplit(hub.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InsecureHubUrl(f"the hub URL must look like https://hub.example.com, not {hub!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InsecureHubUrl("the hub URL must not carry a user name, password, query or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InsecureHubUrl(
            f"refusing http://{parts.hostname}: the hub URL must use https:// "
            "(plain http is only allowed for a loopback host: 127.0.0.1, ::1, localhost)"
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would forward the Authorization header to wherever a redirect points,
    # including plain http or another host: treat any redirect as an error instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _error_from(status: int, body: bytes, retry_after: str | None) -> ApiError:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        description = data.get("error_description")
        error = ApiError(
            data["error"],
            description if isinstance(description, str) else "",
            status,
            _number(data.get("interval")),
        )
    else:
        error = ApiError("http_error", f"the hub answered HTTP {status}", status)
    if retry_after is not None:
        try:
            error.retry_after = float(retry_after)
        except ValueError:
            pass
    return error


def _send(
    hub: str, path: str, data: bytes | None, content_type: str, token: str | None, method: str, timeout: float
) -> bytes:
    """The answer's body (at most MAX_ANSWER + 1 bytes). Raises ApiError, HubUnreachable, InsecureHubUrl."""
    url = check_hub_url(hub) + path
    headers = {
        "Content-Type": content_type,
        "Accept": "application/json",
        "User-Agent": f"codexhub-hostagent/{__version__}",
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    # check_hub_url limited the scheme to http(s) above.
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as response:  # noqa: S310
            answer: bytes = response.read(MAX_ANSWER + 1)  # typeshed types open()'s result as Any
            return answer
    except urllib.error.HTTPError as exc:
        with exc:
            raw = exc.read(MAX_ANSWER + 1)
            if 300 <= exc.code < 400:
                location = exc.headers.get("Location", "?")
                raise HubUnreachable(
                    f"the hub answered with a redirect (HTTP {exc.code}) to {location!r}; use that URL"
                ) from None
            raise _error_from(exc.code, raw, exc.headers.get("Retry-After")) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise HubUnreachable(f"cannot reach the hub at {hub}: {reason}") from None


def post(hub: str, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    raw = _send(hub, path, json.dumps(body).encode(), "application/json", token, "POST", TIMEOUT)
    return _object(raw)


def get(hub: str, path: str, token: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
    return _object(_send(hub, path, None, "application/json", token, "GET", timeout))


def _object(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_ANSWER:
        raise HubUnreachable("the hub's answer is too large")
    try:
        data = json.loads(raw)
    except ValueError:
        raise HubUnreachable("the hub's answer is not JSON") from None
    if not isinstance(data, dict):
        raise HubUnreachable("the hub's answer is not a JSON object")
    return data


def pairing_start(hub: str, name: str, platform: str, agent_version: str) -> dict[str, Any]:
    return post(hub, "/api/pairing/", {"name": name, "platform": platform, "agent_version": agent_version})


def pairing_poll(hub: str, device_code: str) -> dict[str, Any]:
    return post(hub, "/api/pairing/token/", {"device_code": device_code})


def pairing_confirm(hub: str, token: str) -> dict[str, Any]:
    return post(hub, "/api/pairing/confirm/", {}, token=token)


def pairing_reject(hub: str, token: str) -> dict[str, Any]:
    return post(hub, "/api/pairing/reject/", {}, token=token)


def host_unpair(hub: str, token: str) -> dict[str, Any]:
    return post(hub, "/api/host/unpair/", {}, token=token)


def host_status(hub: str, token: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """What the hub knows of this host: `{"host_id", "host", "team", "hub_version", "protocol",
    "min_protocol", "update"}`; ApiError `invalid_token` (401) once it was revoked."""
    return get(hub, "/api/host/status/", token=token, timeout=timeout)


def put_artifact(
    hub: str,
    token: str,
    task_id: int,
    name: str,
    data: bytes,
    content_type: str,
    *,
    attempts: int = UPLOAD_ATTEMPTS,
    pause: float = UPLOAD_PAUSE,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """`PUT /api/host/tasks/<task_id>/artifacts/<name>` (a browser task's screenshot or PDF).

    Blocks: call it in a worker thread. Tries again after a connection error or
    a 5xx answer (the same name replaces what an earlier attempt may have
    stored); raises ApiError for another error answer, or the last error.
    """
    path = f"/api/host/tasks/{int(task_id)}/artifacts/{urllib.parse.quote(name, safe='')}"
    for attempt in range(1, attempts + 1):
        try:
            _send(hub, path, data, content_type, token, "PUT", UPLOAD_TIMEOUT)
            return
        except ApiError as exc:
            if exc.status < 500 or attempt == attempts:
                raise
        except HubUnreachable:
            if attempt == attempts:
                raise
        sleep(pause * 2 ** (attempt - 1))
