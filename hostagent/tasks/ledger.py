"""The task ledger: task id -> state, on disk beside the outbox, so a task starts at most once ever.

States: `received` (acked or about to be; the assignment is kept to run it after
a restart), `running` (started: never started again), `finished` (ran, or was
refused) and `cancelled` (cancelled before it started). Every write commits.
The file is 0600: assignments hold prompts. It belongs to one host of one hub
(`owner`): opened for another, it starts empty, since task ids restart there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hostagent.sqlite import SqliteFile, connect_private

RECEIVED, RUNNING, FINISHED, CANCELLED = "received", "running", "finished", "cancelled"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, state TEXT NOT NULL, assignment TEXT, acked INTEGER NOT NULL DEFAULT 0
);
"""


class Ledger(SqliteFile):
    def __init__(self, path: Path | str, owner: str = ""):
        self.path = Path(path)
        self._db = connect_private(self.path)
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'owner'").fetchone()
        if row is None or row[0] != owner:
            self._db.execute("DELETE FROM tasks")
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
