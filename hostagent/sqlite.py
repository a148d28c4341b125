"""The agent's SQLite files (outbox, mirror index, task ledger) may hold private
paths and payloads: each is created 0600 before SQLite opens it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def connect_private(path: Path, **options: object) -> sqlite3.Connection:
    if str(path) != ":memory:":
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    db = sqlite3.connect(path, isolation_level=None, **options)
    db.execute("PRAGMA journal_mode=DELETE")
    return db
