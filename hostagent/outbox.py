"""The on-disk outbox: sequenced messages wait here until the hub acks them.

One SQLite file; every write commits, so a killed agent resends on its next
start and loses nothing. Sequence numbers are per stream, start at 1 and are
never handed out twice (`streams.last_seq` outlives the acked rows).

The file is in WAL mode: an append is one fsync of the log (synchronous=FULL),
where the rollback journal took three. Acks are written without an fsync of
their own (the next append's covers them): an ack lost to a power cut only
means a message resent, which the hub acks again as a duplicate.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from hostagent.sqlite import SqliteFile

log = logging.getLogger("hostagent.outbox")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
);
"""

Message = dict[str, Any]


def connect_wal(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Like hostagent.sqlite.connect_private (created 0600 before SQLite opens it; its
    -wal and -shm files get the same mode), but in WAL mode, which persists in the file.

    Never switched back and forth on open: changing the journal mode needs the file to
    itself, and `hostagent status` (or any reader) may have it open while the agent
    starts. If the switch cannot be made (a reader, or a file system without shared
    memory), the file stays in its mode, which is only slower."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread)
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    except sqlite3.OperationalError as exc:
        mode = f"unchanged ({exc})"
    if mode != "wal":
        log.info("%s: not in WAL mode: %s", path, mode)
    return db


class EncodedPayload(dict):  # type: ignore[type-arg]
    """A payload that carries its own JSON text (`json`), made once by whoever built it:
    the link sends that text as is instead of encoding the payload (up to 1 MiB
    of escaped file text) again. `stored` is what the outbox keeps instead, if
    not the same: the mirror keeps a reference to each file's text there, not the
    text (see hostagent.mirror.batches), and the link's `restorers` rebuild the
    payload before a resend."""

    __slots__ = ("json", "stored")

    def __init__(self, value: dict[str, Any], encoded: str, stored: str | None = None):
        super().__init__(value)
        self.json = encoded
        self.stored = encoded if stored is None else stored


def encode_payload(payload: dict[str, Any]) -> str:
    return payload.json if isinstance(payload, EncodedPayload) else json.dumps(payload)


def stored_payload(payload: dict[str, Any]) -> str:
    return payload.stored if isinstance(payload, EncodedPayload) else json.dumps(payload)


class Outbox(SqliteFile):
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._db = connect_wal(self.path)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def _transaction(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def append(self, stream: str, type: str, payload: dict[str, Any]) -> int:
        return self.append_json(stream, type, stored_payload(payload))

    def append_json(self, stream: str, type: str, body: str) -> int:
        """Append a payload given as its JSON text; returns its seq."""
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
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute("DELETE FROM messages WHERE stream = ? AND seq <= ?", (stream, seq))
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

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
