"""The agent's SQLite files (outbox, mirror index, task ledger) may hold private
paths and payloads: each is created 0600 before SQLite opens it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Self


def connect_private(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    if str(path) != ":memory:":
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread)
    db.execute("PRAGMA journal_mode=DELETE")
    return db


class SqliteFile:
    """One of the agent's SQLite files, open in `_db`: `with` closes it on leaving."""

    _db: sqlite3.Connection

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
