"""Keeping the agent running: a systemd user unit on Linux, a launchd agent on macOS.

`service install | uninstall | status` write and manage them. The unit and the plist are rendered
by pure functions (`unit_text`, `plist_bytes`) from what the service runs (`Launch`); the
operations call `systemctl --user`, `loginctl` and `launchctl` and nothing else.

Restart policy, one rule on both platforms: the agent is restarted after a failure (a crash, an
exit 1, a kill), never after a stop that a restart cannot mend (`FINAL_EXITS`: not paired or a bad
config, revoked, replaced by another agent, a protocol the hub refuses). systemd reads the exit
status, so the unit lists those codes in `RestartPreventExitStatus=` and `systemctl status` keeps
showing the true code. launchd cannot filter by exit status (KeepAlive's SuccessfulExit=false
restarts any non-zero exit), so the plist runs `run --service`, under which those stops exit 0
after saying why in the log.

The service runs the program that installed it: the `codexhub-agent` console script next to the
running Python (pipx and uv tool installs keep both in the tool's virtualenv, whose path survives
upgrades), else `<python> -m hostagent`. Its `--config` is the absolute path of the config that
`install` used, and its PATH is the installing shell's, so it finds the same agent CLIs.
"""

from __future__ import annotations

import getpass
import os
import plistlib
import re
import shlex
import shutil
import site
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hostagent import config, invocation
from hostagent.text import clean

