"""Live configuration: the running agent applies edits of its agent.toml without a restart.

`ConfigWatcher` watches the folder of agent.toml, not the file: editors and `project add`
(tomledit, through files.write_atomic) replace the file by renaming a new one over it, which
would end a watch on the file itself. Events on other names (the outbox, index and ledger
beside it) are dropped, and a burst of writes becomes one reload once the file has been quiet
for QUIET seconds.

`LiveConfig.reload` reads the file again and hands each service what changed:
- projects: the task, git and file services take the new list, and the mirror stops watching
  a removed project (the hub marks it removed) and sends a new one whole; an unchanged project
  is neither rescanned nor sent;
- executors (their tables and [tasks]): the task service offers the new ones and the hub hears
  them in a new `hello`; a task already accepted keeps the executor it was accepted with;
- [manage] allow: `hello` offers managing the host from the phone, or stops offering it;
- a file that does not parse or fails its checks is logged and changes nothing: the agent goes
  on with the config it has, and the next good edit applies;
- the pairing (hub, token, host id, name) and [tasks] concurrency wait for a restart, which the
  log says.
An edit that changes neither list (a comment, a key's place) sends nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from hostagent import config
from hostagent.config import Config

if TYPE_CHECKING:
    from hostagent.fileserve import FileServer
    from hostagent.git.service import GitService
    from hostagent.link import HostLink
    from hostagent.manage import ManageService
    from hostagent.mirror.sync import Mirror
    from hostagent.tasks.executors import Executor
    from hostagent.tasks.service import TaskService

log = logging.getLogger("hostagent.config")

QUIET = 0.15  # seconds without a write before the file is read again
MAX_DELAY = 1.0  # a file written to without pause is still read this often
PAIRING = ("hub", "token", "host_id", "name")
NOT_APPLIED = "%s; the agent goes on with the config it had (fix the file: the next good edit applies)"
RESTART_NEEDED = "%s changed in %s: restart the agent to use it (it goes on with the one it started with)"
# A save ends with a close after writing or a rename; other changes are a sqlite file beside it.
# macOS has no close events: there the writes themselves count.
_EVENTS = [FileCreatedEvent, FileMovedEvent, FileClosedEvent, FileDeletedEvent]
if not sys.platform.startswith("linux"):
    _EVENTS.append(FileModifiedEvent)


@dataclass
class Reload:
    """What one reload did."""

    error: str = ""  # why the file was not applied; "" if it was
    projects: bool = False  # the shared projects changed
    executors: bool = False  # the executors changed
    restart: list[str] = field(default_factory=list)  # changed settings that wait for a restart


def log_problems(executors: dict[str, Executor]) -> None:
    """What keeps each executor from working (a needed variable unset, no bubblewrap), logged."""
    from hostagent.tasks import environment

    for name, executor in executors.items():
        for problem in environment.problems(executor, environment.report(executor)):
            log.warning("executor %s: %s", name, problem)


class LiveConfig:
    """The running agent's config, and the services a new one is handed to.

    `reload()` may be called by anything that wrote agent.toml (the watcher calls it too);
    reloads run one at a time, and a reload of an unchanged file does nothing."""

    def __init__(
        self,
        path: Path,
        running: Config,
        *,
        link: HostLink,
        mirror: Mirror,
        tasks: TaskService,
        git: GitService,
        files: FileServer,
        manage: ManageService | None = None,
        which: Callable[[str], str | None] = shutil.which,
    ):
        self.path = path
        self.running = running  # as started: the pairing is never replaced
        self.current = running  # the last config applied
        self.link = link
        self.mirror = mirror
        self.tasks = tasks
        self.git = git
        self.files = files
        self.manage = manage
        self.which = which
        self.reloads = 0  # reloads that applied a changed file (for tests and the bench)
        self._lock = asyncio.Lock()
        self._told: dict[str, Any] = {}  # per setting that waits for a restart, the value already logged
        self.watcher: ConfigWatcher | None = None

    async def start(self) -> None:
        """Watch the file; call once the loop runs."""
        self.watcher = ConfigWatcher(self.path, self.reload)
        await asyncio.to_thread(self.watcher.start_in, asyncio.get_running_loop())

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel_timer()
            await asyncio.to_thread(self.watcher.stop)
            reloading = list(self.watcher.tasks)
            for task in reloading:
                task.cancel()
            await asyncio.gather(*reloading, return_exceptions=True)
            self.watcher = None

    async def reload(self) -> Reload:
        """Read agent.toml again and apply what changed (see the module's docstring)."""
        async with self._lock:
            try:
                new = await asyncio.to_thread(config.load, self.path)
            except config.ConfigError as exc:
                log.error(NOT_APPLIED, exc)
                return Reload(error=str(exc))
            if new is None:
                log.error(NOT_APPLIED, f"{self.path} is gone")
                return Reload(error=f"{self.path} is gone")
            return await self._apply(new)

    async def _apply(self, new: Config) -> Reload:
        from hostagent.tasks.executors import offered

        old = self.current
        done = Reload(restart=self._waiting_for_restart(new))
        if new.projects != old.projects:
            self._log_projects(old.projects, new.projects)
            self.tasks.set_projects(new.projects)
            self.git.set_projects(new.projects)
            self.files.set_projects(new.projects)
            await self.mirror.set_projects(new.projects)
            done.projects = True
        if (new.executors, new.tasks) != (old.executors, old.tasks):
            self.tasks.config = dataclasses.replace(new.tasks, concurrency=self.running.tasks.concurrency)
            before = self.tasks.executors
            await self.tasks.set_executors(offered(new, self.which))
            after = self.tasks.executors
            if after != before:
                self._log_executors(before, after)
                log_problems({name: after[name] for name in after if after[name] != before.get(name)})
                done.executors = True
        if self.manage is not None:
            self.manage.set_allowed(new.manage.allow)  # [manage] allow: hello's `manage`
        await self.link.send_hello_if_changed()
        self.current = new
        if done.projects or done.executors or done.restart:
            self.reloads += 1
        return done

    def _waiting_for_restart(self, new: Config) -> list[str]:
        """The settings that differ from those the agent started with, each logged once per value."""
        values = {key: getattr(new, key) for key in PAIRING}
        values["[tasks] concurrency"] = new.tasks.concurrency
        started = {key: getattr(self.running, key) for key in PAIRING}
        started["[tasks] concurrency"] = self.running.tasks.concurrency
        changed = [key for key in values if values[key] != started[key]]
        for key in changed:
            if self._told.get(key, started[key]) != values[key]:
                log.warning(RESTART_NEEDED, key, self.path)  # never the value: it may be the token
        self._told = {key: values[key] for key in changed}
        return changed

    def _log_projects(self, old: dict[str, str], new: dict[str, str]) -> None:
        for name in old:
            if name not in new:
                log.info("no longer sharing project %r", name)
            elif new[name] != old[name]:
                log.info("project %r is now %s", name, ascii(new[name])[:300])
        for name in new:
            if name not in old:
                log.info("sharing project %r: %s", name, ascii(new[name])[:300])

    def _log_executors(self, old: dict[str, Executor], new: dict[str, Executor]) -> None:
        for name in old:
            if name not in new:
                log.info("executor %s is no longer offered", name)
        for name in new:
            if name not in old:
                log.info("offering executor %s", name)
            elif new[name] != old[name]:
                log.info("executor %s changed (running tasks keep the old one)", name)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: ConfigWatcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path] + ([event.dest_path] if event.event_type == "moved" else [])
        if any(os.path.basename(os.fsdecode(path)) == self.watcher.name for path in paths):
            self.watcher.touch_threadsafe()


