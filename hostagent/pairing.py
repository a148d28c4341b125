"""`pair`: the device flow from the workstation's side (docs/protocol.md, "Pairing").

The token is saved only after the user has seen who approved the request and
answered yes (SECURITY.md 1.1, T2): a guessed code must not silently enrol this
machine in a stranger's team. The token and device code are never printed.
"""

from __future__ import annotations

import ipaddress
import platform
import sys
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from hostagent import __version__, api, config, invocation
from hostagent.text import clean

DEFAULT_INTERVAL = 5.0
SLOW_DOWN_STEP = 5.0

# Module attributes so tests can replace the clock.
sleep = time.sleep
monotonic = time.monotonic

_STOP_MESSAGES = {
    "access_denied": "the pairing was denied on the hub.",
    "expired_token": "the pairing code expired or was already used. Run pair again.",
    "invalid_grant": "the hub does not know this pairing request. Run pair again.",
}


def platform_string() -> str:
    return f"{sys.platform}-{platform.machine() or 'unknown'}"[:64]


def _positive(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


LOOPBACK_QR = (
    "This QR code opens {url}, an address only this computer reaches: a phone cannot open it. "
    "To scan it from your phone, pair with --hub set to an address the phone reaches, such as "
    "http://192.168.1.20:8000 (start the hub with ALLOWED_HOSTS=192.168.1.20 make run HOST=0.0.0.0; "
    "see the README), or type the code at that page in a browser on this computer."
)


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is one only this machine reaches (localhost, 127.0.0.0/8, ::1)."""
    try:
        name = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _show_code(out: TextIO, user_code: str, url: str) -> None:
    print(f"Code: {user_code}", file=out)
    print(f"Open: {url}", file=out)
    if out.isatty():
        import segno  # only needed for a terminal

        segno.make(url, error="m").terminal(out=out, compact=True)
    if is_loopback_url(url):
        print(LOOPBACK_QR.format(url=url.split("?")[0]), file=out)
    print("Approve this code on your phone; waiting...", file=out, flush=True)


def _poll(
    hub: str, device_code: str, interval: float, expires_in: float, err: TextIO
) -> dict[str, Any] | str:
    """The hub's grant, or an error message when polling must stop."""
    deadline = monotonic() + expires_in
    warned = False
    while True:
        sleep(interval)
        if monotonic() > deadline:
            return "the pairing code expired before anyone approved it. Run pair again."
        try:
            return api.pairing_poll(hub, device_code)
        except api.ApiError as exc:
            if exc.code == "authorization_pending":
                continue
            if exc.code == "slow_down":
                interval = _positive(exc.interval, interval + SLOW_DOWN_STEP)
                continue
            if exc.code == "rate_limited":
                interval = max(interval, _positive(exc.retry_after, interval + SLOW_DOWN_STEP))
                continue
            if exc.code in _STOP_MESSAGES:
                return _STOP_MESSAGES[exc.code]
            return f"pairing failed: {clean(exc)}"
        except api.HubUnreachable as exc:
            # A blip while someone is finding their phone should not lose the code.
            if not warned:
                print(f"hostagent: {clean(exc)}; still trying until the code expires.", file=err)
                warned = True


def _ask(out: TextIO, stdin: TextIO) -> bool:
    out.write("Trust this hub and account? [y/N] ")
    out.flush()
    answer = stdin.readline()
    if not stdin.isatty():
        out.write("\n")
    return answer.strip().lower() in ("y", "yes")


def pair(
    hub: str,
    name: str,
    path: Path,
    *,
    yes: bool = False,
    config_hint: str = "",
    out: TextIO | None = None,
    err: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    stdin = stdin or sys.stdin
    if not 1 <= len(name) <= 64 or clean(name) != name:
        print("hostagent: --name must be 1-64 characters without control characters.", file=err)
        return 2
    try:
        hub = api.check_hub_url(hub)
    except api.InsecureHubUrl as exc:
        print(f"hostagent: {exc}", file=err)
        return 2

    try:
        start = api.pairing_start(hub, name, platform_string(), __version__)
    except (api.ApiError, api.HubUnreachable) as exc:
        print(f"hostagent: cannot start pairing: {clean(exc)}", file=err)
        return 1
    device_code, user_code = start.get("device_code"), start.get("user_code")
    if not isinstance(device_code, str) or not isinstance(user_code, str):
        print("hostagent: the hub's pairing answer lacks a code.", file=err)
        return 1
    url = clean(start.get("verification_uri_complete") or start.get("verification_uri") or "")
    _show_code(out, clean(user_code), url)

    grant = _poll(
        hub,
        device_code,
        _positive(start.get("interval"), DEFAULT_INTERVAL),
        _positive(start.get("expires_in"), 600.0),
        err,
    )
    if isinstance(grant, str):
        print(f"hostagent: {grant}", file=err)
        return 1
    host_id, token = grant.get("host_id"), grant.get("host_token")
    if not isinstance(host_id, int) or isinstance(host_id, bool) or not isinstance(token, str) or not token:
        print("hostagent: the hub's answer lacks a host id or token.", file=err)
        return 1

    approved_by = clean(grant.get("approved_by", "?"))
    team = clean(grant.get("team", "?"))
    approved_from = clean(grant.get("approved_from", "?"))
    print(f"Hub: {hub}", file=out)
    print(f'Approved by {approved_by} for team "{team}" from {approved_from}.', file=out)
    if yes:
        print("Trust this hub and account? [y/N] yes (--yes)", file=out)
    elif not _ask(out, stdin):
        try:
            api.pairing_reject(hub, token)
        except (api.ApiError, api.HubUnreachable) as exc:
            print(
                f"Not trusted; nothing was saved. Telling the hub failed ({clean(exc)}); "
                "the unconfirmed token expires on its own.",
                file=out,
            )
        else:
            print("Not trusted: the hub was told to discard this pairing; nothing was saved.", file=out)
        return 1

    try:
        api.pairing_confirm(hub, token)
    except api.ApiError as exc:
        if exc.code == "expired_token":
            why = "the time to confirm has passed"
        elif exc.code == "invalid_token":
            why = "the hub no longer accepts this pairing (revoked or rejected)"
        else:
            why = clean(exc)
        print(f"hostagent: cannot confirm: {why}. Nothing was saved; run pair again.", file=err)
        return 1
    except api.HubUnreachable as exc:
        print(f"hostagent: cannot confirm: {clean(exc)}. Nothing was saved; run pair again.", file=err)
        return 1

    try:
        previous = config.load(path)
    except config.ConfigError:
        previous = None
    fresh = config.Config(hub=hub, host_id=host_id, name=name, token=token)
    if previous is not None:  # shared folders and executors survive a re-pair
        fresh.projects, fresh.tasks, fresh.executors = previous.projects, previous.tasks, previous.executors
    try:
        config.save(path, fresh)
        config.remove_outbox(path)  # a new host starts its sequence numbers at 1
        config.remove_mirror_index(path)  # and its hub has none of the mirror yet
        config.remove_ledger(path)  # nor any of its tasks
    except OSError as exc:
        print(f"hostagent: confirmed, but cannot write {path}: {exc}", file=err)
        return 1
    run = f"{invocation.command()} run{config_hint}"
    print(f"Paired as host {host_id}. Start the agent with: {run}", file=out)
    return 0
