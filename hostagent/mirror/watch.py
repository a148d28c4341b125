"""Watching project folders: watchdog observers, events funnelled into the asyncio loop.

Observer threads only compute the touched path and hand it to the loop with
`call_soon_threadsafe`; the loop collects paths per project and flushes them
30 ms after the last event (at most 250 ms after the first), so a burst of
writes (an editor's save: temp file, write, rename) becomes one re-scan of the
touched paths, and a single save reaches the phone quickly.

On Linux, given each project's `Scanner.folders`, only the folders a scan
enters are watched (`inotify.PrunedObserver`): not `.git` (but `.git/info`),
not ignored folders. When a `.gitignore` or the exclude file changes, the
watches under its folder are brought in line before the re-scan is queued, so a
folder the change un-ignores is watched before it is scanned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from hostagent.mirror.paths import is_git_name
from hostagent.mirror.scan import Scope

if TYPE_CHECKING:
    from hostagent.mirror.inotify import Pruner

log = logging.getLogger("hostagent.mirror")

QUIET = 0.03
MAX_DELAY = 0.25
_IGNORED_EVENTS = {"opened", "closed_no_write"}
# Everything but opens and read-only closes, which are not even asked of inotify: the
# agent reads every file it sends, and a snapshot's 10,000 reads were 20,000 events
# for watchdog's threads to parse and drop (a fifth of the agent's CPU in a first sync).
_EVENTS = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileModifiedEvent,
    DirModifiedEvent,
    FileMovedEvent,
    DirMovedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileClosedEvent,
]

Flush = Callable[[str, set[Scope]], None]
Folders = Callable[[str], list[str]]  # Scanner.folders


def relative(path: str, root: str) -> str | None:
    """`path` relative to `root`, "/"-joined; None for the root itself or outside it."""
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return None
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        return None
    if os.sep != "/":
        rel = rel.replace(os.sep, "/")
    return rel


def scopes_for(event_type: str, is_directory: bool, rel: str) -> Scope | None:
    """What to re-scan for one event on `rel`, or None for events to ignore."""
    parts = rel.split("/")
    if any(is_git_name(part) for part in parts):
        # Inside .git only the exclude file matters to the mirror.
        if [p.casefold() for p in parts] == [".git", "info", "exclude"]:
            return Scope("")
        return None
    if parts[-1] == ".gitignore":  # the rules of that folder changed: re-scan all of it
        return Scope("/".join(parts[:-1]))
    if event_type == "modified" and is_directory:
        return Scope(rel, recursive=False)  # a child changed; the child has its own event
    return Scope(rel)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher, name: str, root: str):
        self.watcher = watcher
        self.name = name
        self.root = root

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _IGNORED_EVENTS:
            return
        touched = [(os.fsdecode(event.src_path), event.event_type)]
        if event.event_type == "moved":
            # The old path is gone (a recursive removal); the new one is like a creation.
            touched = [(touched[0][0], "deleted"), (os.fsdecode(event.dest_path), "created")]
        for path, kind in touched:
            rel = relative(path, self.root)
            if rel is None:
                continue
            scope = scopes_for(kind, event.is_directory, rel)
            if scope is not None:
                if rel == ".gitignore" or rel.endswith("/.gitignore") or scope == Scope(""):
                    self.watcher.refresh(self.name, scope.rel)  # before the re-scan: nothing is missed
                self.watcher.touch_threadsafe(self.name, scope)


class Watcher:
    def __init__(
        self,
        roots: dict[str, str],
        flush: Flush,
        quiet: float = QUIET,
        max_delay: float = MAX_DELAY,
        *,
        folders: Mapping[str, Folders] | None = None,
    ):
        self.roots = roots
        self.folders = dict(folders or {})
        self.pruners: dict[str, Pruner] = {}  # name -> inotify.Pruner, on Linux with `folders`
        self.flush = flush
        self.quiet = quiet
        self.max_delay = max_delay
        self.loop: asyncio.AbstractEventLoop | None = None
        self.observer: BaseObserver | None = None  # Observer is the platform's subclass
        self.watches: dict[str, tuple[ObservedWatch, _Handler]] = {}
        self._pending: dict[str, set[Scope]] = {}
        self._first: dict[str, float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.stopped = False

    def start_in(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the observer (adding watches walks the trees: call it in a worker thread).

        A root that cannot be watched (missing, inotify limit reached) is logged and
        skipped: its changes then travel at the next start or reconnect.
        """
        self.loop = loop
        observer: BaseObserver
        if self.folders and sys.platform.startswith("linux"):
            from hostagent.mirror.inotify import PrunedObserver

            observer = PrunedObserver()
        else:
            observer = Observer()
        observer.daemon = True
        observer.start()
        self.observer = observer
        for name, root in self.roots.items():
            self._schedule(name, root)

    def _schedule(self, name: str, root: str) -> None:
        assert self.observer is not None
        pruners = getattr(self.observer, "pruners", None)  # a PrunedObserver's (Linux only)
        if pruners is not None and name in self.folders:
            from hostagent.mirror.inotify import Pruner

            self.pruners[name] = pruners[root] = Pruner(root, self.folders[name])
        handler = _Handler(self, name, root)
        try:  # on a running observer, schedule starts the emitter: errors surface here
            watch = self.observer.schedule(handler, root, recursive=True, event_filter=_EVENTS)
            self.watches[name] = (watch, handler)
        except OSError as exc:
            log.warning("cannot watch project %r at %s: %s", name, ascii(root)[:300], exc)

    def watch(self, name: str, root: str, folders: Folders | None = None) -> None:
        """Watch one more project on the running observer (a worker thread: it walks the tree)."""
        self.roots[name] = root
        if folders is not None:
            self.folders[name] = folders
        if self.observer is not None:
            self._schedule(name, root)

    def unwatch(self, name: str) -> None:
        """Stop watching a project (a worker thread: the emitter thread is joined)."""
        root = self.roots.pop(name, None)
        self.folders.pop(name, None)
        self.pruners.pop(name, None)
        scheduled = self.watches.pop(name, None)
        if self.observer is None or scheduled is None:
            return
        watch, handler = scheduled
        if root in self.roots.values():  # another project shares the folder: keep its watch
            self.observer.remove_handler_for_watch(handler, watch)
            return
        try:
            self.observer.unschedule(watch)
        except (KeyError, OSError):  # its folder was already gone
            pass
        pruners = getattr(self.observer, "pruners", None)
        if pruners is not None:
            pruners.pop(root, None)

    def forget_pending(self, name: str) -> None:
        """Drop the project's changes not yet flushed (on the loop)."""
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._pending.pop(name, None)
        self._first.pop(name, None)

    def refresh(self, name: str, rel: str) -> None:
        """The ignore rules of folder `rel` changed: watch what is now shared (observer thread)."""
        pruner = self.pruners.get(name)
        if pruner is not None and pruner.group is not None:
            root = os.fsencode(pruner.root)
            pruner.group.refresh(root + b"/" + os.fsencode(rel) if rel else root)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the observer thread; call `cancel_timers` on the loop first."""
        self.stopped = True
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout)
            self.observer = None

    def cancel_timers(self) -> None:
        self.stopped = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()

    def touch_threadsafe(self, name: str, scope: Scope) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.touch, name, scope)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def touch(self, name: str, scope: Scope) -> None:
        if self.stopped or self.loop is None:
            return
        now = self.loop.time()
        pending = self._pending.setdefault(name, set())
        if not pending:
            self._first[name] = now
        pending.add(scope)
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        delay = max(0.0, min(self.quiet, self._first[name] + self.max_delay - now))
        self._timers[name] = self.loop.call_later(delay, self._flush, name)

    def _flush(self, name: str) -> None:
        self._timers.pop(name, None)
        scopes = self._pending.pop(name, set())
        if scopes:
            self.flush(name, scopes)
