"""The agent's config file (TOML): where it lives, what it may say, reading it, editing it safely.

The settings are dataclasses whose fields declare their checks (hostagent/checks.py);
`load` builds them from the file and names the first wrong key. `save` edits the file in
place with tomlkit (hostagent/tomledit.py), so the user's comments, blank lines and order
survive `project add`, `pair` and `unpair`. The file holds the host token, so it is written
0600 inside a 0700 directory and replaced atomically (hostagent/files.py): a crash mid-write
leaves the old file, never half a token.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hostagent import checks
from hostagent.api import is_loopback
from hostagent.checks import Invalid, setting
from hostagent.files import write_atomic
from hostagent.tasks.desktop import INPUTS as DESKTOP_INPUTS
from hostagent.tasks.sites import SiteError, SitePattern
from protocol import limits
from protocol.text import CONTROL

ENV_VAR = "CODEXHUB_AGENT_CONFIG"
OUTBOX_NAME = "outbox.sqlite3"
MIRROR_NAME = "mirror.sqlite3"
LEDGER_NAME = "tasks.sqlite3"
MAX_PROJECT_NAME = limits.MAX_PROJECT_NAME
MAX_PROJECTS = limits.MAX_PROJECTS  # the hub refuses a longer mirror.projects list
MAX_MANAGE_ROOTS = limits.MAX_MANAGE_ROOTS
_CONTROL = CONTROL  # C0, DEL, C1 and the bidi controls, as the hub refuses them


class ConfigError(Exception):
    """The config file exists but cannot be read or has wrong values."""


EXECUTOR_TYPES = limits.EXECUTOR_KINDS
TEMPLATES = ("generic", "codex", "claude", "aider")
MAX_EXECUTORS = limits.MAX_EXECUTORS
MAX_LABEL = limits.MAX_EXECUTOR_LABEL
MAX_TIMEOUT = 7 * 24 * 3600
EXECUTOR_NAME = limits.EXECUTOR_NAME
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Playwright's Chromium channels: a Chrome or Edge installed on the host (`playwright install` is never run).
BROWSER_CHANNELS = (
    "chrome",
    "chrome-beta",
    "chrome-dev",
    "chrome-canary",
    "msedge",
    "msedge-beta",
    "msedge-dev",
    "msedge-canary",
)
MAX_SITES = 100
MAX_STEP_TIMEOUT = limits.MAX_STEP_TIMEOUT  # as a step's own `timeout` (docs/protocol.md, "Browser tasks")
DEFAULT_STEP_TIMEOUT = 15
MAX_ARTIFACT = limits.MAX_ARTIFACT  # the hub takes at most this per upload
DEFAULT_SCREENSHOT_MAX = 2 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 900
DEFAULT_PERMISSION_TIMEOUT = 600
MAX_SESSION_WAIT = 86400  # idle_timeout and permission_timeout
ON_PERMISSION_TIMEOUT = ("reject", "wait")
# codex app-server's AskForApproval and SandboxMode (docs/protocol.md, "Codex threads")
APPROVAL_POLICIES = ("untrusted", "on-request", "never")
SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
OUTPUTS = ("plain", "codex-jsonl", "claude-stream-json")  # a command's stdout (tasks/cli_output.py)
COMPUTER_ACTIONS = limits.COMPUTER_ACTIONS
MAX_COMPUTER_ACTIONS = limits.MAX_COMPUTER_ACTIONS
DEFAULT_MAX_ACTIONS = limits.MAX_STEPS
MAX_LIVE_FPS = limits.MAX_LIVE_FPS  # the live view: frames a second while someone watches (0: none)
MAX_LIVE_FRAME = limits.MAX_LIVE_FRAME
DEFAULT_LIVE_MAX = 160 * 1024
MONITOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # an X11 output: HDMI-1, DP-2-1, eDP1
X_DISPLAY = re.compile(r":\d{1,4}(\.\d{1,2})?")  # a local X11 display: `:0`, `:99.0`
MAX_WINDOWS = 100
MAX_OUTPUT_CAP = 256 * 1024 * 1024


def _seconds(high: int) -> checks.Check:
    return checks.number(1, high, f"must be a number of seconds between 1 and {high}")


def _argv(value: object) -> list[str]:
    argv = checks.strings(value)
    if not argv or len(argv) > 256 or any("\0" in item for item in argv):
        raise Invalid("must hold 1-256 strings without NUL")
    program = argv[0]
    relative = not os.path.isabs(program) and ("/" in program or "\\" in program)
    if not program or "{" in program or relative:
        raise Invalid("[0] must be an absolute path or a program name found on PATH")
    return argv


def _env_names(value: object) -> list[str]:
    env = checks.strings(value)
    for name in env:
        if not ENV_NAME.fullmatch(name):
            raise Invalid(f": {ascii(name)} is not a variable name")
        if name.upper().startswith("CODEXHUB_"):
            raise Invalid(": CODEXHUB_* variables are never passed to a task")
    return env


def _base_url(value: object) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid('is required, like "http://127.0.0.1:11434/v1"')
    if parts.username or parts.password or parts.query or parts.fragment:
        raise Invalid("must not carry a user name, password, query or fragment")
    assert isinstance(value, str)
    return value


def _model(value: object) -> str:
    if not isinstance(value, str) or not value or CONTROL.search(value):
        raise Invalid("is required (a model name)")
    return value


def _effort(value: object) -> str:
    if not isinstance(value, str) or not value or CONTROL.search(value) or len(value) > 32:
        raise Invalid('must be a reasoning effort the model offers, like "medium"')
    return value


def _api_key_env(value: object) -> str:
    if not isinstance(value, str) or not ENV_NAME.fullmatch(value):
        raise Invalid("must be a variable name")
    if value.upper().startswith("CODEXHUB_"):
        raise Invalid("must not be a CODEXHUB_* variable")
    return value


def _sites(value: object) -> list[str]:
    sites = checks.strings(value)
    if not 1 <= len(sites) <= MAX_SITES:
        raise Invalid(f"must hold 1-{MAX_SITES} sites")
    for site in sites:
        try:
            SitePattern.parse(site)
        except SiteError as exc:
            raise Invalid(f": {exc}") from None
    return sites


def _display(value: object) -> str:
    if not isinstance(value, str) or not X_DISPLAY.fullmatch(value):
        raise Invalid('must be a local X11 display, like ":0" or ":99"')
    return value


def _input(value: object) -> str:
    if value not in DESKTOP_INPUTS:
        raise Invalid(f"must be {' or '.join(repr(name) for name in DESKTOP_INPUTS)}")
    return str(value)


def _monitor(value: object) -> str:
    if not isinstance(value, str) or not MONITOR_NAME.fullmatch(value):
        raise Invalid('must be a monitor\'s output name, like "HDMI-1" or "DP-2", or "primary"')
    return value


def _actions(value: object) -> list[str]:
    actions = checks.strings(value)
    unknown = [action for action in actions if action not in COMPUTER_ACTIONS]
    if not actions or unknown:
        raise Invalid(f"must hold some of {', '.join(COMPUTER_ACTIONS)}")
    return list(dict.fromkeys(actions))


def _windows(what: str) -> checks.Check:
    def check(value: object) -> list[str]:
        names = checks.strings(value)
        if not 1 <= len(names) <= MAX_WINDOWS:
            raise Invalid(f"must hold 1-{MAX_WINDOWS} {what}")
        for name in names:
            if not 0 < len(name) <= limits.MAX_WINDOW_TITLE or CONTROL.search(name):
                limit = limits.MAX_WINDOW_TITLE
                raise Invalid(f": {ascii(name)[:60]} is not 1-{limit} characters without control characters")
        return names

    return check


def _between(low: int, high: int, *, integer: bool = False) -> checks.Check:
    """[tasks] style: a wrong type and a wrong value say different things."""
    kind = "an integer" if integer else "a number"
    return checks.number(
        low, high, f"must be {kind}", integer=integer, out_of_range=f"must be between {low} and {high}"
    )


@dataclass
class TasksConfig:
    """`[tasks]`: how this host runs the tasks the hub assigns (docs/protocol.md, "Tasks")."""

    concurrency: int = setting(2, _between(1, 32, integer=True))  # tasks running at once on this host
    # if false, at most one task at a time per project
    parallel_per_project: bool = setting(False, checks.flag)
    timeout: int | float = setting(1800, _between(1, MAX_TIMEOUT))  # default seconds per task
    output_cap: int = setting(1024 * 1024, _between(1024, MAX_OUTPUT_CAP, integer=True))  # log bytes kept
    builtins: bool = setting(True, checks.flag)  # offer codex/claude/aider when the program is on PATH


@dataclass
class ExecutorConfig:
    """One `[executors.NAME]` table, as written: None (or []) is a key left out."""

    # "command", "openai", "browser", "acp", "codex" or "computer" (checked first, by _executor)
    type: str = setting("command")
    label: str | None = setting(None, checks.text(1, MAX_LABEL))
    # command: "generic" (default), "codex", "claude" or "aider"
    template: str | None = setting(None, checks.one_of(TEMPLATES, f"must be one of {', '.join(TEMPLATES)}"))
    # generic: argv with {prompt} and {file}; acp: the agent's argv
    command: list[str] | None = setting(None, _argv)
    # generic only: "prompt" or "none"
    stdin: str | None = setting(None, checks.one_of(("prompt", "none"), 'must be "prompt" or "none"'))
    # generic only: its stdout as "plain" text (default) or a format shown on the timeline
    output: str | None = setting(None, checks.one_of(OUTPUTS, f"must be one of {', '.join(OUTPUTS)}"))
    needs_file: bool | None = setting(None, checks.flag)  # command only
    timeout: int | float | None = setting(None, _seconds(MAX_TIMEOUT))
    # command and acp: extra variables for the child
    env: list[str] = setting(check=_env_names, factory=list)
    # openai, and a computer executor a model drives: the endpoint, the model, the variable holding the key
    base_url: str | None = setting(None, _base_url)
    model: str | None = setting(None, _model)
    api_key_env: str | None = setting(None, _api_key_env)
    # browser only: the host's own Chrome or Chromium (one of executable_path and channel), never a download
    executable_path: str | None = setting(None, checks.absolute_path("Chrome or Chromium"))
    channel: str | None = setting(
        None, checks.one_of(BROWSER_CHANNELS, f"must be one of {', '.join(BROWSER_CHANNELS)}")
    )
    headless: bool | None = setting(None, checks.flag)  # default true
    # a persistent profile (signed-in sessions); else a fresh context
    profile_dir: str | None = setting(None, checks.absolute_path("a folder"))
    # required: host or host:port patterns (tasks/sites.py)
    allowed_sites: list[str] | None = setting(None, _sites)
    # the only folder downloads may go to; none: downloads refused
    downloads_dir: str | None = setting(None, checks.absolute_path("a folder"))
    # computer only (docs/protocol.md, "Computer tasks"): the X11 display (default: the agent's
    # $DISPLAY; macOS: the main display), the actions it may take (default all), the windows it may
    # act on (titles, `*` matching any text; WM_CLASS names; default any), actions per task
    display: str | None = setting(None, _display)
    # how input reaches it: "xdotool" (Linux's default) or "pynput" (macOS's only one)
    input: str | None = setting(None, _input)
    # X11: one monitor of the display, by its output's name (`xrandr --listmonitors`) or
    # "primary"; its pixels are the steps' coordinates (default: the whole screen)
    monitor: str | None = setting(None, _monitor)
    # the live view while someone watches: frames a second (0: none) and bytes a frame may take
    live_fps: int | None = setting(
        None, checks.number(0, MAX_LIVE_FPS, f"must be an integer between 0 and {MAX_LIVE_FPS}", integer=True)
    )
    live_max_bytes: int | None = setting(
        None,
        checks.number(
            1024, MAX_LIVE_FRAME, f"must be an integer between 1024 and {MAX_LIVE_FRAME}", integer=True
        ),
    )
    actions: list[str] | None = setting(None, _actions)
    allowed_titles: list[str] | None = setting(None, _windows("window titles"))
    allowed_classes: list[str] | None = setting(None, _windows("window classes"))
    max_actions: int | None = setting(
        None,
        checks.number(
            1,
            MAX_COMPUTER_ACTIONS,
            f"must be an integer between 1 and {MAX_COMPUTER_ACTIONS}",
            integer=True,
        ),
    )
    # browser and computer: seconds per step unless the step says `timeout`
    step_timeout: int | float | None = setting(None, _seconds(MAX_STEP_TIMEOUT))
    screenshot_max_bytes: int | None = setting(
        None,
        checks.number(
            1024, MAX_ARTIFACT, f"must be an integer between 1024 and {MAX_ARTIFACT}", integer=True
        ),
    )
    # acp and codex (docs/protocol.md, "Agent sessions (ACP)"): seconds a session waits for a follow-up
    # (default 900) and a permission request waits (default 600), then "reject" (default) or "wait";
    # the permission keys also for a computer executor a model drives
    idle_timeout: int | float | None = setting(None, _seconds(MAX_SESSION_WAIT))
    permission_timeout: int | float | None = setting(None, _seconds(MAX_SESSION_WAIT))
    on_permission_timeout: str | None = setting(
        None, checks.one_of(ON_PERMISSION_TIMEOUT, 'must be "reject" or "wait"')
    )
    terminal: bool | None = setting(None, checks.flag)  # offer the ACP terminal capability; default true
    # codex only: when codex asks before it acts (default "untrusted": all but known-safe reads),
    # where its commands may write (default "workspace-write"), and the reasoning effort (model's default)
    approval_policy: str | None = setting(
        None, checks.one_of(APPROVAL_POLICIES, f"must be one of {', '.join(APPROVAL_POLICIES)}")
    )
    sandbox: str | None = setting(None, checks.one_of(SANDBOXES, f"must be one of {', '.join(SANDBOXES)}"))
    effort: str | None = setting(None, _effort)


_COMMON_KEYS = ("type", "label", "timeout")
_EXECUTOR_KEYS = {
    "command": {*_COMMON_KEYS, "template", "command", "stdin", "output", "needs_file", "env"},
    "openai": {*_COMMON_KEYS, "base_url", "model", "api_key_env"},
    "browser": {
        *_COMMON_KEYS,
        "executable_path",
        "channel",
        "headless",
        "profile_dir",
        "allowed_sites",
        "downloads_dir",
        "step_timeout",
        "screenshot_max_bytes",
    },
    "computer": {
        *_COMMON_KEYS,
        "display",
        "input",
        "monitor",
        "live_fps",
        "live_max_bytes",
        "actions",
        "allowed_titles",
        "allowed_classes",
        "max_actions",
        "step_timeout",
        "screenshot_max_bytes",
        # a model drives it from a goal in words (docs/protocol.md, "Computer tasks: the agent loop")
        "base_url",
        "model",
        "api_key_env",
        "permission_timeout",
        "on_permission_timeout",
    },
    "acp": {
        *_COMMON_KEYS,
        "command",
        "env",
        "idle_timeout",
        "permission_timeout",
        "on_permission_timeout",
        "terminal",
    },
    "codex": {
        *_COMMON_KEYS,
        "command",
        "env",
        "idle_timeout",
        "permission_timeout",
        "on_permission_timeout",
        "model",
        "effort",
        "approval_policy",
        "sandbox",
    },
}


def _executor(value: object) -> ExecutorConfig:
    spec = checks.table()(value)
    kind = spec.get("type", "command")
    if kind not in EXECUTOR_TYPES:
        raise Invalid('.type must be "command" or "openai" or "browser" or "acp" or "codex" or "computer"')
    unknown = sorted(set(spec) - _EXECUTOR_KEYS[kind])
    if unknown:
        article = "an" if kind[0] in "aeio" else "a"
        raise Invalid(f".{unknown[0]} is not a key of {article} {kind} executor")
    executor = checks.build(ExecutorConfig, spec)
    _WHOLE[kind](executor)
    return executor


def _whole_command(executor: ExecutorConfig) -> None:
    if executor.template in (None, "generic"):
        if executor.command is None:
            raise Invalid('.command is required, like ["/usr/local/bin/tool", "{file}"]')
    elif executor.command is not None or executor.stdin is not None:
        raise Invalid(': command and stdin are only for template = "generic"')
    elif executor.output is not None:
        raise Invalid(': output is only for template = "generic" (a built-in one declares its own)')


def _whole_acp(executor: ExecutorConfig) -> None:
    if executor.command is None:
        raise Invalid('.command is required, like ["npx", "-y", "@zed-industries/codex-acp"]')


def _whole_openai(executor: ExecutorConfig) -> None:
    if executor.base_url is None:
        raise Invalid('.base_url is required, like "http://127.0.0.1:11434/v1"')
    if executor.model is None:
        raise Invalid(".model is required (a model name)")
    parts = urlsplit(executor.base_url)
    if executor.api_key_env is not None and parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise Invalid(".base_url must use https:// to send an API key (plain http only for a loopback host)")


def _whole_computer(executor: ExecutorConfig) -> None:
    """Off unless configured, every key has a default; with `model` (and `base_url`) a model drives
    it from a goal in words, and the keys of that loop are for such an executor only."""
    if executor.model is None:
        loop_keys = ("base_url", "api_key_env", "permission_timeout", "on_permission_timeout")
        given = [key for key in loop_keys if getattr(executor, key) is not None]
        if given:
            raise Invalid(f".{given[0]} is only for a computer executor a model drives: set model too")
        return
    if executor.base_url is None:
        raise Invalid('.base_url is required with model, like "https://api.openai.com/v1"')
    _whole_openai(executor)


def _whole_browser(executor: ExecutorConfig) -> None:
    if (executor.executable_path is None) == (executor.channel is None):
        raise Invalid(
            ': set one of executable_path (like "/usr/bin/chromium") or channel (like "chrome"): '
            "the host's own browser"
        )
    if executor.allowed_sites is None:
        raise Invalid(
            '.allowed_sites is required: the sites the browser may reach, like ["example.com", '
            '"*.example.com", "127.0.0.1:*"]'
        )


# What an executor of each type needs beyond its keys' own checks.
_WHOLE: dict[str, Callable[[ExecutorConfig], None]] = {
    "command": _whole_command,
    "acp": _whole_acp,
    "codex": lambda executor: None,  # every key has a default
    "openai": _whole_openai,
    "browser": _whole_browser,
    "computer": _whole_computer,
}


def _executors(value: object) -> dict[str, ExecutorConfig]:
    table = checks.table("must be a table of [executors.NAME] tables")(value)
    if len(table) > MAX_EXECUTORS:
        raise Invalid(f": at most {MAX_EXECUTORS} executors")
    executors = {}
    for name, spec in table.items():
        if not EXECUTOR_NAME.fullmatch(name):
            raise Invalid(
                f".{ascii(name)}: a name is 1-32 lowercase letters, digits, - or _, "
                "starting with a letter or digit"
            )
        executors[name] = checks.checked(name, _executor, spec)
    return executors


def _project_path(value: object) -> str:
    if not isinstance(value, str) or not os.path.isabs(value):
        raise Invalid(": the path must be an absolute path")
    return value


def _projects(value: object) -> dict[str, str]:
    table = checks.table("must be a table of name = path")(value)
    projects = {}
    for name, folder in table.items():
        error = project_name_error(name)
        if error is not None:
            raise Invalid(f".{ascii(name)}: {error}")
        projects[name] = checks.checked(name, _project_path, folder)
    return projects


def _tasks(value: object) -> TasksConfig:
    return checks.build(TasksConfig, checks.table()(value))


def _roots(value: object) -> list[str]:
    roots = checks.strings(value)
    if len(roots) > MAX_MANAGE_ROOTS:
        raise Invalid(f"must hold at most {MAX_MANAGE_ROOTS} folders")
    for root in roots:
        folder = os.path.expanduser(root)
        if not os.path.isabs(folder) or _CONTROL.search(root):
            raise Invalid(f": {ascii(root)} is not an absolute path (or ~/...)")
    return roots


@dataclass
class ManageConfig:
    """`[manage]`: whether the phone may manage this host (docs/protocol.md, "Managing a host")."""

    # the team's owners and admins may add and remove shared folders and restart the agent
    allow: bool = setting(False, checks.flag)
    # the folders under which the phone may pick a new shared folder, like ["~/code"]
    roots: list[str] = setting(check=_roots, factory=list)


def _manage(value: object) -> ManageConfig:
    return checks.build(ManageConfig, checks.table()(value))


@dataclass
class Config:
    hub: str = setting("", checks.string())
    host_id: int | None = setting(None, checks.integer)
    name: str = setting("", checks.string())
    token: str = setting("", checks.string())
    # Shared folders (docs/protocol.md, "The mirror"): project name -> absolute path, in the order added.
    projects: dict[str, str] = setting(check=_projects, factory=dict)
    tasks: TasksConfig = setting(check=_tasks, factory=TasksConfig)
    executors: dict[str, ExecutorConfig] = setting(check=_executors, factory=dict)
    manage: ManageConfig = setting(check=_manage, factory=ManageConfig)

    @property
    def paired(self) -> bool:
        return bool(self.hub and self.token)


def platform_config_dir() -> Path:
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        return Path(appdata) if appdata else Path.home() / "AppData" / "Roaming"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ".config"


def config_path(cli_path: str | None = None) -> Path:
    """`--config` wins, then $CODEXHUB_AGENT_CONFIG, then the platform default."""
    if cli_path:
        return Path(cli_path).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return platform_config_dir() / "codexhub" / "agent.toml"


def outbox_path(path: Path) -> Path:
    return path.parent / OUTBOX_NAME


def mirror_index_path(path: Path) -> Path:
    return path.parent / MIRROR_NAME


def ledger_path(path: Path) -> Path:
    return path.parent / LEDGER_NAME


def project_name_error(name: object) -> str | None:
    """Why `name` cannot name a project (1-64 characters, no control character, no `/`), or None."""
    if not isinstance(name, str) or not name:
        return "a project name must not be empty"
    if len(name) > MAX_PROJECT_NAME:
        return f"a project name has at most {MAX_PROJECT_NAME} characters"
    if "/" in name:
        return "a project name must not contain /"
    if _CONTROL.search(name):
        return "a project name must not contain control characters"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "a project name must be valid Unicode"
    return None


def load(path: Path) -> Config | None:
    """The config at `path`, or None if there is no file. Raises ConfigError."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return _from_toml(path, data)


