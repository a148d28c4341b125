"""The agent's config file (TOML): where it lives, reading it, writing it safely.

The file holds the host token, so it is written 0600 inside a 0700 directory and
replaced atomically: a crash mid-write leaves the old file, never half a token.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from hostagent.api import is_loopback
from hostagent.tasks.sites import SiteError, SitePattern
from protocol import limits
from protocol.text import CONTROL

ENV_VAR = "CODEXHUB_AGENT_CONFIG"
OUTBOX_NAME = "outbox.sqlite3"
MIRROR_NAME = "mirror.sqlite3"
LEDGER_NAME = "tasks.sqlite3"
MAX_PROJECT_NAME = limits.MAX_PROJECT_NAME
MAX_PROJECTS = limits.MAX_PROJECTS  # the hub refuses a longer mirror.projects list
_CONTROL = CONTROL  # C0, DEL, C1 and the bidi controls, as the hub refuses them


class ConfigError(Exception):
    """The config file exists but cannot be read or has wrong values."""


@dataclass
class TasksConfig:
    """`[tasks]`: how this host runs the tasks the hub assigns (docs/protocol.md, "Tasks")."""

    concurrency: int = 2  # tasks running at once on this host
    parallel_per_project: bool = False  # if false, at most one task at a time per project
    timeout: int | float = 1800  # default seconds per task
    output_cap: int = 1024 * 1024  # bytes of log kept per task
    builtins: bool = True  # offer codex/claude/aider when the program is on PATH


@dataclass
class ExecutorConfig:
    """One `[executors.NAME]` table, as written: None (or []) is a key left out."""

    type: str = "command"  # "command", "openai", "browser" or "acp"
    label: str | None = None
    template: str | None = None  # command: "generic" (default), "codex", "claude" or "aider"
    command: list[str] | None = None  # generic: argv with {prompt} and {file}; acp: the agent's argv
    stdin: str | None = None  # generic only: "prompt" or "none"
    needs_file: bool | None = None  # command only
    timeout: int | float | None = None
    env: list[str] = field(default_factory=list)  # command and acp: extra variables for the child
    base_url: str | None = None  # openai only
    model: str | None = None
    api_key_env: str | None = None
    # browser only: the host's own Chrome or Chromium (one of executable_path and channel), never a download
    executable_path: str | None = None
    channel: str | None = None
    headless: bool | None = None  # default true
    profile_dir: str | None = None  # a persistent profile (signed-in sessions); else a fresh context
    allowed_sites: list[str] | None = None  # required: host or host:port patterns (tasks/sites.py)
    downloads_dir: str | None = None  # the only folder downloads may go to; none: downloads refused
    step_timeout: int | float | None = None  # seconds per step unless the step says `timeout`
    screenshot_max_bytes: int | None = None
    # acp only (docs/protocol.md, "Agent sessions (ACP)")
    idle_timeout: int | float | None = None  # seconds a session waits for a follow-up; default 900
    permission_timeout: int | float | None = None  # seconds a permission request waits; default 600
    on_permission_timeout: str | None = None  # "reject" (default) or "wait"
    terminal: bool | None = None  # offer the ACP terminal capability; default true


EXECUTOR_TYPES = limits.EXECUTOR_KINDS
TEMPLATES = ("generic", "codex", "claude", "aider")
MAX_EXECUTORS = limits.MAX_EXECUTORS
MAX_LABEL = limits.MAX_EXECUTOR_LABEL
MAX_TIMEOUT = 7 * 24 * 3600
EXECUTOR_NAME = limits.EXECUTOR_NAME
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXECUTOR_KEYS = {
    "command": {"type", "label", "timeout", "template", "command", "stdin", "needs_file", "env"},
    "openai": {"type", "label", "timeout", "base_url", "model", "api_key_env"},
    "browser": {
        "type",
        "label",
        "timeout",
        "executable_path",
        "channel",
        "headless",
        "profile_dir",
        "allowed_sites",
        "downloads_dir",
        "step_timeout",
        "screenshot_max_bytes",
    },
    "acp": {
        "type",
        "label",
        "timeout",
        "command",
        "env",
        "idle_timeout",
        "permission_timeout",
        "on_permission_timeout",
        "terminal",
    },
}
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
# (key, allowed types, low, high): bounds are inclusive.
_TASKS_KEYS: dict[str, tuple[tuple[type, ...], float, float]] = {
    "concurrency": ((int,), 1, 32),
    "parallel_per_project": ((bool,), 0, 1),
    "timeout": ((int, float), 1, MAX_TIMEOUT),
    "output_cap": ((int,), 1024, 256 * 1024 * 1024),
    "builtins": ((bool,), 0, 1),
}


@dataclass
class Config:
    hub: str = ""
    host_id: int | None = None
    name: str = ""
    token: str = ""
    # Shared folders (docs/protocol.md, "The mirror"): project name -> absolute path, in the order added.
    projects: dict[str, str] = field(default_factory=dict)
    tasks: TasksConfig = field(default_factory=lambda: TasksConfig())
    executors: dict[str, ExecutorConfig] = field(default_factory=dict)

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
    config = Config()
    for key in ("hub", "name", "token"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string")
        setattr(config, key, value)
    host_id = data.get("host_id")
    if host_id is not None and (not isinstance(host_id, int) or isinstance(host_id, bool)):
        raise ConfigError(f"{path}: host_id must be an integer")
    config.host_id = host_id
    projects = data.get("projects", {})
    if not isinstance(projects, dict):
        raise ConfigError(f"{path}: projects must be a table of name = path")
    for name, folder in projects.items():
        error = project_name_error(name)
        if error is not None:
            raise ConfigError(f"{path}: project {name!r}: {error}")
        if not isinstance(folder, str) or not os.path.isabs(folder):
            raise ConfigError(f"{path}: project {name!r}: the path must be an absolute path")
        config.projects[name] = folder
    config.tasks = _load_tasks(path, data.get("tasks", {}))
    config.executors = _load_executors(path, data.get("executors", {}))
    return config


def _kind(value: object) -> type:
    return bool if isinstance(value, bool) else type(value)


def _load_tasks(path: Path, table: object) -> TasksConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: tasks must be a table")
    tasks = TasksConfig()
    for key, value in table.items():
        if key not in _TASKS_KEYS:
            raise ConfigError(f"{path}: tasks.{key} is not a known key ({', '.join(_TASKS_KEYS)})")
        types, low, high = _TASKS_KEYS[key]
        if _kind(value) not in types:
            raise ConfigError(f"{path}: tasks.{key} must be {_type_names(types)}")
        if not isinstance(value, bool) and not low <= value <= high:
            raise ConfigError(f"{path}: tasks.{key} must be between {low:g} and {high:g}")
        setattr(tasks, key, value)
    return tasks


def _type_names(types: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number"}
    return "a number" if float in types else names[types[0]]


def _load_executors(path: Path, table: object) -> dict[str, ExecutorConfig]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: executors must be a table of [executors.NAME] tables")
    if len(table) > MAX_EXECUTORS:
        raise ConfigError(f"{path}: executors: at most {MAX_EXECUTORS} executors")
    executors = {}
    for name, spec in table.items():
        if not EXECUTOR_NAME.fullmatch(name):
            raise ConfigError(
                f"{path}: executors.{ascii(name)}: a name is 1-32 lowercase letters, digits, - or _, "
                "starting with a letter or digit"
            )
        if not isinstance(spec, dict):
            raise ConfigError(f"{path}: executors.{name} must be a table")
        executors[name] = _load_executor(f"{path}: executors.{name}", spec)
    return executors


def _load_executor(where: str, spec: dict[str, object]) -> ExecutorConfig:
    kind = spec.get("type", "command")
    if kind not in EXECUTOR_TYPES:
        raise ConfigError(f'{where}.type must be "command" or "openai" or "browser" or "acp"')
    unknown = sorted(set(spec) - _EXECUTOR_KEYS[str(kind)])
    if unknown:
        article = "an" if str(kind)[0] in "aeio" else "a"
        raise ConfigError(f"{where}.{unknown[0]} is not a key of {article} {kind} executor")
    executor = ExecutorConfig(type=str(kind))
    label = spec.get("label")
    if label is not None:
        if not isinstance(label, str) or not 1 <= len(label) <= MAX_LABEL or _CONTROL.search(label):
            raise ConfigError(f"{where}.label must be 1-{MAX_LABEL} characters without control characters")
        executor.label = label
    timeout = spec.get("timeout")
    if timeout is not None:
        if (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not 1 <= timeout <= MAX_TIMEOUT
        ):
            raise ConfigError(f"{where}.timeout must be a number of seconds between 1 and {MAX_TIMEOUT}")
        executor.timeout = timeout
    if kind == "openai":
        _load_openai(where, spec, executor)
    elif kind == "browser":
        _load_browser(where, spec, executor)
    elif kind == "acp":
        _load_acp(where, spec, executor)
    else:
        _load_command(where, spec, executor)
    return executor


def _string_list(where: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where} must be a list of strings")
    return list(value)


def _load_command(where: str, spec: dict[str, object], executor: ExecutorConfig) -> None:
    template = spec.get("template")
    if template is not None:
        if template not in TEMPLATES:
            raise ConfigError(f"{where}.template must be one of {', '.join(TEMPLATES)}")
        executor.template = str(template)
    generic = template in (None, "generic")
    command = spec.get("command")
    if generic:
        if command is None:
            raise ConfigError(f'{where}.command is required, like ["/usr/local/bin/tool", "{{file}}"]')
        executor.command = _argv(where, command)
    elif command is not None or "stdin" in spec:
        raise ConfigError(f'{where}: command and stdin are only for template = "generic"')
    stdin = spec.get("stdin")
    if stdin is not None:
        if stdin not in ("prompt", "none"):
            raise ConfigError(f'{where}.stdin must be "prompt" or "none"')
        executor.stdin = str(stdin)
    needs_file = spec.get("needs_file")
    if needs_file is not None and not isinstance(needs_file, bool):
        raise ConfigError(f"{where}.needs_file must be true or false")
    executor.needs_file = needs_file
    executor.env = _env_names(where, spec)


def _argv(where: str, command: object) -> list[str]:
    argv = _string_list(f"{where}.command", command)
    if not argv or len(argv) > 256 or any("\0" in item for item in argv):
        raise ConfigError(f"{where}.command must hold 1-256 strings without NUL")
    program = argv[0]
    relative = not os.path.isabs(program) and ("/" in program or "\\" in program)
    if not program or "{" in program or relative:
        raise ConfigError(f"{where}.command[0] must be an absolute path or a program name found on PATH")
    return argv


def _env_names(where: str, spec: dict[str, object]) -> list[str]:
    env = _string_list(f"{where}.env", spec.get("env", []))
    for name in env:
        if not ENV_NAME.fullmatch(name):
            raise ConfigError(f"{where}.env: {ascii(name)} is not a variable name")
        if name.upper().startswith("CODEXHUB_"):
            raise ConfigError(f"{where}.env: CODEXHUB_* variables are never passed to a task")
    return env


def _load_acp(where: str, spec: dict[str, object], executor: ExecutorConfig) -> None:
    command = spec.get("command")
    if command is None:
        raise ConfigError(f'{where}.command is required, like ["npx", "-y", "@zed-industries/codex-acp"]')
    executor.command = _argv(where, command)
    executor.env = _env_names(where, spec)
    for key in ("idle_timeout", "permission_timeout"):
        value = spec.get(key)
        if value is None:
            continue
        if type(value) not in (int, float) or not 1 <= value <= MAX_SESSION_WAIT:
            raise ConfigError(f"{where}.{key} must be a number of seconds between 1 and {MAX_SESSION_WAIT}")
        setattr(executor, key, value)
    on_timeout = spec.get("on_permission_timeout")
    if on_timeout is not None:
        if on_timeout not in ON_PERMISSION_TIMEOUT:
            raise ConfigError(f'{where}.on_permission_timeout must be "reject" or "wait"')
        executor.on_permission_timeout = str(on_timeout)
    terminal = spec.get("terminal")
    if terminal is not None and not isinstance(terminal, bool):
        raise ConfigError(f"{where}.terminal must be true or false")
    executor.terminal = terminal


def _load_openai(where: str, spec: dict[str, object], executor: ExecutorConfig) -> None:
    base_url = spec.get("base_url")
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f'{where}.base_url is required, like "http://127.0.0.1:11434/v1"')
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"{where}.base_url must not carry a user name, password, query or fragment")
    model = spec.get("model")
    if not isinstance(model, str) or not model or _CONTROL.search(model):
        raise ConfigError(f"{where}.model is required (a model name)")
    api_key_env = spec.get("api_key_env")
    if api_key_env is not None:
        if not isinstance(api_key_env, str) or not ENV_NAME.fullmatch(api_key_env):
            raise ConfigError(f"{where}.api_key_env must be a variable name")
        if api_key_env.upper().startswith("CODEXHUB_"):
            raise ConfigError(f"{where}.api_key_env must not be a CODEXHUB_* variable")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError(
                f"{where}.base_url must use https:// to send an API key (plain http only for a loopback host)"
            )
    executor.base_url, executor.model, executor.api_key_env = base_url, model, api_key_env


def _absolute_path(where: str, value: object, what: str) -> str:
    if not isinstance(value, str) or not os.path.isabs(value) or "\0" in value:
        raise ConfigError(f"{where} must be an absolute path to {what}")
    return value


def _load_browser(where: str, spec: dict[str, object], executor: ExecutorConfig) -> None:
    path, channel = spec.get("executable_path"), spec.get("channel")
    if (path is None) == (channel is None):
        raise ConfigError(
            f'{where}: set one of executable_path (like "/usr/bin/chromium") or channel (like "chrome"): '
            "the host's own browser"
        )
    if path is not None:
        executor.executable_path = _absolute_path(f"{where}.executable_path", path, "Chrome or Chromium")
    if channel is not None:
        if channel not in BROWSER_CHANNELS:
            raise ConfigError(f"{where}.channel must be one of {', '.join(BROWSER_CHANNELS)}")
        executor.channel = str(channel)
    headless = spec.get("headless")
    if headless is not None and not isinstance(headless, bool):
        raise ConfigError(f"{where}.headless must be true or false")
    executor.headless = headless
    if "profile_dir" in spec:
        executor.profile_dir = _absolute_path(f"{where}.profile_dir", spec["profile_dir"], "a folder")
    if "downloads_dir" in spec:
        executor.downloads_dir = _absolute_path(f"{where}.downloads_dir", spec["downloads_dir"], "a folder")
    sites = spec.get("allowed_sites")
    if sites is None:
        raise ConfigError(
            f'{where}.allowed_sites is required: the sites the browser may reach, like ["example.com", '
            '"*.example.com", "127.0.0.1:*"]'
        )
    sites = _string_list(f"{where}.allowed_sites", sites)
    if not 1 <= len(sites) <= MAX_SITES:
        raise ConfigError(f"{where}.allowed_sites must hold 1-{MAX_SITES} sites")
    for site in sites:
        try:
            SitePattern.parse(site)
        except SiteError as exc:
            raise ConfigError(f"{where}.allowed_sites: {exc}") from None
    executor.allowed_sites = sites
    step_timeout = spec.get("step_timeout")
    if step_timeout is not None:
        if type(step_timeout) not in (int, float) or not 1 <= step_timeout <= MAX_STEP_TIMEOUT:
            raise ConfigError(
                f"{where}.step_timeout must be a number of seconds between 1 and {MAX_STEP_TIMEOUT}"
            )
        executor.step_timeout = step_timeout
    limit = spec.get("screenshot_max_bytes")
    if limit is not None:
        if type(limit) is not int or not 1024 <= limit <= MAX_ARTIFACT:
            raise ConfigError(
                f"{where}.screenshot_max_bytes must be an integer between 1024 and {MAX_ARTIFACT}"
            )
        executor.screenshot_max_bytes = limit


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(value: str) -> str:
    """A TOML basic string. Other control characters (and DEL) become \\uXXXX."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dumps(config: Config) -> str:
    lines = [f"hub = {toml_string(config.hub)}"]
    if config.host_id is not None:
        lines.append(f"host_id = {int(config.host_id)}")
    lines.append(f"name = {toml_string(config.name)}")
    if config.token:
        lines.append(f"token = {toml_string(config.token)}")
    if config.projects:
        lines += ["", "[projects]"]
        lines += [f"{toml_string(name)} = {toml_string(folder)}" for name, folder in config.projects.items()]
    if config.tasks != TasksConfig():
        lines += ["", "[tasks]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in vars(config.tasks).items()]
    for name, executor in config.executors.items():
        lines += ["", f"[executors.{name}]"]
        for key, value in vars(executor).items():
            if value is not None and value != []:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # finite: the loader bounds every number
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


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
    ensure_dir(path.parent)
    # mkstemp creates the file 0600, so the token is never readable by others, even briefly.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(dumps(config))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
