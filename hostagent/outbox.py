"""The on-disk outbox: sequenced messages wait here until the hub acks them.

One SQLite file; every write commits, so a killed agent resends on its next
start and loses nothing. Sequence numbers are per stream, start at 1 and are
never handed out twice (`streams.last_seq` outlives the acked rows).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from hostagent.sqlite import connect_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
);
"""

Message = dict[str, Any]


class Outbox:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._db = connect_private(self.path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def append(self, stream: str, type: str, payload: dict[str, Any]) -> int:
        body = json.dumps(payload)
        db = self._transaction()
        try:
            (seq,) = db.execute(
                "INSERT INTO streams (stream, last_seq) VALUES (?, 1)"
                " ON CONFLICT (stream) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
                (stream,),
            ).fetchone()
            db.execute("INSERT INTO messages VALUES (?, ?, ?, ?)", (stream, seq, type, body))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return int(seq)

    def pending(self, stream: str | None = None) -> list[Message]:
        query = "SELECT stream, seq, type, payload FROM messages"
        args: tuple[str, ...] = ()
        if stream is not None:
            query += " WHERE stream = ?"
            args = (stream,)
        rows = self._db.execute(query + " ORDER BY stream, seq", args).fetchall()
        return [{"type": t, "stream": s, "seq": q, "payload": json.loads(p)} for s, q, t, p in rows]

    def ack(self, stream: str, seq: int) -> None:
        self._db.execute("DELETE FROM messages WHERE stream = ? AND seq <= ?", (stream, seq))

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def last_seq(self, stream: str) -> int:
        row = self._db.execute("SELECT last_seq FROM streams WHERE stream = ?", (stream,)).fetchone()
        return int(row[0]) if row else 0

    def advance(self, stream: str, seq: int) -> None:
        """Never hand out a seq at or below `seq` (the hub already applied it)."""
        self._db.execute(
            "INSERT INTO streams (stream, last_seq) VALUES (?, ?)"
            " ON CONFLICT (stream) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
            (stream, seq),
        )

    def renumber(self, stream: str, first: int) -> None:
        """Renumber the pending messages of `stream` from `first`, keeping their order.

        Only for a hub that lost messages it had acked (restored from a backup):
        it expects `first`, which no pending message carries, so resending as-is
        would be refused as a gap forever.
        """
        db = self._transaction()
        try:
            rows = db.execute(
                "SELECT seq, type, payload FROM messages WHERE stream = ? ORDER BY seq", (stream,)
            ).fetchall()
            db.execute("DELETE FROM messages WHERE stream = ?", (stream,))
            for offset, (_, type_, payload) in enumerate(rows):
                row = (stream, first + offset, type_, payload)
                db.execute("INSERT INTO messages VALUES (?, ?, ?, ?)", row)
            db.execute(
                "INSERT INTO streams (stream, last_seq) VALUES (?, ?)"
                " ON CONFLICT (stream) DO UPDATE SET last_seq = excluded.last_seq",
                (stream, first + len(rows) - 1),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def count_pending(path: Path) -> int:
    """Unsent messages in the outbox at `path`, without creating it."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0
    finally:
        db.close()
