"""Protocol paths (docs/protocol.md, "Paths"; SECURITY.md 1.7).

A path is relative to its project root, POSIX (`/`), UTF-8 in NFC, at most
4096 bytes and 64 segments, with no empty, `.` or `..` segment, no backslash,
no control character, not absolute and without a drive letter or UNC prefix.
The hub refuses a whole batch for one bad path, so the agent never builds one:
`protocol_path` returns None (and logs) for a file it must skip.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import PureWindowsPath

log = logging.getLogger("hostagent.mirror")

MAX_PATH_BYTES = 4096
MAX_SEGMENTS = 64
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def path_error(path: str) -> str | None:
    """Why `path` (already NFC) is not a protocol path, or None."""
    if not path:
        return "empty path"
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: os.fsdecode of bytes that are not UTF-8
        return "not valid UTF-8"
    if size > MAX_PATH_BYTES:
        return f"longer than {MAX_PATH_BYTES} bytes"
    if _CONTROL.search(path):
        return "control character"
    if "\\" in path:
        return "backslash"
    if path.startswith("/"):
        return "absolute"
    if PureWindowsPath(path).anchor:
        return "drive letter or UNC prefix"
    segments = path.split("/")
    if len(segments) > MAX_SEGMENTS:
        return f"more than {MAX_SEGMENTS} segments"
    if any(segment in ("", ".", "..") for segment in segments):
        return "empty, . or .. segment"
    return None


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
