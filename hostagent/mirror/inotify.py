"""On Linux: watchdog's inotify observer, watching only the folders a scan enters.

watchdog's recursive watch adds an inotify watch for every folder under the
root, `.git` and ignored build folders included (2,892 watches for ruff's
2,876 folders; the usual limit is 8,192 per user), and its threads then parse
and drop every write in them. Here the watch group asks the project's
`Scanner.folders` which folders to watch, when it starts, when a folder is
created or moved in, and when ignore rules change (`refresh`): nothing under
an ignored folder, `.git` or the agent's own folder is watched, and walking a
new folder for the files already in it stops at the same places. Of `.git`
only `.git/info` is watched, for the exclude file.

It also keeps watchdog from warning "Callback with id ... already exists":
a folder created while its parent's watch was being added is watched twice
(once by the walk, once by its own creation event), which is harmless, but the
warning's text holds the repr of the whole watch group, every watched path
included (lines of 126 KB in the agent's log after a checkout).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyEmitter, InotifyWatchGroup
from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, InotifyFD, Mask

# Folders is "the absolute paths to watch for this folder and below it", empty if none.
Folders = Callable[[str], list[str]]

# Belt and braces: the message embeds the group's repr; the group below never causes it.
warnings.filterwarnings(
    "ignore", message=r"Callback with id .* (already exists|does not exist)", category=RuntimeWarning
)


@dataclass
class Pruner:
    """One project: its root and which folders to watch; `group` is set once the emitter runs."""

    root: str
    folders: Folders
    group: PrunedWatchGroup | None = None

    def paths(self, path: bytes) -> list[bytes]:
        root = os.fsencode(self.root)
        if path == root:
            rel = ""
        elif path.startswith(root + b"/"):
            rel = os.fsdecode(path[len(root) + 1 :])
        else:
            return []
        found = [os.fsencode(p) for p in self.folders(rel)]
        info = os.path.join(root, b".git", b"info")
        if rel == "" and os.path.isdir(info) and not os.path.islink(os.path.join(root, b".git")):
            found.append(info)  # the exclude file lives there
        return found


@dataclass
class PrunedWatchGroup(InotifyWatchGroup):
    pruner: Pruner | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.pruner is not None:
            self.pruner.group = self
        super().__post_init__()

    def _add_all_callbacks(self, path: bytes) -> None:
        if self.pruner is None or not self.is_recursive:
            super()._add_all_callbacks(path)
            return
        if path == self.path:
            self._add_callback(path)  # the root must be watched (a failure reaches the caller)
        for folder in self.pruner.paths(path):
            if folder != self.path:
                self._add_callback(folder)

    def _add_callback(self, path: bytes) -> None:
        """Watch `path`; a folder already watched by this group is simply kept (no warning)."""
        fd = self._inotify_fd
        try:
            with fd._lock:
                watch = fd._get_or_create_watch(path, self.event_mask)
                watch.callbacks[self._id] = self
            self._active_callbacks_by_path[path] = watch.wd
            self._active_callbacks_by_watch[watch.wd] = path
        except OSError:
            if path == self.path:
                raise

    def _recursive_simulate(self, src_path: bytes) -> list[InotifyEvent]:
        """Creation events for what a new folder already holds, through watched folders only."""
        events = []
        stack = [src_path]
        while stack:
            folder = stack.pop()
            wd = self._active_callbacks_by_path.get(folder)
            if wd is None:
                continue
            try:
                with os.scandir(folder) as it:
                    children = list(it)
            except OSError:
                continue
            for child in children:
                try:
                    is_dir = child.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                mask = Mask(InotifyConstants.IN_CREATE | (InotifyConstants.IN_ISDIR if is_dir else 0))
                events.append(InotifyEvent(wd, mask, 0, child.name))
                if is_dir:
                    stack.append(child.path)
        return events

    def refresh(self, path: bytes) -> None:
        """Ignore rules changed for `path` and below: watch what is now shared, drop what is not."""
        if self.pruner is None:
            return
        with self._lock:
            if not self.is_active:
                return
            want = set(self.pruner.paths(path))
            below = path + b"/"
            have = {p for p in self._active_callbacks_by_path if p == path or p.startswith(below)}
            if path == self.path:
                have.discard(self.path)
                want.discard(self.path)
            for folder in sorted(want - have):
                self._add_callback(folder)
            gone = [self._active_callbacks_by_path[p] for p in have - want]
            if gone:
                self._remove_callbacks(gone)


class PrunedEmitter(InotifyEmitter):
    def __init__(self, *args: Any, pruners: dict[str, Pruner], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pruners = pruners

    def on_thread_start(self) -> None:
        path = os.fsdecode(self.watch.path)
        self._inotify = PrunedWatchGroup(
            self._inotify_fd,
            os.fsencode(path),
            is_recursive=self.watch.is_recursive,
            event_mask=self.get_event_mask_from_filter(),
            follow_symlink=self.watch.follow_symlink,
            pruner=self.pruners.get(path),
        )


class PrunedObserver(BaseObserver):
    """An inotify observer whose recursive watches skip what `pruners[root]` says a scan skips."""

    def __init__(self) -> None:
        self.inotify_fd = InotifyFD()
        self.inotify_fd.start()
        self.pruners: dict[str, Pruner] = {}
        super().__init__(PrunedEmitter, inotify_fd=self.inotify_fd, pruners=self.pruners)

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self.inotify_fd.stop()
        self.inotify_fd.join()

    def watch_count(self) -> int:
        """How many inotify watches this observer holds (from /proc)."""
        fd = self.inotify_fd._inotify_fd
        with open(f"/proc/self/fdinfo/{fd}") as info:
            return sum(1 for line in info if line.startswith("inotify wd:"))
