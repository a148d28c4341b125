"""Scan vs index: what to upsert and what to delete."""

from __future__ import annotations

from dataclasses import dataclass, field

from hostagent.mirror.scan import Entry


@dataclass
class Diff:
    upserts: list[Entry] = field(default_factory=list)  # parents before children
    deletes: list[str] = field(default_factory=list)  # no path under another deleted path

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)


def compact_deletes(paths: set[str]) -> list[str]:
    """Drop the paths under another deleted path: the hub deletes a folder with everything under it."""
    kept: list[str] = []
    for path in sorted(paths):
        parts = path.split("/")
        if any("/".join(parts[:i]) in paths for i in range(1, len(parts))):
            continue
        kept.append(path)
    return kept


def diff(found: dict[str, Entry], indexed: dict[str, Entry]) -> Diff:
    """`found` from a scan, `indexed` from the index over the same scopes."""
    upserts = [
        entry
        for path, entry in sorted(found.items())
        if path not in indexed or indexed[path].key() != entry.key()
    ]
    return Diff(upserts=upserts, deletes=compact_deletes(set(indexed) - set(found)))


def snapshot(found: dict[str, Entry]) -> Diff:
    """Everything, for a batch series starting with `reset: true`."""
    return Diff(upserts=[entry for _, entry in sorted(found.items())])
