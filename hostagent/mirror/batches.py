"""`mirror.batch` payloads of at most 1 MiB less 8 KiB of JSON (ASCII-escaped): a frame is at
most 1 MiB (daphne refuses more), and the envelope around the payload takes a hundred bytes.

A file's text is read when its batch is built, not during the scan, so a
snapshot of a large project never holds more than one batch of text. A file
whose escaped text alone cannot fit is sent as metadata with `too_large: true`.

The outbox does not keep the text a second time: its copy of a batch names,
for each file with text, the file to read it from (`text_from`, a local path)
beside the hash it had. `restore_batch` puts the text back before a resend if
the file still has that hash; if it has changed or gone, the resent change
carries metadata only, and the change itself is sent later in the stream (the
index still holds the old hash, so the watcher's re-scan, or the next start's,
finds the difference), so the hub ends up with what is on disk.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from hostagent.mirror.diff import Diff
from hostagent.mirror.safefile import read_file
from hostagent.mirror.scan import Entry
from hostagent.outbox import EncodedPayload
from protocol import limits

log = logging.getLogger("hostagent.mirror")

# Sized to the frame limit: half as many batches as at 512 KiB, so half the per-message
# costs on both sides (outbox commit, the hub's transaction, ack) for a snapshot.
MAX_BATCH = limits.MAX_BATCH
MAX_CHANGES = limits.SENT_MIRROR_CHANGES  # the hub takes up to limits.MAX_MIRROR_CHANGES
MAX_MTIME = limits.MAX_MTIME - 1  # the hub refuses mtimes outside [0, MAX_MTIME)
_SEPARATOR = len(", ")

Change = dict[str, Any]


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
    """Cuts a Diff into payloads. `next_batch()` reads files: call it in a worker thread.

    Each change is encoded once, to measure it, and the payload's JSON is put
    together from those pieces (an EncodedPayload): the link and the outbox
    send and store that text without encoding ~1 MiB of file text again."""

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
        self._held: tuple[Change, str, str] | None = None
        self._sent_any = False

    def _iter_changes(self, work: Diff) -> Iterator[tuple[Change, str]]:
        """Each change, with the local path its text was read from ("" if none)."""
        for path in work.deletes:
            yield {"op": "delete", "path": path}, ""
        for entry in work.upserts:
            change = upsert_change(entry)
            if change is not None:
                yield change, entry.fs_path if change.get("text") is not None else ""

    def _payload(self, changes: list[Change], encoded: list[str], stored: list[str]) -> EncodedPayload:
        reset = self.reset and not self._sent_any
        value = {"project": self.project, "reset": reset, "changes": changes}
        head = json.dumps({"project": self.project, "reset": reset})[:-1]
        return EncodedPayload(
            value,
            f'{head}, "changes": [{", ".join(encoded)}]}}',
            stored=f'{head}, "changes": [{", ".join(stored)}]}}',
        )

    def _next_change(self) -> tuple[Change, str, str] | None:
        """The next change, its JSON, and its JSON as the outbox keeps it."""
        if self._held is not None:
            held, self._held = self._held, None
            return held
        item = next(self._changes, None)
        if item is None:
            return None
        change, source = item
        text = json.dumps(change)
        return change, text, _stored(change, source) if source else text

    def next_batch(self) -> EncodedPayload | None:
        """The next payload, or None when done (a reset with nothing to send is still one batch)."""
        changes: list[Change] = []
        encoded: list[str] = []
        stored: list[str] = []
        size = len(self._payload([], [], []).json)
        while True:
            item = self._next_change()
            if item is None:
                break
            change, text, kept = item
            cost = len(text) + (_SEPARATOR if changes else 0)
            if size + cost > self.limit and change.get("text") is not None and not changes:
                change = metadata_only(change)  # its text alone does not fit in a batch
                text = kept = json.dumps(change)
                cost = len(text)
            if size + cost > self.limit or len(changes) >= self.max_changes:
                if not changes:  # cannot happen with protocol paths (4096 bytes, escaped x6)
                    raise ValueError(f"one change is larger than {self.limit} bytes")
                self._held = (change, text, kept)
                break
            changes.append(change)
            encoded.append(text)
            stored.append(kept)
            size += cost
        if not changes and (self._sent_any or not self.reset):
            return None
        payload = self._payload(changes, encoded, stored)
        self._sent_any = True
        return payload


TEXT_FROM = "text_from"  # only in the outbox's copy of a batch, never on the wire


def _stored(change: Change, source: str) -> str:
    return json.dumps({**change, "text": None, TEXT_FROM: source})


def restore_batch(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A batch as the outbox keeps it, made ready to resend: each file's text is read
    again, if the file still has the hash it was sent with (HostLink.restorers)."""
    changes = payload.get("changes") if type_ == "mirror.batch" else None
    if not isinstance(changes, list):
        return payload
    restored = []
    for change in changes:
        source = change.get(TEXT_FROM) if isinstance(change, dict) else None
        if not isinstance(source, str):
            restored.append(change)
            continue
        change = {k: v for k, v in change.items() if k != TEXT_FROM}
        data = read_file(source, None, keep_text=True)
        if data is not None and data.hash == change.get("hash") and data.text is not None:
            change["text"] = data.text
        else:
            log.info("resending %s without its text: changed since", ascii(change.get("path"))[:300])
            change = metadata_only(change)
        restored.append(change)
    return {**payload, "changes": restored}
