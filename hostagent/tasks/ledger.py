"""The task ledger: task id -> state, on disk beside the outbox, so a task starts at most once ever.

States: `received` (acked or about to be; the assignment is kept to run it after
a restart), `running` (started: never started again), `finished` (ran, or was
refused) and `cancelled` (cancelled before it started). Every write commits.
The file is 0600: assignments hold prompts, and the text a working-copy task's
files had before it. It belongs to one host of one hub (`owner`): opened for
another, it starts empty, since task ids restart there.

Besides the tasks (docs/protocol.md, "Git"):

- `workspaces`: where each started task ran: the working copy, or a worktree
  (its branch, base and base commit; a continuation names the task whose
  worktree it used).
- `changes`: per working-copy task and changed path, the sha256 of the file
  before and after the task (null: absent) and its bytes before when the
  snapshot kept them: what a discard puts back. Kept for the last
  KEPT_CHANGES working-copy tasks; past KEPT_TEXT bytes of text in all, the
  older tasks' text goes (a discard then takes the bytes from git, if it has
  them, or names the files it cannot restore).
- `git_requests`: git request id -> `running` | `done`, so each runs at most once.
- `manage_requests`: the same for the phone's `host.manage` requests (hostagent/manage.py).

`meta.schema` is the layout's version; a ledger written before it had one
(the tasks table only) gains the new tables when opened.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostagent.sqlite import SqliteFile, connect_private

RECEIVED, RUNNING, FINISHED, CANCELLED = "received", "running", "finished", "cancelled"
WORKING_COPY, WORKTREE = "working_copy", "worktree"
REQUEST_RUNNING, REQUEST_DONE = "running", "done"
REQUEST_TABLES = {"git": "git_requests", "manage": "manage_requests"}  # by kind: never from input
SCHEMA = 3
KEPT_CHANGES = 200  # working-copy tasks whose changes a discard can still put back
KEPT_TEXT = 64 * 1024 * 1024  # bytes of earlier file text kept in all, newest tasks first

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, state TEXT NOT NULL, assignment TEXT, acked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS workspaces (
    task_id INTEGER PRIMARY KEY, project TEXT NOT NULL, kind TEXT NOT NULL, worktree_of INTEGER,
    branch TEXT, base TEXT, base_commit TEXT, merged_into TEXT,
    recorded INTEGER NOT NULL DEFAULT 0, discarded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS changes (
    task_id INTEGER NOT NULL, path TEXT NOT NULL, before TEXT, after TEXT, before_bytes BLOB,
    PRIMARY KEY (task_id, path)
);
CREATE TABLE IF NOT EXISTS git_requests (request TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS manage_requests (request TEXT PRIMARY KEY, state TEXT NOT NULL);
"""

_TABLES = ("tasks", "workspaces", "changes", "git_requests", "manage_requests")
# Only the last KEPT_CHANGES recorded working-copy tasks keep their changes.
_FORGET_RECORDED = """
UPDATE workspaces SET recorded = 0 WHERE kind = ? AND recorded = 1 AND task_id NOT IN (
    SELECT task_id FROM workspaces WHERE kind = ? AND recorded = 1 ORDER BY task_id DESC LIMIT ?
)"""
_FORGET_CHANGES = (
    "DELETE FROM changes WHERE task_id NOT IN (SELECT task_id FROM workspaces WHERE recorded = 1)"
)


@dataclass(frozen=True)
class Workspace:
    """Where a task ran (a row of `workspaces`)."""

    task_id: int
    project: str
    kind: str  # WORKING_COPY or WORKTREE
    worktree_of: int | None = None  # a continuation: the task whose worktree it ran in
    branch: str | None = None
    base: str | None = None
    base_commit: str | None = None
    merged_into: str | None = None
    recorded: bool = False  # a working-copy task: the ledger holds what it changed
    discarded: bool = False

    @property
    def worktree_task(self) -> int:
        """The task whose worktree this one ran in: itself, or the one it continued."""
        return self.worktree_of or self.task_id


@dataclass(frozen=True)
class Change:
    """One path a working-copy task changed: sha256 hex before and after (None: absent)."""

    path: str
    before: str | None
    after: str | None
    before_bytes: bytes | None = None


