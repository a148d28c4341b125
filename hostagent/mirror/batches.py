"""`mirror.batch` payloads of at most 512 KiB of JSON (as the outbox stores them, ASCII-escaped).

A file's text is read when its batch is built, not during the scan, so a
snapshot of a large project never holds more than one batch of text. A file
whose escaped text alone cannot fit is sent as metadata with `too_large: true`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from hostagent.mirror.diff import Diff
from hostagent.mirror.safefile import read_file
from hostagent.mirror.scan import Entry

log = logging.getLogger("hostagent.mirror")

MAX_BATCH = 512 * 1024
# Not in docs/protocol.md: the hub refuses batches of more than 5,000 changes (projects/services.py).
MAX_CHANGES = 1000
MAX_MTIME = 1e11 - 1  # the hub refuses mtimes outside [0, 1e11)
_SEPARATOR = len(", ")

Change = dict[str, Any]


def encoded_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=True))


def upsert_change(entry: Entry) -> Change | None:
    """The upsert for `entry`, with the file's current text; None if it is no longer a regular file."""
    if entry.kind == "dir":
        return {"op": "upsert", "path": entry.path, "kind": "dir"}
    if entry.kind == "symlink":
        return {
            "op": "upsert",
            "path": entry.path,
            "kind": "symlink",
            "target_inside": bool(entry.target_inside),
        }
    data = read_file(entry.fs_path, None, keep_text=True)
    if data is None:
        log.info("skipping %s: changed or gone while being read", ascii(entry.path)[:300])
        return None
    return {
        "op": "upsert",
        "path": entry.path,
        "kind": "file",
        "size": data.size,
        "mtime": min(max(data.mtime, 0.0), MAX_MTIME),
        "hash": data.hash,
        "text": data.text,
        "binary": data.binary,
        **({} if data.binary or data.text is not None else {"too_large": True}),
    }


def metadata_only(change: Change) -> Change:
    return {**change, "text": None, "binary": False, "too_large": True}


class BatchBuilder:
    """Cuts a Diff into payloads. `next_batch()` reads files: call it in a worker thread."""

    def __init__(
        self,
        project: str,
        work: Diff,
        reset: bool = False,
        limit: int = MAX_BATCH,
        max_changes: int = MAX_CHANGES,
    ):
        self.project = project
        self.reset = reset
        self.limit = limit
        self.max_changes = max_changes
        self._changes = self._iter_changes(work)
        self._held: Change | None = None
        self._sent_any = False

    def _iter_changes(self, work: Diff) -> Iterator[Change]:
        for path in work.deletes:
            yield {"op": "delete", "path": path}
        for entry in work.upserts:
            change = upsert_change(entry)
            if change is not None:
                yield change

    def _payload(self, changes: list[Change]) -> dict[str, Any]:
        return {"project": self.project, "reset": self.reset and not self._sent_any, "changes": changes}

    def next_batch(self) -> dict[str, Any] | None:
        """The next payload, or None when done (a reset with nothing to send is still one batch)."""
        changes: list[Change] = []
        size = encoded_size(self._payload([]))
        while True:
            change = self._held if self._held is not None else next(self._changes, None)
            self._held = None
            if change is None:
                break
            cost = encoded_size(change) + (_SEPARATOR if changes else 0)
            if size + cost > self.limit and change.get("text") is not None and not changes:
                change = metadata_only(change)  # its text alone does not fit in a batch
                cost = encoded_size(change)
            if size + cost > self.limit or len(changes) >= self.max_changes:
                if not changes:  # cannot happen with protocol paths (4096 bytes, escaped x6)
                    raise ValueError(f"one change is larger than {self.limit} bytes")
                self._held = change
                break
            changes.append(change)
            size += cost
        if not changes and (self._sent_any or not self.reset):
            return None
        payload = self._payload(changes)
        self._sent_any = True
        return payload