class ConfigWatcher:
    """Calls `changed()` (a coroutine function) on the loop once the file has settled after writes."""

    def __init__(
        self,
        path: Path,
        changed: Callable[[], Any],
        quiet: float = QUIET,
        max_delay: float = MAX_DELAY,
    ):
        self.folder = os.path.realpath(path.parent)
        self.name = path.name
        self.changed = changed
        self.quiet = quiet
        self.max_delay = max_delay
        self.loop: asyncio.AbstractEventLoop | None = None
        self.observer: BaseObserver | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._first = 0.0
        self.stopped = False

    def start_in(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the observer (in a worker thread). A folder that cannot be watched is logged:
        edits then wait for a restart."""
        self.loop = loop
        observer = Observer()
        observer.daemon = True
        observer.start()
        self.observer = observer
        try:
            observer.schedule(_Handler(self), self.folder, recursive=False, event_filter=_EVENTS)
        except OSError as exc:
            log.warning(
                "cannot watch %s for config edits (%s): they take effect at the next start", self.folder, exc
            )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the observer thread; call `cancel_timer` on the loop first."""
        self.stopped = True
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout)
            self.observer = None

    def cancel_timer(self) -> None:
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def touch_threadsafe(self) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.touch)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def touch(self) -> None:
        if self.stopped or self.loop is None:
            return
        now = self.loop.time()
        if self._timer is None:
            self._first = now
        else:
            self._timer.cancel()
        delay = max(0.0, min(self.quiet, self._first + self.max_delay - now))
        self._timer = self.loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.changed())
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("applying the config edit failed", exc_info=task.exception())
