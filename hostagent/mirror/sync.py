"""`Mirror`: keeps the hub's copy of the shared projects in step, through a HostLink.

- After each `welcome` (once the link's own handler queued `hello` and resent
  the outbox) it sends `mirror.projects`, then, per project, the difference
  between a fresh scan and the index; a project the index does not know gets a
  full snapshot whose first batch says `reset: true`.
- Watch events re-scan only the touched paths and queue the difference.
- `mirror.resync` from the hub forgets the project's index and sends a snapshot.
- `set_projects` (a live edit of agent.toml, hostagent/liveconfig.py) stops
  watching a removed project and forgets its index, watches a new one and sends
  it as a snapshot, and tells the hub the new list; an unchanged project is left
  alone.

Scans and file reads run in worker threads; queueing (outbox, then index)
runs on the loop. One lock per project keeps a scan and its queueing from
interleaving with another's. Watch events that arrive before a project's first
sync wait for it, so no batch precedes the `mirror.projects` naming its project.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine, Iterable
from typing import Any

from hostagent.link import HostLink
from hostagent.mirror.batches import MAX_BATCH, BatchBuilder, restore_batch
from hostagent.mirror.diff import Diff, diff, snapshot
from hostagent.mirror.index import Index
from hostagent.mirror.scan import RootMissing, Scanner, Scope
from hostagent.mirror.watch import Watcher

log = logging.getLogger("hostagent.mirror")

STREAM = "mirror"


def normalize_scopes(scopes: Iterable[Scope]) -> list[Scope]:
    """Drop scopes already covered by a recursive scope of a parent (or the same path)."""
    recursive = {s.rel for s in scopes if s.recursive}
    if "" in recursive:
        return [Scope("")]
    kept = []
    for scope in sorted(set(scopes), key=lambda s: (s.rel, not s.recursive)):
        parts = scope.rel.split("/")
        ancestors = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if ancestors & recursive or (not scope.recursive and scope.rel in recursive):
            continue
        kept.append(scope)
    return kept


class _Project:
    def __init__(self, name: str, root: str, exclude: Iterable[str]):
        self.name = name
        self.root = root
        self.scanner = Scanner(root, exclude)
        self.lock = asyncio.Lock()
        self.synced = False  # a sync after a welcome has run in this process
        self.waiting: set[Scope] = set()


class Mirror:
    def __init__(
        self,
        projects: dict[str, str],
        index: Index,
        *,
        exclude: Iterable[str] = (),
        batch_limit: int = MAX_BATCH,
        watch: bool = True,
    ):
        self.exclude = list(exclude)
        self.projects = {name: _Project(name, root, self.exclude) for name, root in projects.items()}
        self.index = index
        self.batch_limit = batch_limit
        self.watch = watch
        self.link: Any = None  # a HostLink, or anything with `async send(stream, type, payload)`
        self.watcher: Watcher | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.index.forget_except(self.projects)

    # Wiring --------------------------------------------------------------------

    def attach(self, link: HostLink) -> None:
        """Hook into `link`: welcome starts a sync, and mirror.resync is handled."""
        link.extend({"mirror.resync": self.on_resync}, after_welcome=self.on_welcome)
        link.restorers[STREAM] = restore_batch  # the outbox keeps file text by reference
        link.offer("mirror", bool(self.projects))
        self.link = link

    async def start(self) -> None:
        """Start watching; call once the loop runs."""
        if self.watch and self.projects:
            await self._start_watcher()

    async def _start_watcher(self) -> None:
        roots = {name: p.scanner.root for name, p in self.projects.items()}
        folders = {name: p.scanner.folders for name, p in self.projects.items()}
        self.watcher = Watcher(roots, self.on_touched, folders=folders)
        await asyncio.to_thread(self.watcher.start_in, asyncio.get_running_loop())

    async def set_projects(self, projects: dict[str, str]) -> None:
        """Share `projects` (name -> folder) from now on. A project that is gone, or whose folder
        changed, stops being watched and its index is forgotten (adding it again sends a fresh
        snapshot); a new one is watched and sent whole. The hub hears `mirror.projects` only when
        the list differs; an unchanged project is neither rescanned nor sent. Before a welcome
        only the list changes: the welcome sends it and syncs."""
        listed = self._listing()
        gone = [name for name, project in self.projects.items() if projects.get(name) != project.root]
        for name in gone:
            project = self.projects.pop(name)
            if self.watcher is not None:
                self.watcher.forget_pending(name)
                await asyncio.to_thread(self.watcher.unwatch, name)
            async with project.lock:  # a sync in flight stops at its next batch
                self.index.forget(name)
        added = [name for name in projects if name not in self.projects]
        kept = self.projects
        self.projects = {
            name: kept[name] if name in kept else _Project(name, root, self.exclude)
            for name, root in projects.items()
        }
        if self.watch and added:
            if self.watcher is None:
                await self._start_watcher()
            else:
                for name in added:
                    project = self.projects[name]
                    await asyncio.to_thread(
                        self.watcher.watch, name, project.scanner.root, project.scanner.folders
                    )
        self.link.offer("mirror", bool(self.projects))
        if not self.link.welcomed:
            return
        if self._listing() != listed:
            await self.link.send(STREAM, "mirror.projects", {"projects": self._listing()})
        for name in added:
            self._spawn(self.sync_project(name))

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel_timers()
            await asyncio.to_thread(self.watcher.stop)
            self.watcher = None
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("mirror task failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until no sync is running (for tests and shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    # Hub messages ----------------------------------------------------------------

    def _listing(self) -> list[dict[str, Any]]:
        """The projects as `mirror.projects` lists them."""
        return [{"name": name, "git": _is_git_top(p.scanner.root)} for name, p in self.projects.items()]

    async def on_welcome(self) -> None:
        await self.link.send(STREAM, "mirror.projects", {"projects": self._listing()})
        self._spawn(self.sync_all())

    async def on_resync(self, message: dict[str, Any]) -> None:
        name = message.get("project")
        if not isinstance(name, str) or name not in self.projects:
            log.warning("ignoring mirror.resync for an unknown project: %s", ascii(name)[:100])
            return
        log.info("the hub asked for a full snapshot of %r", name)
        self._spawn(self.sync_project(name, reset=True))

    # Syncing ---------------------------------------------------------------------

    async def sync_all(self) -> None:
        for name in list(self.projects):
            await self.sync_project(name)

    async def sync_project(self, name: str, reset: bool = False) -> None:
        """Queue what differs between the project and the index (everything, with reset, if new)."""
        project = self.projects.get(name)
        if project is None:
            return  # no longer shared
        async with project.lock:
            if reset:
                self.index.forget(name)
            full = not self.index.known(name)
            try:
                work = await asyncio.to_thread(self._plan, project, [Scope("")], full)
            except RootMissing as exc:
                log.warning("not syncing project %r: %s", name, exc)
                return
            await self._queue(project, work, full)
            project.synced = True
        if project.waiting:
            await self.sync_touched(name)

    def on_touched(self, name: str, scopes: set[Scope]) -> None:
        """From the watcher, on the loop."""
        project = self.projects.get(name)
        if project is None:
            return
        project.waiting |= scopes
        if project.synced:
            self._spawn(self.sync_touched(name))

    async def sync_touched(self, name: str) -> None:
        project = self.projects.get(name)
        if project is None:
            return  # no longer shared
        async with project.lock:
            scopes = normalize_scopes(project.waiting)
            project.waiting = set()
            if not scopes:
                return
            try:
                work = await asyncio.to_thread(self._plan, project, scopes, False)
            except RootMissing as exc:
                log.warning("not syncing project %r: %s", name, exc)
                return
            await self._queue(project, work, False)

    def _plan(self, project: _Project, scopes: list[Scope], full: bool) -> Diff:
        """In a worker thread: scan, then compare with the index."""
        if full:  # the batches read (and hash) every file: the scan need not
            return snapshot(project.scanner.scan(scopes, hash_files=False).entries)
        result = project.scanner.scan(scopes)
        return diff(result.entries, self.index.rows(project.name, result.covered))

    async def _queue(self, project: _Project, work: Diff, reset: bool) -> int:
        """Queue `work` as batches; each goes to the outbox, then into the index. Returns the count.
        Stops early once the project is no longer shared."""
        name = project.name
        builder = BatchBuilder(name, work, reset=reset, limit=self.batch_limit)
        count = 0
        # The next batch is read while this one is appended (an fsync) and sent.
        building = asyncio.ensure_future(asyncio.to_thread(builder.next_batch))
        try:
            while True:
                payload = await building
                if payload is None or self.projects.get(name) is not project:
                    return count
                building = asyncio.ensure_future(asyncio.to_thread(builder.next_batch))
                await self.link.send(STREAM, "mirror.batch", payload)
                self.index.apply(name, payload["changes"], reset=payload["reset"])
                count += 1
        finally:
            if not building.done():
                building.cancel()  # the thread finishes its read; the batch is dropped


def _is_git_top(root: str) -> bool:
    """Whether `root` is the top of a git repository or worktree (`.git` a folder or a file)."""
    return os.path.lexists(os.path.join(root, ".git"))
