"""Protocol paths (docs/protocol.md, "Paths"; SECURITY.md 1.7): the rules are
the protocol's (protocol/paths.py), the same checker the hub refuses with.

The hub refuses a whole batch for one bad path, so the agent never builds one:
`protocol_path` returns None (and logs) for a file it must skip.
"""

from __future__ import annotations

import logging
import unicodedata

from protocol.paths import path_error

__all__ = ["is_git_name", "path_error", "protocol_path"]

log = logging.getLogger("hostagent.mirror")


def protocol_path(rel: str) -> str | None:
    """The protocol path for `rel` (a `/`-joined path relative to the root), or None (logged)."""
    if not isinstance(rel, str):
        log.warning("skipping a path that is not text: %r", rel)
        return None
    try:
        normal = unicodedata.normalize("NFC", rel)
    except UnicodeError:
        normal = rel
    error = path_error(normal)
    if error is not None:
        log.warning("skipping %s: %s", ascii(rel)[:300], error)
        return None
    return normal


def is_git_name(name: str) -> bool:
    """`.git` in any case: APFS and NTFS match names case-insensitively by default."""
    return name.casefold() == ".git"
