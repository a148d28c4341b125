"""`ManageService`: the phone's requests to manage this host, as `host.manage`s through a HostLink
(docs/protocol.md, "Managing a host"): list the folders under the roots agent.toml names, share
one of them as a project, stop sharing a project, restart the agent.

Everything here comes from the network, so nothing is taken on trust:

- Nothing is done unless agent.toml says `[manage] allow = true` now (the file is read again for
  each request, so turning it off needs no restart), whatever the hub asks.
- A folder to share must be an absolute path without `..` that resolves (symlinks followed) to a
  folder inside one of the configured roots (a root may itself be a symlink: the host named it),
  outside the agent's own config folder, shared under no other name; the name must be a valid,
  unused project name. The folder list never follows a symlink and never leaves the roots.
- agent.toml is edited in place (hostagent.config.save: the user's comments stay), and the
  running agent applies the change through `reload`.
- Each request id runs at most once (the ledger: running, then done). One the ledger says was
  running when the agent stopped is answered STOPPED after the next welcome, never run again.

Restart: the result goes to the outbox first, then the link closes cleanly (1000) and
`restart_requested` tells the command line to run the agent again in the same process
(`reexec`: os.execv with the interpreter and the original arguments), after every task,
the mirror and the files were closed as at any stop. The service manager sees one process that
never exited; a terminal keeps its agent. The unacked result is resent after the new welcome.

Results go out with `link.send` on stream `manage`, built through protocol.manage.ManageResult.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, NoReturn

from hostagent import config
from hostagent.requests import HubRequests, Invalid
from protocol import limits
from protocol.text import CONTROL, unencodable

if TYPE_CHECKING:
    from hostagent.link import HostLink
    from hostagent.tasks.ledger import Ledger
    from protocol.manage import ManageRequest

log = logging.getLogger("hostagent.manage")

STREAM = "manage"
REQUEST_ID = re.compile(limits.MANAGE_REQUEST)
LIST_BUDGET = 3.0  # seconds the folder list may take; what is left is `truncated`
SKIPPED = frozenset({"node_modules", "__pycache__"})  # never a project, often huge

STOPPED = "the agent stopped while doing this: look at the host before trying again"
MANAGE_OFF = "this host does not let the hub manage it: its agent.toml needs [manage] allow = true"
NO_ROOTS = "this host names no folders to pick from: its agent.toml needs [manage] roots = [...]"
UNREADABLE = "the agent cannot read its config: {error}"
UNWRITABLE = "the agent cannot write its config: {error}"
NOT_ABSOLUTE = "a folder is an absolute path on the host"
DOT_DOT = "a folder must not contain .. segments"
NO_SUCH_FOLDER = "no such folder on this host: {path}"
NOT_A_FOLDER = "not a folder: {path}"
OUTSIDE = "{path} is not inside the folders this host lets the hub pick from"
CONFIG_FOLDER = "{path} holds the agent's own config and token: it is never shared"
ALREADY_SHARED = "{path} is shared already, as {name!r}"
NAME_TAKEN = "a project named {name!r} exists already"
BAD_NAME = "cannot name a project {name}: {error}"
TOO_MANY = f"at most {config.MAX_PROJECTS} projects can be shared"
NO_SUCH_PROJECT = "this host shares no project named {name!r}"


class Refused(Exception):
    """A request this host will not do, and why (sent back as the result's `error`)."""


def result_payload(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` as protocol.manage.ManageResult makes them. Raises ValueError for what the hub
    would refuse (a bug of ours). pydantic is imported on the first request, not at start."""
    from pydantic import ValidationError

    from protocol.base import payload, reason
    from protocol.manage import ManageResult

    try:
        return payload(ManageResult.model_validate(fields))
    except ValidationError as exc:
        raise ValueError(f"host.manage_result: {reason(exc)}") from None


class ManageService(HubRequests):
    kind, request_type, result_type, stream = "manage", "host.manage", "host.manage_result", STREAM
    request_id, stopped = REQUEST_ID, STOPPED

    def __init__(
        self,
        path: Path,
        ledger: Ledger,
        *,
        allowed: bool,
        reload: Callable[[], Awaitable[object]] | None = None,
    ):
        super().__init__(ledger)
        self.path = path  # agent.toml
        self.allowed = allowed  # what agent.toml said at start: `hello`'s capability
        self.reload = reload  # applies agent.toml to the running agent; None: its watcher does
        self.restart_requested = False
        self.lock = asyncio.Lock()  # one request at a time: agent.toml is edited by one

    def attach(self, link: HostLink) -> None:
        # Attached even when not allowed: a request then gets a clear refusal.
        link.extend({"host.manage": self.on_request}, after_welcome=self.on_welcome)
        self.link = link
        self.set_allowed(self.allowed)

    def set_allowed(self, allowed: bool) -> None:
        """Offer managing this host in `hello`, or stop offering it (a live edit of [manage])."""
        self.allowed = allowed
        if self.link is not None:
            self.link.offer("manage", allowed)

    async def stop(self) -> None:
        await self.idle()  # a request in hand is short: let it write agent.toml whole

    # Serving -----------------------------------------------------------------------------------

    def parse(self, message: dict[str, Any]) -> ManageRequest:
        from pydantic import ValidationError

        from protocol.base import reason
        from protocol.manage import ManageRequest

        try:
            return ManageRequest.model_validate(message)
        except ValidationError as exc:
            raise Invalid(reason(exc)) from None

    async def serve(self, request: ManageRequest) -> None:
        async with self.lock:
            if not self.ledger.request_start(self.kind, request.request):
                return
            log.info("manage %s (request %s)", request.action, request.request)
            try:
                fields = {"ok": True, **await asyncio.to_thread(self._do, request)}
            except Refused as exc:
                log.warning("refused manage %s: %s", request.action, exc)
                fields = {"ok": False, "error": str(exc)}
            if fields["ok"] and request.action in ("add_project", "remove_project") and self.reload:
                await self.reload()
            await self.answer(request.request, fields)
            if fields["ok"] and request.action == "restart":
                self.restart()

    def result_payload(self, fields: dict[str, Any]) -> dict[str, Any]:
        return result_payload(fields)

    def shrink(self, fields: dict[str, Any]) -> bool:
        """Only a folder list can be too large for a frame: halve it."""
        folders = fields.get("folders")
        if not folders:
            return False
        fields["folders"], fields["truncated"] = folders[: len(folders) // 2], True
        return True

    def _do(self, request: ManageRequest) -> dict[str, Any]:
        """The action, in a worker thread: the result's fields, or Refused."""
        cfg = self._config()
        if request.action == "folders":
            return folder_list(cfg, exclude=self.path.parent)
        if request.action == "add_project":
            assert request.path is not None and request.name is not None
            return self._add(cfg, request.path, request.name)
        if request.action == "remove_project":
            assert request.name is not None
            return self._remove(cfg, request.name)
        return {}  # restart: after the answer

    def _config(self) -> config.Config:
        """agent.toml as it says now; Refused unless it allows managing this host."""
        try:
            cfg = config.load(self.path)
        except config.ConfigError as exc:
            raise Refused(UNREADABLE.format(error=exc)) from None
        if cfg is None or not cfg.manage.allow:
            raise Refused(MANAGE_OFF)
        return cfg

    def _add(self, cfg: config.Config, raw: str, name: str) -> dict[str, Any]:
        error = config.project_name_error(name)
        if error is not None:
            raise Refused(BAD_NAME.format(name=ascii(name[:80]), error=error))
        if name in cfg.projects:
            raise Refused(NAME_TAKEN.format(name=name))
        if len(cfg.projects) >= config.MAX_PROJECTS:
            raise Refused(TOO_MANY)
        folder = checked_folder(raw, roots(cfg))
        if folder == _real(self.path.parent) or folder.is_relative_to(_real(self.path.parent)):
            raise Refused(CONFIG_FOLDER.format(path=folder))
        shared = shared_as(cfg)
        if str(folder) in shared:
            raise Refused(ALREADY_SHARED.format(path=folder, name=shared[str(folder)]))
        cfg.projects[name] = str(folder)
        self._save(cfg)
        log.info("now sharing %s as project %r", folder, name)
        return {"project": name, "path": str(folder)}

    def _remove(self, cfg: config.Config, name: str) -> dict[str, Any]:
        if name not in cfg.projects:
            raise Refused(NO_SUCH_PROJECT.format(name=name))
        folder = cfg.projects.pop(name)
        self._save(cfg)
        log.info("no longer sharing project %r (%s)", name, folder)
        return {"project": name}

    def _save(self, cfg: config.Config) -> None:
        try:
            config.save(self.path, cfg)
        except OSError as exc:
            raise Refused(UNWRITABLE.format(error=exc)) from None

    def restart(self) -> None:
        """Close the link cleanly; the command line then runs the agent again (reexec)."""
        log.info("restarting, as the hub asked")
        self.restart_requested = True
        if self.link is not None:
            self.link.request_close()


def reexec() -> NoReturn:
    """Run this agent again in this process, with the interpreter and arguments it started with
    (`python -m hostagent run ...` or the `codexhub-agent` script alike)."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *argv[1:]])  # noqa: S606 (its own argv, no shell)


# Folders --------------------------------------------------------------------------------------


def _real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def roots(cfg: config.Config) -> list[Path]:
    """The configured roots that exist, resolved (a root may be a symlink: the host named it)."""
    found = []
    for root in cfg.manage.roots:
        try:
            real = Path(os.path.expanduser(root)).resolve(strict=True)
        except (OSError, RuntimeError):
            log.warning("manage root %r does not exist", root)
            continue
        if real.is_dir() and real not in found:
            found.append(real)
    return found


def shared_as(cfg: config.Config) -> dict[str, str]:
    """Real path -> name of each shared project."""
    return {os.path.realpath(folder): name for name, folder in cfg.projects.items()}


def checked_folder(raw: str, allowed: list[Path]) -> Path:
    """The real folder `raw` names, if it is inside one of `allowed`. Raises Refused."""
    if not allowed:
        raise Refused(NO_ROOTS)
    if not os.path.isabs(raw) or CONTROL.search(raw) or unencodable(raw):
        raise Refused(NOT_ABSOLUTE)
    if ".." in PurePath(raw).parts or ".." in raw.replace("\\", "/").split("/"):
        raise Refused(DOT_DOT)
    shown = ascii(raw[:200])
    try:
        folder = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, a symlink loop
        raise Refused(NO_SUCH_FOLDER.format(path=shown)) from None
    if not folder.is_dir():
        raise Refused(NOT_A_FOLDER.format(path=shown))
    if not any(folder == root or folder.is_relative_to(root) for root in allowed):
        raise Refused(OUTSIDE.format(path=shown))
    return folder


@dataclass
class _Listing:
    folders: list[dict[str, Any]]
    deadline: float
    truncated: bool = False

    def full(self) -> bool:
        if len(self.folders) >= limits.MAX_MANAGE_FOLDERS or time.monotonic() > self.deadline:
            self.truncated = True
        return self.truncated


def folder_list(cfg: config.Config, *, exclude: Path) -> dict[str, Any]:
    """The folders under the roots, breadth first to MAX_MANAGE_DEPTH levels: each root and the
    folders below it, not below a git repository, never through a symlink, without hidden
    folders and the agent's config folder. Raises Refused when there are no roots."""
    allowed = roots(cfg)
    if not allowed:
        raise Refused(NO_ROOTS)
    shared = shared_as(cfg)
    listing = _Listing([], time.monotonic() + LIST_BUDGET)
    skip = _real(exclude)
    for root in allowed:
        queue: deque[tuple[Path, int]] = deque([(root, 0)])
        while queue and not listing.full():
            folder, depth = queue.popleft()
            is_git = os.path.lexists(folder / ".git")
            listing.folders.append(
                {"path": str(folder), "root": str(root), "git": is_git, "project": shared.get(str(folder))}
            )
            if not is_git and depth < limits.MAX_MANAGE_DEPTH:
                queue.extend((child, depth + 1) for child in _subfolders(folder, skip))
    return {
        "roots": [str(root) for root in allowed],
        "folders": listing.folders,
        "truncated": listing.truncated,
    }


def _subfolders(folder: Path, skip: Path) -> list[Path]:
    """The folders right in `folder` that can be listed, by name; symlinks are not followed."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if _listable(e) and Path(e.path) != skip]
    except OSError:
        return []
    return [folder / name for name in sorted(names, key=str.casefold)]


def _listable(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    if name.startswith(".") or name in SKIPPED or CONTROL.search(name) or unencodable(name):
        return False
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False
