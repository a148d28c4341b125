"""What a task changed in its project: a scan before, a scan after, compared by hash.

The scans are the mirror's (`Scanner`): `.git` and .gitignore'd files never
count, symlinks are recorded and not followed, folders are ignored. The
"before" snapshot keeps the text of text files (UTF-8, no NUL, at most 512 KiB,
32 MiB in all) so a modified file gets a unified diff; binary and large files
get `diff: null`. `compare_recorded` also gives, for every changed path, the
sha256 before and after and the bytes before when the snapshot kept them: what
the ledger keeps so a discard can put a working-copy task's files back. Both
calls block: run them in a worker thread.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hostagent.mirror.safefile import TEXT_LIMIT, read_file
from hostagent.mirror.scan import Entry, Scanner
from hostagent.tasks.ledger import Change
from protocol import limits

TEXT_BUDGET = 32 * 1024 * 1024
MAX_DIFF = limits.MAX_DIFF
MAX_CHANGES = limits.MAX_FILE_CHANGES
TRUNCATED = "... diff truncated\n"
NO_NEWLINE = "\\ No newline at end of file\n"

# What we know of one side of a file: ("absent" | "text" | "binary" | "large" | "link", text).
Side = tuple[str, str | None]


@dataclass
class Snapshot:
    root: str
    exclude: list[str]
    keys: dict[str, tuple[str, int, str, bool | None]] = field(default_factory=dict)
    sides: dict[str, Side] = field(default_factory=dict)


def _side(entry: Entry, budget: int | None) -> tuple[Side, int]:
    """The side of `entry` and the bytes of text it kept (against `budget`; None: no budget)."""
    if entry.kind == "symlink":
        return ("link", None), 0
    if entry.size > TEXT_LIMIT or (budget is not None and entry.size > budget):
        return ("large", None), 0
    data = read_file(entry.fs_path, None, keep_text=True)
    if data is None:  # gone or replaced since the scan
        return ("large", None), 0
    if data.binary:
        return ("binary", None), 0
    if data.text is None:  # grew past the limit since the scan
        return ("large", None), 0
    return ("text", data.text), data.size


def take_snapshot(root: str, exclude: Iterable[str] = ()) -> Snapshot:
    """Raises RootMissing if the project folder is gone."""
    snapshot = Snapshot(root, list(exclude))
    budget = TEXT_BUDGET
    for path, entry in sorted(Scanner(root, snapshot.exclude).scan().entries.items()):
        if entry.kind == "dir":
            continue
        snapshot.keys[path] = entry.key()
        side, used = _side(entry, budget)
        budget -= used
        snapshot.sides[path] = side
    return snapshot


def _lines(text: str) -> list[str]:
    # Not str.splitlines: it also splits on form feeds and other separators diff does not know.
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def unified_diff(path: str, old: str, new: str, limit: int = MAX_DIFF) -> str:
    """`a/<path>` -> `b/<path>`, at most `limit` UTF-8 bytes (cut with a last line saying so)."""
    out: list[str] = []
    size = 0
    room = limit - len(TRUNCATED)
    for line in difflib.unified_diff(_lines(old), _lines(new), f"a/{path}", f"b/{path}"):
        if not line.endswith("\n"):
            line += "\n" + NO_NEWLINE
        length = len(line.encode("utf-8"))
        if size + length > room:
            out.append(TRUNCATED)
            break
        out.append(line)
        size += length
    return "".join(out)


def _change(path: str, op: str, before: Side, after: Side) -> dict[str, Any]:
    kinds = {before[0], after[0]}
    change: dict[str, Any] = {"path": path, "op": op, "binary": "binary" in kinds, "too_large": False}
    if "binary" in kinds or "link" in kinds:
        change["diff"] = None
    elif "large" in kinds:
        change["too_large"] = True
        change["diff"] = None
    else:
        change["diff"] = unified_diff(path, before[1] or "", after[1] or "")
    return change


def compare(before: Snapshot) -> tuple[list[dict[str, Any]], int]:
    """Scan again: (the first MAX_CHANGES changes sorted by path, how many changes in all)."""
    changes, total, _ = compare_recorded(before)
    return changes, total


def compare_recorded(before: Snapshot) -> tuple[list[dict[str, Any]], int, list[Change]]:
    """Like `compare`, plus a record of every changed path whose before or after is a file."""
    entries = {
        path: entry
        for path, entry in Scanner(before.root, before.exclude).scan().entries.items()
        if entry.kind != "dir"
    }
    changed = sorted(
        path
        for path in set(before.keys) | set(entries)
        if before.keys.get(path) != (entries[path].key() if path in entries else None)
    )
    changes = []
    for path in changed[:MAX_CHANGES]:
        old = before.sides.get(path, ("absent", None))
        new: Side = ("absent", None)
        if path in entries:
            new, _ = _side(entries[path], None)
        op = "created" if path not in before.keys else "deleted" if path not in entries else "modified"
        changes.append(_change(path, op, old, new))
    records = [_record(before, path, entries.get(path)) for path in changed]
    return changes, len(changed), [r for r in records if r.before is not None or r.after is not None]


def _record(before: Snapshot, path: str, after: Entry | None) -> Change:
    key = before.keys.get(path)
    old_hash = key[2] if key is not None and key[0] == "file" else None
    new_hash = after.hash if after is not None and after.kind == "file" else None
    kept = None
    side = before.sides.get(path)
    if old_hash is not None and side is not None and side[0] == "text" and side[1] is not None:
        data = side[1].encode("utf-8", "surrogateescape")
        # A file in another encoding was decoded to text: its bytes are not these.
        kept = data if hashlib.sha256(data).hexdigest() == old_hash else None
    return Change(path, old_hash, new_hash, kept)
