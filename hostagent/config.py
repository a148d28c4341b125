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

ENV_VAR = "CODEXHUB_AGENT_CONFIG"
OUTBOX_NAME = "outbox.sqlite3"
MIRROR_NAME = "mirror.sqlite3"
MAX_PROJECT_NAME = 64
MAX_PROJECTS = 200  # the hub refuses a longer mirror.projects list
# C0, DEL, C1 and the bidi controls (as the hub's accounts.validators.BIDI_CONTROLS).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class ConfigError(Exception):
    """The config file exists but cannot be read or has wrong values."""


@dataclass
class Config:
    hub: str = ""
    host_id: int | None = None
    name: str = ""
    token: str = ""
    # Shared folders (docs/protocol.md, "The mirror"): project name -> absolute path, in the order added.
    projects: dict[str, str] = field(default_factory=dict)

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
    return config


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
    return "\n".join(lines) + "\n"


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


def remove_mirror_index(path: Path) -> None:
    """Delete the mirror index beside the config: it records what one host's hub was sent."""
    _remove_sqlite(mirror_index_path(path))
