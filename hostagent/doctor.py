"""`status` and `doctor`: what the hub says of this host, and what keeps this agent from working.

`status` asks the hub (`GET /api/host/status/` with the host token) whether it still knows
this host: a token the hub revoked reads as revoked, whatever the config file says. `doctor`
checks, in order, one line each (`ok` or `FIX` and what to do): the config, the pairing, the
hub's address, reaching it and its TLS certificate, the token, the protocol version, then
each executor's program, variables, browser and sandbox. Both return the exit code.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import ssl
import sys
import urllib.parse
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hostagent import __version__, api, config, invocation
from hostagent.text import clean
from protocol.version import PROTOCOL_VERSION

if TYPE_CHECKING:
    from hostagent.tasks.executors import Executor

CONNECT_TIMEOUT = 10.0

# Where Playwright looks for a browser channel's executable (its registry's per-platform paths).
CHANNEL_PATHS: dict[str, dict[str, tuple[str, ...]]] = {
    "linux": {
        "chrome": ("/opt/google/chrome/chrome",),
        "chrome-beta": ("/opt/google/chrome-beta/chrome",),
        "chrome-dev": ("/opt/google/chrome-unstable/chrome",),
        "chrome-canary": ("/opt/google/chrome-canary/chrome",),
        "msedge": ("/opt/microsoft/msedge/msedge",),
        "msedge-beta": ("/opt/microsoft/msedge-beta/msedge",),
        "msedge-dev": ("/opt/microsoft/msedge-dev/msedge",),
        "msedge-canary": ("/opt/microsoft/msedge-canary/msedge",),
    },
    "darwin": {
        "chrome": ("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",),
        "chrome-beta": ("/Applications/Google Chrome Beta.app/Contents/MacOS/Google Chrome Beta",),
        "chrome-dev": ("/Applications/Google Chrome Dev.app/Contents/MacOS/Google Chrome Dev",),
        "chrome-canary": ("/Applications/Google Chrome Canary.app/Contents/MacOS/Google Chrome Canary",),
        "msedge": ("/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",),
        "msedge-beta": ("/Applications/Microsoft Edge Beta.app/Contents/MacOS/Microsoft Edge Beta",),
        "msedge-dev": ("/Applications/Microsoft Edge Dev.app/Contents/MacOS/Microsoft Edge Dev",),
        "msedge-canary": ("/Applications/Microsoft Edge Canary.app/Contents/MacOS/Microsoft Edge Canary",),
    },
}


def pair_command(hub: str, name: str) -> str:
    return f'{invocation.command()} pair --hub {clean(hub)} --name "{clean(name) or "My laptop"}"'


# status ----------------------------------------------------------------------------------------


def status(path: Path) -> int:
    """0 paired and the hub agrees, 1 the hub could not say, 2 not paired here, 3 revoked on the hub."""
    from hostagent.outbox import count_pending

    try:
        cfg = config.load(path)
    except config.ConfigError as exc:
        print(f"hostagent: {exc}", file=sys.stderr)
        return 2
    print(f"Config: {path}")
    if cfg is None or not cfg.paired:
        print("Paired: no")
        if cfg is not None:
            _print_local(cfg)
        return 2
    _print_local(cfg)
    code = _print_hub_view(cfg)
    print(f"Unsent messages: {count_pending(config.outbox_path(path))}")
    return code


def _print_local(cfg: config.Config) -> None:
    print(f"Hub: {clean(cfg.hub) or '-'}")
    print(f"Host id: {cfg.host_id if cfg.host_id is not None else '-'}")
    print(f"Name: {clean(cfg.name) or '-'}")


def _print_hub_view(cfg: config.Config) -> int:
    try:
        answer = api.host_status(cfg.hub, cfg.token)
    except api.ApiError as exc:
        if exc.status == 401:
            print(f"Revoked on the hub: pair again with: {pair_command(cfg.hub, cfg.name)}")
            return 3
        print(f"The hub did not say ({clean(exc)}); paired locally")
        return 1
    except (api.HubUnreachable, api.InsecureHubUrl) as exc:
        print(f"Hub unreachable: {clean(exc)}; paired locally")
        return 1
    host, team = clean(answer.get("host") or cfg.name), clean(answer.get("team") or "?")
    print(f'Paired: yes (host "{host}" of team "{team}" on {clean(cfg.hub)})')
    newer = answer.get("hub_version")
    if isinstance(newer, str) and newer != __version__:
        update = answer.get("update")
        hint = f": {clean(update)}" if isinstance(update, str) else ""
        print(f"Agent: {__version__}; the hub serves {clean(newer)[:32]}{hint}")
    return 0


# doctor ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str  # what was checked
    text: str  # what was found (ok) or what to do (FIX)

    def line(self) -> str:
        return f"{'ok ' if self.ok else 'FIX'}  {self.what}: {self.text}"


def doctor(path: Path, which: Callable[[str], str | None] = shutil.which) -> int:
    """Print each check as it is made; 0 when all are ok, 1 otherwise."""
    failed = False
    for finding in findings(path, which):
        print(finding.line(), flush=True)
        failed = failed or not finding.ok
    return 1 if failed else 0


def findings(path: Path, which: Callable[[str], str | None] = shutil.which) -> Iterator[Finding]:
    try:
        cfg = config.load(path)
    except config.ConfigError as exc:
        yield Finding(False, "config", f"{clean(exc)}: fix that line in {path}")
        return
    if cfg is None:
        yield Finding(False, "config", f"there is none at {path}: pair this host: {pair_command('URL', '')}")
        return
    yield Finding(True, "config", f"{path} reads well")
    yield from _hub_findings(cfg)
    yield from _executor_findings(cfg, which)


def _hub_findings(cfg: config.Config) -> Iterator[Finding]:
    if not cfg.paired:
        yield Finding(False, "paired", f"not paired: {pair_command(cfg.hub or 'URL', cfg.name)}")
        return
    yield Finding(True, "paired", f'host {cfg.host_id} "{clean(cfg.name)}" with {clean(cfg.hub)}')
    try:
        hub = api.check_hub_url(cfg.hub)
    except api.InsecureHubUrl as exc:
        yield Finding(False, "hub", f"{clean(exc)}: pair again with the hub's https:// address")
        return
    problem = reach(hub)
    if problem:
        yield Finding(False, "hub", problem)
        return
    secure = hub.startswith("https:")
    yield Finding(
        True, "hub", f"{hub} answers" + (", its TLS certificate is valid" if secure else " (loopback)")
    )
    answer = yield from _token_finding(hub, cfg)
    if answer is not None:
        yield _protocol_finding(answer)


def reach(hub: str, timeout: float = CONNECT_TIMEOUT) -> str:
    """ "" when the hub's address answers (with a certificate this machine trusts, for https),
    else what is wrong and what to do."""
    parts = urllib.parse.urlsplit(hub)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if secure:
                context = ssl.create_default_context()
                with context.wrap_socket(sock, server_hostname=host):
                    pass
    except ssl.SSLCertVerificationError as exc:
        why = clean(exc.verify_message or exc.reason or exc)
        return (
            f"the TLS certificate of {host}:{port} is not trusted ({why}): give the hub a certificate "
            "from a public authority (e.g. Let's Encrypt), or add its authority to this machine's "
            "trust store (or point SSL_CERT_FILE at it)"
        )
    except ssl.SSLError as exc:
        return f"no TLS with {host}:{port} ({clean(exc.reason or exc)}): is the hub served over https there?"
    except OSError as exc:
        why = clean(exc.strerror or exc) if not isinstance(exc, TimeoutError) else "timed out"
        return (
            f"cannot reach {host}:{port} ({why}): check the hub's address, the network, and that the hub runs"
        )
    return ""


def _token_finding(hub: str, cfg: config.Config) -> Generator[Finding, None, dict[str, Any] | None]:
    """Yields the token's finding; returns the hub's status answer when the token was accepted."""
    try:
        answer = api.host_status(hub, cfg.token)
    except api.ApiError as exc:
        if exc.status == 401:
            yield Finding(
                False, "token", f"the hub revoked this host: pair again: {pair_command(hub, cfg.name)}"
            )
        else:
            yield Finding(False, "token", f"the hub did not say ({clean(exc)}): try again in a minute")
        return None
    except api.HubUnreachable as exc:
        yield Finding(False, "token", f"{clean(exc)}: check that this is the hub's address")
        return None
    team = clean(answer.get("team") or "?")
    yield Finding(True, "token", f'accepted: host "{clean(answer.get("host") or cfg.name)}" of team "{team}"')
    return answer


def _protocol_finding(answer: dict[str, Any]) -> Finding:
    low, high = answer.get("min_protocol"), answer.get("protocol")
    update = answer.get("update")
    run = f": {clean(update)}" if isinstance(update, str) else ""
    if (
        not isinstance(low, int)
        or not isinstance(high, int)
        or isinstance(low, bool)
        or isinstance(high, bool)
    ):
        return Finding(False, "protocol", f"the hub did not say which protocol it takes: update the hub{run}")
    if not low <= PROTOCOL_VERSION <= high:
        takes = f"{low}" if low == high else f"{low} to {high}"
        return Finding(
            False,
            "protocol",
            f"this agent speaks {PROTOCOL_VERSION}, the hub takes {takes}: update the agent{run}",
        )
    served = answer.get("hub_version")
    note = ""
    if isinstance(served, str) and served != __version__:
        note = f"; the hub serves agent {clean(served)[:32]} (this is {__version__}){run}"
    return Finding(True, "protocol", f"{PROTOCOL_VERSION}, which the hub takes{note}")


# Executors ---------------------------------------------------------------------------------------


def _executor_findings(cfg: config.Config, which: Callable[[str], str | None]) -> Iterator[Finding]:
    from hostagent.tasks.executors import offered

    executors = offered(cfg, which)
    if not executors:
        yield Finding(
            True, "executors", "none: add [executors.NAME] to agent.toml, or install codex, claude or aider"
        )
        return
    for name, executor in executors.items():
        yield from executor_findings(name, executor, which)


def executor_findings(
    name: str,
    executor: Executor,
    which: Callable[[str], str | None] = shutil.which,
    environ: dict[str, str] | None = None,
    platform: str = sys.platform,
) -> Iterator[Finding]:
    from hostagent.tasks import environment

    what = f"executor {name}"
    environ = dict(os.environ) if environ is None else environ
    if executor.kind == "browser":
        yield browser_finding(what, executor, platform)
    elif executor.kind == "computer":
        yield computer_finding(what, executor, which, environ, platform)
    elif executor.kind != "openai":
        yield _program_finding(what, executor, which)
    env = environment.report(executor, environ, platform=platform, which=which)
    if env.missing:
        problem = environment.problems(executor, env)[0]
        yield Finding(False, f"{what} variables", problem)
    elif (
        (executor.kind == "openai" or executor.drives_itself)
        and executor.api_key_env
        and not environ.get(executor.api_key_env)
    ):
        yield Finding(
            False,
            f"{what} variables",
            f"{executor.api_key_env} (its api_key_env) is not set: set it in the environment that "
            "starts the agent",
        )
    else:
        passed = f"passes {', '.join(env.passed)}" if env.passed else "needs none"
        unset = f"; not set: {', '.join(env.unset)}" if env.unset else ""
        yield Finding(True, f"{what} variables", passed + unset)
    if environment.profile(executor) == "codex" and platform.startswith("linux"):
        note = environment.sandbox_note(executor, platform=platform, which=which)
        bwrap = which("bwrap")
        yield Finding(not note, f"{what} sandbox", note or f"bubblewrap at {bwrap}")


def _program_finding(what: str, executor: Executor, which: Callable[[str], str | None]) -> Finding:
    program = executor.argv[0] if executor.argv else ""
    if not program:
        return Finding(False, what, "no command: set its command in agent.toml")
    found = program if os.path.isabs(program) and os.access(program, os.X_OK) else which(program)
    if not found or not os.path.isfile(found):
        where = "is not an executable file" if os.path.isabs(program) else "is not on PATH"
        return Finding(
            False,
            what,
            f"{clean(program)} {where}: install it, or set its command in agent.toml "
            "(the agent's PATH is the one of the shell or service that starts it)",
        )
    return Finding(True, what, f"runs {clean(found)}")


def computer_finding(
    what: str,
    executor: Executor,
    which: Callable[[str], str | None] = shutil.which,
    environ: dict[str, str] | None = None,
    platform: str = sys.platform,
) -> Finding:
    """What a computer executor needs before its first task: the computer extra's packages, and
    a display with its input program (Linux) or the two permissions macOS asks for."""
    from hostagent.tasks.desktop import input_of

    mac = platform == "darwin"
    backend = "pynput" if mac else input_of(executor.input)
    packages = ["mss", "PIL", *(["pynput"] if backend == "pynput" else []), "Quartz" if mac else "Xlib"]
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        return Finding(
            False,
            what,
            f"{', '.join(missing)} not installed: install the agent with its computer extra "
            "(codexhub-agent[computer])",
        )
    if mac:
        return _mac_permissions_finding(what)
    environ = dict(os.environ) if environ is None else environ
    display = executor.display or environ.get("DISPLAY", "")
    if not display:
        return Finding(
            False, what, 'no display: set display = ":0" in the executor, or DISPLAY for the agent'
        )
    if backend == "xdotool":
        found = which("xdotool")
        if not found:
            return Finding(
                False, what, 'xdotool is not installed (apt-get install xdotool), or set input = "pynput"'
            )
        return Finding(True, what, f"display {clean(display)}, input through xdotool at {clean(found)}")
    return Finding(True, what, f"display {clean(display)}, input through pynput")


def _mac_permissions_finding(what: str) -> Finding:
    from hostagent.tasks.desktop import DesktopError
    from hostagent.tasks.desktop_mac import check_permissions

    try:
        check_permissions()
    except DesktopError as exc:
        return Finding(False, what, str(exc))
    return Finding(
        True, what, "the main display, input through pynput (Accessibility and Screen Recording allowed)"
    )


def browser_finding(what: str, executor: Executor, platform: str = sys.platform) -> Finding:
    if importlib.util.find_spec("playwright") is None:
        return Finding(
            False,
            what,
            "the playwright package is not installed: install the agent with its browser extra "
            "(codexhub-agent[browser])",
        )
    if executor.executable_path:
        path = executor.executable_path
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return Finding(True, what, f"Chromium at {clean(path)}")
        return Finding(
            False,
            what,
            f"{clean(path)} is not an executable file: install Chromium or fix its executable_path",
        )
    known = CHANNEL_PATHS.get(
        "darwin" if platform == "darwin" else "linux" if platform.startswith("linux") else ""
    )
    if known is None:
        return Finding(True, what, f"channel {executor.channel} (not checked on {platform})")
    for path in known.get(executor.channel, ()):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return Finding(True, what, f"channel {executor.channel} at {path}")
    return Finding(
        False,
        what,
        f"channel {executor.channel} is not installed here: install it, or set executable_path "
        '(like "/usr/bin/chromium") instead of channel',
    )