_CONFIG_KEYS = {f.name for f in dataclasses.fields(Config)}


def _from_toml(path: Path, data: dict[str, Any]) -> Config:
    known = {key: value for key, value in data.items() if key in _CONFIG_KEYS}  # others are left alone
    try:
        return checks.build(Config, known)
    except Invalid as exc:
        raise ConfigError(f"{path}: {exc}") from None


def plain(config: Config) -> dict[str, Any]:
    """What the file says for `config`: defaults and empty values are left out."""
    data: dict[str, Any] = {"hub": config.hub}
    if config.host_id is not None:
        data["host_id"] = config.host_id
    data["name"] = config.name
    if config.token:
        data["token"] = config.token
    if config.projects:
        data["projects"] = dict(config.projects)
    if config.tasks != TasksConfig():
        data["tasks"] = dataclasses.asdict(config.tasks)
    if config.executors:
        data["executors"] = {name: _plain_executor(spec) for name, spec in config.executors.items()}
    if config.manage != ManageConfig():
        data["manage"] = dataclasses.asdict(config.manage)
    return data


def _plain_executor(spec: ExecutorConfig) -> dict[str, Any]:
    return {
        key: value for key, value in dataclasses.asdict(spec).items() if value is not None and value != []
    }


def toml_string(value: str) -> str:
    """A TOML basic string. Control characters (and DEL) are escaped."""
    from hostagent import tomledit

    return tomledit.string(value)