UNIT = "codexhub-agent.service"
LABEL = "codexhub.agent"
SCRIPT = "codexhub-agent"
RESTART_SEC = 10
# The agent's exit codes after which a restart cannot help (hostagent/__main__.py's docstring).
FINAL_EXITS = {
    2: "it is not paired, or its config is wrong",
    3: "this host was revoked",
    4: "another agent took over this host",
    5: "the hub refuses this agent's protocol version",
}
COMMAND_TIMEOUT = 60
_PLAIN_WORD = re.compile(r"[A-Za-z0-9/._+,:@=-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_PROGRAM = re.compile(r"[\"'\\]")


class ServiceError(Exception):
    """What keeps the service from being installed, said for the user."""


@dataclass(frozen=True)
class Launch:
    """What the service runs: its argv and the environment it adds."""

    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Places:
    """Where the service's files go, from HOME and XDG_CONFIG_HOME."""

    home: Path
    config_home: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Places:
        home = Path(env.get("HOME") or Path.home())
        xdg = env.get("XDG_CONFIG_HOME", "")
        # The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored.
        return cls(home, Path(xdg) if os.path.isabs(xdg) else home / ".config")

    @property
    def unit(self) -> Path:
        return self.config_home / "systemd" / "user" / UNIT

    @property
    def plist(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{LABEL}.plist"

    @property
    def log(self) -> Path:
        return self.home / "Library" / "Logs" / "codexhub-agent" / "agent.log"


def program() -> list[str]:
    """How to start this agent from a service: its console script if it sits beside the running
    Python (the same virtualenv), else that Python with `-m hostagent`. sys.executable is not
    resolved: a virtualenv's python is a symlink, and only its own path finds the venv."""
    python = os.path.abspath(sys.executable)
    script = Path(python).parent / SCRIPT
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [python, "-m", "hostagent"]


def source_checkout() -> str | None:
    """The folder holding hostagent/ when it is imported from a checkout rather than an install:
    the service's Python would not find it from another working directory."""
    here = Path(__file__).resolve().parent.parent
    installed = [*site.getsitepackages(), site.getusersitepackages()]
    if any(Path(p).resolve() == here for p in installed if os.path.isdir(p)):
        return None
    return str(here)


def launch(config_path: Path, env: Mapping[str, str], *, service_flag: bool = False) -> Launch:
    """What the service runs for `config_path` (absolute), with the PATH of `env`."""
    argv = [*program(), "run", "--config", os.path.abspath(config_path)]
    if service_flag:
        argv.append("--service")
    for word in argv:
        if _CONTROL.search(word):
            raise ServiceError(f"cannot put {clean(ascii(word))} in a service: it holds a control character")
    added = {"PATH": service_path(env.get("PATH", "")), "PYTHONUNBUFFERED": "1"}
    checkout = source_checkout()
    if checkout is not None and argv[1:3] == ["-m", "hostagent"]:
        added["PYTHONPATH"] = checkout
    return Launch(argv, added)


def service_path(path: str) -> str:
    """The installing shell's PATH, keeping only absolute folders a unit file can hold."""
    kept = [p for p in path.split(os.pathsep) if os.path.isabs(p) and not _CONTROL.search(p)]
    return os.pathsep.join(dict.fromkeys(kept)) or "/usr/local/bin:/usr/bin:/bin"


def _quoted(word: str) -> str:
    """A word as systemd reads it back (systemd.syntax(7) "Quoting"), `%` (specifiers) doubled."""
    if not _PLAIN_WORD.fullmatch(word):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word.replace("%", "%%")


def _command_line(argv: list[str]) -> str:
    """ExecStart's value (systemd.service(5) "Command lines"): the program's path takes no quotes
    or backslashes and expands no variables; in the arguments `$` is doubled."""
    if _UNSAFE_PROGRAM.search(argv[0]):
        raise ServiceError(
            f"systemd cannot run a program whose path holds quotes or a backslash: {clean(argv[0])}. "
            "Install the agent in another folder."
        )
    return " ".join([_quoted(argv[0]), *(_quoted(word).replace("$", "$$") for word in argv[1:])])


def _unit_assignment(name: str, value: str) -> str:
    """An Environment= assignment: no variables are expanded there, so `$` stays."""
    return _quoted(f"{name}={value}")


def unit_text(what: Launch) -> str:
    """The systemd user unit (systemd.service(5)); logs go to the journal. Raises ServiceError for
    a program path systemd refuses."""
    env = "\n".join(f"Environment={_unit_assignment(k, v)}" for k, v in what.env.items())
    final = " ".join(str(code) for code in FINAL_EXITS)
    return f"""\
# Written by `{SCRIPT} service install`; `{SCRIPT} service uninstall` removes it.
# Settings of your own (Environment=...) go in `systemctl --user edit codexhub-agent`, which keeps them.
[Unit]
Description=codexhub host agent

[Service]
ExecStart={_command_line(what.argv)}
{env}
WorkingDirectory=%h
StandardOutput=journal
StandardError=journal
Restart=on-failure
RestartSec={RESTART_SEC}
# Exits a restart cannot mend: 2 not paired or a bad config, 3 revoked, 4 replaced by another
# agent, 5 a protocol version the hub refuses.
RestartPreventExitStatus={final}
# SIGTERM to the agent alone: it stops its tasks' process groups itself, then systemd kills the rest.
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy=default.target
"""


def plist_bytes(what: Launch, places: Places) -> bytes:
    """The launchd agent (launchd.plist(5)): started at login, restarted after a non-zero exit
    (`what.argv` must carry `--service`, see the module's docstring), logs to `places.log`."""
    return plistlib.dumps(
        {
            "Label": LABEL,
            "ProgramArguments": what.argv,
            "EnvironmentVariables": what.env,
            "WorkingDirectory": str(places.home),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ThrottleInterval": RESTART_SEC,
            "StandardOutPath": str(places.log),
            "StandardErrorPath": str(places.log),
        }
    )


def restarts(unit: str, exit_code: int) -> bool:
    """Whether systemd restarts the service after `exit_code`, read from a unit's text
    (Restart=on-failure and RestartPreventExitStatus= only, as this module writes them)."""
    keys = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    if keys.get("Restart") != "on-failure" or exit_code == 0:
        return False
    return str(exit_code) not in keys.get("RestartPreventExitStatus", "").split()


# --- running the service managers ---------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def said(self) -> str:
        """What the program said, on one line, for the user."""
        return clean(" ".join((self.err or self.out).split())) or f"exit code {self.code}"


class Manager:
    """Runs one service manager's program with the caller's environment."""

    def __init__(self, name: str, env: Mapping[str, str]):
        self.name, self.env = name, dict(env)
        self.path = shutil.which(name, path=self.env.get("PATH", ""))

    def __call__(self, *args: str) -> Ran:
        assert self.path is not None
        try:
            done = subprocess.run(
                [self.path, *args],
                env=self.env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Ran(1, "", str(exc))
        return Ran(done.returncode, done.stdout, done.stderr)


def _me() -> str:
    """The command the person typed (their hints name it), not the one the service will run."""
    return invocation.command()


def _fail(message: str) -> int:
    print(f"hostagent: {message}", file=sys.stderr)
    return 1


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _put_back(path: Path, previous: bytes | None) -> str:
    """Undo our write: the previous file back, or none. Says what is left."""
    try:
        if previous is None:
            path.unlink(missing_ok=True)
            return "Nothing was left installed."
        _write(path, previous)
        return f"The previous {path} was put back."
    except OSError as exc:
        return f"{path} is left behind ({exc}): remove it by hand."


NO_USER_BUS = (
    "systemctl --user cannot reach your user's service manager. That happens without a login "
    "session (su, sudo, a container, some ssh setups). Log in as this user (ssh user@host, not su), "
    "or let the manager run without a login: sudo loginctl enable-linger {user}, then log in again "
    "and retry (with linger on, export XDG_RUNTIME_DIR=/run/user/$(id -u) may be all that is "
    "missing); check with: systemctl --user status"
)


# --- systemd -------------------------------------------------------------------------------------


def systemd_install(config_path: Path, env: Mapping[str, str]) -> int:
    places = Places.from_env(env)
    systemctl = Manager("systemctl", env)
    what = launch(config_path, env)
    if systemctl.path is None:
        return _fail(
            "systemctl is not on PATH: this machine does not run systemd. Nothing was written. "
            f"Keep the agent running with your own supervisor: {shlex.join(what.argv)}"
        )
    unit = places.unit
    previous = unit.read_bytes() if unit.is_file() else None
    try:
        _write(unit, unit_text(what).encode())
    except OSError as exc:
        return _fail(f"cannot write {unit}: {exc}")
    ran = systemctl("--user", "daemon-reload")
    if ran.code != 0:
        user = env.get("USER") or getpass.getuser()
        return _fail(f"{ran.said}\n{NO_USER_BUS.format(user=user)}\n{_put_back(unit, previous)}")
    steps = [("enable", "--now", UNIT)] if previous is None else [("enable", UNIT), ("restart", UNIT)]
    for step in steps:
        ran = systemctl("--user", *step)
        if ran.code != 0:
            if previous is None:
                systemctl("--user", "disable", UNIT)
            left = _put_back(unit, previous)
            systemctl("--user", "daemon-reload")
            return _fail(f"systemctl --user {' '.join(step)} failed: {ran.said}\n{left}")
    print(f"Installed {unit} and started it: {shlex.join(what.argv)}")
    print(
        "It restarts after a failure, not after a revocation, another agent taking over, "
        "a refused protocol version or a missing pairing."
    )
    print(f"Logs: journalctl --user -u {UNIT} -f")
    print(_linger(env))
    return 0


def _linger(env: Mapping[str, str]) -> str:
    user = env.get("USER") or getpass.getuser()
    loginctl = Manager("loginctl", env)
    if loginctl.path is not None:
        ran = loginctl("show-user", user, "--property=Linger", "--value")
        if ran.code == 0 and ran.out.strip() == "yes":
            return f"Linger is on for {user}: the agent starts at boot and runs without a login."
    return (
        "It runs while you are logged in. On a machine nobody logs in to (a headless server), let it "
        f"start at boot and keep running: loginctl enable-linger {user}"
    )


def systemd_uninstall(env: Mapping[str, str]) -> int:
    unit = Places.from_env(env).unit
    if not unit.is_file():
        print(f"Not installed: there is no {unit}.")
        return 0
    systemctl = Manager("systemctl", env)
    if systemctl.path is None:
        return _fail(f"systemctl is not on PATH; {unit} is left as it was.")
    ran = systemctl("--user", "disable", "--now", UNIT)
    if ran.code != 0:
        return _fail(f"systemctl --user disable --now {UNIT} failed: {ran.said}\n{unit} is left as it was.")
    try:
        unit.unlink()
    except OSError as exc:
        return _fail(f"stopped and disabled the service, but cannot remove {unit}: {exc}")
    systemctl("--user", "daemon-reload")
    print(f"Stopped and disabled {UNIT}, removed {unit}.")
    drop_ins = unit.with_name(f"{UNIT}.d")
    if drop_ins.is_dir():
        print(f"Your own settings in {drop_ins} (systemctl --user edit) are kept: remove them if unneeded.")
    return 0


SHOWN = ("LoadState", "ActiveState", "SubState", "UnitFileState", "ExecMainStatus", "ExecMainPID")


def systemd_status(env: Mapping[str, str]) -> int:
    unit = Places.from_env(env).unit
    systemctl = Manager("systemctl", env)
    if systemctl.path is None:
        print(
            f"Service: unknown, systemctl is not on PATH ({unit} {'exists' if unit.is_file() else 'absent'})."
        )
        return 1
    ran = systemctl("--user", "show", UNIT, f"--property={','.join(SHOWN)}")
    if ran.code != 0:
        print(f"Service: unknown, systemctl --user cannot tell ({ran.said}).")
        return 1
    props = dict(line.split("=", 1) for line in ran.out.splitlines() if "=" in line)
    if props.get("LoadState") == "not-found" or not unit.is_file():
        print(f"Service: not installed. Install it with: {_me()} service install")
        return 1
    print(_systemd_state(props))
    enabled = props.get("UnitFileState", "unknown")
    print(f"Unit: {unit} ({clean(enabled)}). Logs: journalctl --user -u {UNIT}")
    return 0 if props.get("ActiveState") == "active" else 1


def _systemd_state(props: dict[str, str]) -> str:
    active, sub = props.get("ActiveState", ""), props.get("SubState", "")
    code = int(props["ExecMainStatus"]) if props.get("ExecMainStatus", "").isdigit() else 0
    if active == "active":
        return f"Service: running (pid {clean(props.get('ExecMainPID', '?'))})."
    if sub == "auto-restart" or active == "activating":
        return f"Service: restarting after a failure (exit code {code})."
    if code in FINAL_EXITS:
        return (
            f"Service: stopped for good, {FINAL_EXITS[code]} (exit code {code}); systemd does not restart "
            f"it after that. Fix it, then: systemctl --user restart {UNIT}"
        )
    if active == "failed":
        return f"Service: failed (exit code {code})."
    return f"Service: stopped ({clean(active or 'unknown')})."


# --- launchd -------------------------------------------------------------------------------------


def _domain() -> str:
    return f"gui/{os.getuid()}"


def launchd_install(config_path: Path, env: Mapping[str, str]) -> int:
    places = Places.from_env(env)
    launchctl = Manager("launchctl", env)
    what = launch(config_path, env, service_flag=True)
    if launchctl.path is None:
        return _fail("launchctl is not on PATH. Nothing was written.")
    plist = places.plist
    previous = plist.read_bytes() if plist.is_file() else None
    try:
        places.log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(plist, plist_bytes(what, places))
    except OSError as exc:
        return _fail(f"cannot write {plist}: {exc}")
    if previous is not None:
        launchctl("bootout", f"{_domain()}/{LABEL}")  # not loaded is fine: it is loaded next
    launchctl("enable", f"{_domain()}/{LABEL}")  # a `launchctl disable` would make bootstrap fail
    ran = launchctl("bootstrap", _domain(), str(plist))
    if ran.code != 0:
        return _fail(
            f"launchctl bootstrap {_domain()} failed: {ran.said}\n"
            "A launchd agent needs your login session on this Mac: log in at its desktop (over ssh "
            f"alone there is none), then run {_me()} service install again.\n{_put_back(plist, previous)}"
        )
    print(f"Installed {plist} and started it: {shlex.join(what.argv)}")
    print(
        "It starts at login and restarts after a failure, not after a revocation, another agent "
        "taking over, a refused protocol version or a missing pairing."
    )
    print(f"Logs: {places.log}")
    return 0


def _launchd_print(launchctl: Manager) -> dict[str, str] | None:
    """`launchctl print`'s top-level `key = value` lines, or None when the agent is not loaded."""
    ran = launchctl("print", f"{_domain()}/{LABEL}")
    if ran.code != 0:
        return None
    found: dict[str, str] = {}
    for line in ran.out.splitlines():
        if line.startswith("\t") and not line.startswith("\t\t") and " = " in line:
            key, value = line.strip().split(" = ", 1)
            found.setdefault(key, value)
    return found


def launchd_uninstall(env: Mapping[str, str]) -> int:
    plist = Places.from_env(env).plist
    launchctl = Manager("launchctl", env)
    if launchctl.path is None:
        return _fail(f"launchctl is not on PATH; {plist} is left as it was.")
    loaded = _launchd_print(launchctl) is not None
    if not loaded and not plist.is_file():
        print(f"Not installed: there is no {plist}.")
        return 0
    if loaded:
        ran = launchctl("bootout", f"{_domain()}/{LABEL}")
        if ran.code != 0:
            return _fail(f"launchctl bootout failed: {ran.said}\n{plist} is left as it was.")
    plist.unlink(missing_ok=True)
    print(f"Stopped {LABEL} and removed {plist}.")
    return 0


def launchd_status(env: Mapping[str, str]) -> int:
    places = Places.from_env(env)
    launchctl = Manager("launchctl", env)
    if launchctl.path is None:
        print("Service: unknown, launchctl is not on PATH.")
        return 1
    shown = _launchd_print(launchctl)
    if shown is None:
        if places.plist.is_file():
            print(
                f"Service: installed but not loaded ({places.plist}). Load it with: {_me()} service install"
            )
        else:
            print(f"Service: not installed. Install it with: {_me()} service install")
        return 1
    running = shown.get("state") == "running"
    if running:
        print(f"Service: running (pid {clean(shown.get('pid', '?'))}).")
    else:
        last = clean(shown.get("last exit code", "unknown"))
        print(f"Service: not running (last exit code {last}). Its last words: {_last_line(places.log)}")
    print(f"Agent: {places.plist}. Logs: {places.log}")
    return 0 if running else 1


def _last_line(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return "(no log yet)"
    said = [line for line in lines if line.strip()]
    return clean(said[-1]) if said else "(empty log)"


# --- the command ---------------------------------------------------------------------------------


def command(
    action: str, config_path: Path, *, platform: str = sys.platform, env: Mapping[str, str] | None = None
) -> int:
    """`service install | uninstall | status` on `platform` (sys.platform's spelling)."""
    env = os.environ if env is None else env
    kind = "systemd" if platform.startswith("linux") else "launchd" if platform == "darwin" else None
    if kind is None:
        print(
            f"hostagent: no service manager is supported on {platform}: keep `{_me()} run` running "
            "with your own supervisor.",
            file=sys.stderr,
        )
        return 2
    if action == "install":
        if not _paired(config_path):
            return 2
        try:
            install = systemd_install if kind == "systemd" else launchd_install
            return install(config_path, env)
        except ServiceError as exc:
            return _fail(str(exc))
    if action == "uninstall":
        return systemd_uninstall(env) if kind == "systemd" else launchd_uninstall(env)
    return systemd_status(env) if kind == "systemd" else launchd_status(env)


def _paired(path: Path) -> bool:
    """A service of an agent that is not paired would stop at once: say so before installing."""
    try:
        loaded = config.load(path)
    except config.ConfigError as exc:
        print(f"hostagent: {exc}", file=sys.stderr)
        return False
    if loaded is None or not loaded.paired:
        print(
            f"hostagent: not paired ({path}). Pair first: {_me()} pair --hub URL --name NAME "
            f"--config {shlex.quote(str(path))}",
            file=sys.stderr,
        )
        return False
    return True
