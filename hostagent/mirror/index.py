"""The mirror index: per (project, path), what has been queued to the hub.

A SQLite file beside the outbox (`mirror.sqlite3`). It is updated right after
each batch is appended to the outbox, so after a crash between the two the
index is behind, never ahead: the next scan queues the same change again and
the hub applies it idempotently. `snapshots` holds the projects whose full
snapshot (with `reset: true`) has been queued.

Scans run in worker threads, so the connection is shared under a lock.

The file is in WAL mode and `apply` commits without an fsync (synchronous=NORMAL):
a power cut can only lose the last applies, leaving the index behind the
outbox (whose appends are synced), never ahead. `forget` is synced: it must be
on disk before the snapshot it precedes is appended to the outbox.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hostagent.mirror.scan import Entry
from hostagent.outbox import connect_wal
from hostagent.sqlite import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    project TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
    mtime REAL NOT NULL, hash TEXT NOT NULL, target_inside INTEGER,
    PRIMARY KEY (project, path)
);
CREATE TABLE IF NOT EXISTS snapshots (project TEXT PRIMARY KEY);
"""


_UPSERT = "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)"


def _under(path: str) -> tuple[str, str]:
    """Bounds of the paths strictly under `path` ("/" + 1 is "0" in byte order)."""
    return path + "/", path + "0"


class Index(SqliteFile):
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._db = connect_wal(self.path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def known(self, project: str) -> bool:
        """Whether a full snapshot of `project` was queued since the index was last cleared."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM snapshots WHERE project = ?", (project,)).fetchone()
        return row is not None

    def count(self, project: str) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT count(*) FROM entries WHERE project = ?", (project,)).fetchone()[0]
            )

    def rows(self, project: str, covered: Iterable[tuple[str, bool]]) -> dict[str, Entry]:
        """The indexed entries within `covered` ((path, recursive) pairs; "" is the whole project)."""
        query = "SELECT path, kind, size, mtime, hash, target_inside FROM entries WHERE project = ?"
        found: dict[str, Entry] = {}
        with self._lock:
            for path, recursive in covered:
                rows: Iterable[tuple[Any, ...]]
                if path == "":
                    rows = self._db.execute(query, (project,))
                else:
                    rows = self._db.execute(query + " AND path = ?", (project, path))
                    if recursive:
                        low, high = _under(path)
                        more = self._db.execute(query + " AND path >= ? AND path < ?", (project, low, high))
                        rows = [*rows, *more]
                for p, kind, size, mtime, hash_, inside in rows:
                    target = None if inside is None else bool(inside)
                    found[p] = Entry(p, "", kind, size=size, mtime=mtime, hash=hash_, target_inside=target)
        return found

    def apply(self, project: str, changes: list[dict[str, Any]], reset: bool = False) -> None:
        """Record a queued batch: `reset` first forgets the project's rows."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if reset:
                    db.execute("DELETE FROM entries WHERE project = ?", (project,))
                    db.execute("INSERT OR IGNORE INTO snapshots VALUES (?)", (project,))
                upserts: list[tuple[Any, ...]] = []  # a run of upserts goes in one executemany
                for change in changes:
                    path = change["path"]
                    if change["op"] == "delete":
                        db.executemany(_UPSERT, upserts)
                        upserts.clear()
                        low, high = _under(path)
                        db.execute(
                            "DELETE FROM entries"
                            " WHERE project = ? AND (path = ? OR (path >= ? AND path < ?))",
                            (project, path, low, high),
                        )
                        continue
                    inside = change.get("target_inside")
                    upserts.append(
                        (
                            project,
                            path,
                            change["kind"],
                            int(change.get("size") or 0),
                            float(change.get("mtime") or 0.0),
                            change.get("hash") or "",
                            None if inside is None else int(bool(inside)),
                        )
                    )
                db.executemany(_UPSERT, upserts)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def forget(self, project: str) -> None:
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM entries WHERE project = ?", (project,))
                self._db.execute("DELETE FROM snapshots WHERE project = ?", (project,))
                self._db.execute("COMMIT")
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def forget_except(self, projects: Iterable[str]) -> None:
        """Drop projects no longer shared, so adding one again sends a fresh snapshot."""
        keep = set(projects)
        with self._lock:
            names = {row[0] for row in self._db.execute("SELECT project FROM snapshots")}
            names |= {row[0] for row in self._db.execute("SELECT DISTINCT project FROM entries")}
        for name in names - keep:
            self.forget(name)