def dumps(config: Config) -> str:
    """`config` as a new file would hold it."""
    from hostagent import tomledit

    return tomledit.edit(None, {}, plain(config))


def ensure_dir(directory: Path) -> None:
    """Create `directory` (and parents) 0700. An existing directory is left as it is."""
    if directory.is_dir():
        return
    ensure_dir(directory.parent)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        return
    os.chmod(directory, 0o700)  # mkdir's mode is masked by the umask


def save(path: Path, config: Config) -> None:
    """Make the file at `path` say `config`, changing only what differs from what it says now.

    A file that is missing, unreadable or invalid is replaced whole (as pairing always did).
    The file is 0600 from its first byte, and never written through a symlink."""
    from hostagent import tomledit  # tomlkit: only the commands that write the file import it

    text, current = _current(path)
    data = tomledit.edit(text, current, plain(config))
    ensure_dir(path.parent)
    # The folder the user chose may be reached through symlinks; nothing below it is followed.
    write_atomic(os.path.realpath(path.parent), path.name, data.encode("utf-8"), mode=0o600)


def _current(path: Path) -> tuple[str | None, dict[str, Any]]:
    """The file's text and what it says, or (None, {}) if there is no usable file."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        return text, plain(_from_toml(path, tomllib.loads(text)))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ConfigError):
        return None, {}


def _remove_sqlite(base: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(f"{base}{suffix}")
        except FileNotFoundError:
            pass


def remove_outbox(path: Path) -> None:
    """Delete the outbox beside the config: its sequence numbers belong to one host."""
    _remove_sqlite(outbox_path(path))


def remove_ledger(path: Path) -> None:
    """Delete the task ledger beside the config: its task ids belong to one host."""
    _remove_sqlite(ledger_path(path))


def remove_mirror_index(path: Path) -> None:
    """Delete the mirror index beside the config: it records what one host's hub was sent."""
    _remove_sqlite(mirror_index_path(path))