class Ledger(SqliteFile):
    def __init__(self, path: Path | str, owner: str = ""):
        self.path = Path(path)
        self._db = connect_private(self.path)
        self._db.executescript(_SCHEMA)  # an older file gains the tables it lacks
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        row = self._db.execute("SELECT value FROM meta WHERE key = 'owner'").fetchone()
        if row is None or row[0] != owner:
            for table in _TABLES:
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('owner', ?)", (owner,))

    def state(self, task_id: int) -> str | None:
        row = self._db.execute("SELECT state FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return row[0] if row else None

    def add(self, task_id: int, state: str, assignment: dict[str, Any] | None = None) -> bool:
        """Record a task the ledger does not know; False if it knows it (a duplicate)."""
        body = json.dumps(assignment) if assignment is not None else None
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO tasks (id, state, assignment) VALUES (?, ?, ?)", (task_id, state, body)
        )
        return cursor.rowcount == 1

    def mark_acked(self, task_id: int) -> None:
        """`task.received` is in the outbox."""
        self._db.execute("UPDATE tasks SET acked = 1 WHERE id = ?", (task_id,))

    def start(self, task_id: int) -> bool:
        """`received` -> `running`; False if the task is in any other state (never start twice)."""
        cursor = self._db.execute(
            "UPDATE tasks SET state = ? WHERE id = ? AND state = ?", (RUNNING, task_id, RECEIVED)
        )
        return cursor.rowcount == 1

    def end(self, task_id: int, state: str) -> None:
        """`finished` or `cancelled`, forgetting the assignment (its prompt)."""
        self._db.execute("UPDATE tasks SET state = ?, assignment = NULL WHERE id = ?", (state, task_id))

    def entries(self, state: str) -> list[tuple[int, dict[str, Any] | None, bool]]:
        """(id, assignment, acked) of the tasks in `state`, oldest id first."""
        rows = self._db.execute(
            "SELECT id, assignment, acked FROM tasks WHERE state = ? ORDER BY id", (state,)
        ).fetchall()
        return [(i, json.loads(a) if a is not None else None, bool(acked)) for i, a, acked in rows]

    # Workspaces and what working-copy tasks changed ------------------------------------------

    def set_workspace(self, workspace: Workspace) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO workspaces VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                workspace.task_id,
                workspace.project,
                workspace.kind,
                workspace.worktree_of,
                workspace.branch,
                workspace.base,
                workspace.base_commit,
                workspace.merged_into,
                int(workspace.recorded),
                int(workspace.discarded),
            ),
        )

    def workspace(self, task_id: int) -> Workspace | None:
        row = self._db.execute("SELECT * FROM workspaces WHERE task_id = ?", (task_id,)).fetchone()
        if row is None:
            return None
        task, project, kind, worktree_of, branch, base, base_commit, merged_into, recorded, discarded = row
        return Workspace(
            task,
            project,
            kind,
            worktree_of,
            branch,
            base,
            base_commit,
            merged_into,
            bool(recorded),
            bool(discarded),
        )

    def mark_merged(self, task_id: int, into: str) -> None:
        self._db.execute("UPDATE workspaces SET merged_into = ? WHERE task_id = ?", (into, task_id))

    def mark_discarded(self, task_id: int) -> None:
        """A discarded working-copy task's record is dropped: there is nothing left to put back."""
        self._db.execute("UPDATE workspaces SET discarded = 1 WHERE task_id = ?", (task_id,))
        self._db.execute("DELETE FROM changes WHERE task_id = ?", (task_id,))

    def record_changes(self, task_id: int, changes: Iterable[Change]) -> None:
        """What working-copy task `task_id` changed; the records of all but the last KEPT_CHANGES
        working-copy tasks are dropped."""
        self._db.execute("BEGIN")
        try:
            self._db.execute("DELETE FROM changes WHERE task_id = ?", (task_id,))
            self._db.executemany(
                "INSERT INTO changes VALUES (?, ?, ?, ?, ?)",
                ((task_id, c.path, c.before, c.after, c.before_bytes) for c in changes),
            )
            self._db.execute("UPDATE workspaces SET recorded = 1 WHERE task_id = ?", (task_id,))
            self._db.execute(_FORGET_RECORDED, (WORKING_COPY, WORKING_COPY, KEPT_CHANGES))
            self._db.execute(_FORGET_CHANGES)
            self._forget_old_text(task_id)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _forget_old_text(self, task_id: int) -> None:
        sizes = self._db.execute(
            "SELECT task_id, SUM(LENGTH(before_bytes)) FROM changes WHERE before_bytes IS NOT NULL"
            " GROUP BY task_id ORDER BY task_id = ? DESC, task_id DESC",
            (task_id,),
        ).fetchall()
        total = 0
        for older, size in sizes:
            total += size
            if total > KEPT_TEXT and older != task_id:
                self._db.execute("UPDATE changes SET before_bytes = NULL WHERE task_id = ?", (older,))

    def changes(self, task_id: int) -> list[Change]:
        rows = self._db.execute(
            "SELECT path, before, after, before_bytes FROM changes WHERE task_id = ? ORDER BY path",
            (task_id,),
        ).fetchall()
        return [Change(*row) for row in rows]

    # Requests from the hub (hostagent.requests): git's, and those managing the host -------------

    # The table names below come from REQUEST_TABLES, never from input (hence the noqa: S608).

    def request_state(self, kind: str, request: str) -> str | None:
        sql = f"SELECT state FROM {REQUEST_TABLES[kind]} WHERE request = ?"  # noqa: S608
        row = self._db.execute(sql, (request,)).fetchone()
        return row[0] if row else None

    def request_start(self, kind: str, request: str) -> bool:
        """Record `request` as running; False if the ledger knows it (never run twice)."""
        sql = f"INSERT OR IGNORE INTO {REQUEST_TABLES[kind]} VALUES (?, ?)"  # noqa: S608
        return self._db.execute(sql, (request, REQUEST_RUNNING)).rowcount == 1

    def request_done(self, kind: str, request: str) -> None:
        sql = f"INSERT OR REPLACE INTO {REQUEST_TABLES[kind]} VALUES (?, ?)"  # noqa: S608
        self._db.execute(sql, (request, REQUEST_DONE))

    def requests_running(self, kind: str) -> list[str]:
        sql = f"SELECT request FROM {REQUEST_TABLES[kind]} WHERE state = ? ORDER BY request"  # noqa: S608
        return [row[0] for row in self._db.execute(sql, (REQUEST_RUNNING,)).fetchall()]


def known_tasks(path: Path) -> set[int]:
    """The task ids the ledger at `path` knows, read without changing it (empty if it is absent)."""
    if not path.exists():
        return set()
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        ids = {row[0] for row in db.execute("SELECT id FROM tasks")}
        try:
            ids |= {row[0] for row in db.execute("SELECT task_id FROM workspaces")}
        except sqlite3.OperationalError:  # a ledger from before workspaces
            pass
        return ids
    except sqlite3.DatabaseError:
        return set()
    finally:
        db.close()
