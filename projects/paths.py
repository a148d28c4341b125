"""Paths from the network, checked before anything is read or written.

A mirror path is relative to its project root, POSIX, NFC, at most 4096 bytes
and 64 segments, with no empty, "." or ".." segment, no backslash, no control
character, and no absolute, drive-letter or UNC form (docs/protocol.md).
"""

import hashlib
import re
import unicodedata
from pathlib import PureWindowsPath

MAX_PATH_BYTES = 4096
MAX_SEGMENTS = 64
# Unicode category Cc is exactly these code points: C0, DEL and C1.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BAD_SEGMENTS = frozenset(("", ".", ".."))


class InvalidPath(ValueError):
    pass


def mirror_path(raw: object) -> str:
    """The path, checked; raises InvalidPath saying what is wrong.

    A snapshot checks tens of thousands of paths in a row, so the common case
    is kept cheap (ASCII is always NFC; one regex for control characters; the
    Windows parser only for a path that could carry a drive letter), with
    exactly the same verdicts as the plain checks."""
    if not isinstance(raw, str) or not raw:
        raise InvalidPath("a path must be a non-empty string")
    if raw.isascii():
        size = len(raw)
    else:
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidPath("a path must be valid UTF-8 (no lone surrogates)") from None
    if size > MAX_PATH_BYTES:
        raise InvalidPath(f"a path must be at most {MAX_PATH_BYTES} bytes")
    if not raw.isascii() and not unicodedata.is_normalized("NFC", raw):
        raise InvalidPath("a path must be in Unicode NFC")
    if _CONTROL.search(raw):
        raise InvalidPath("a path must not contain control characters")
    if "\\" in raw:
        raise InvalidPath("a path must use / only")
    # Without a backslash or a leading "/", only "X:" at the start makes a Windows anchor.
    if raw.startswith("/") or (raw[1:2] == ":" and PureWindowsPath(raw).anchor):
        raise InvalidPath("a path must be relative")
    segments = raw.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidPath(f"a path must have at most {MAX_SEGMENTS} segments")
    if not _BAD_SEGMENTS.isdisjoint(segments):
        raise InvalidPath("a path must not have empty, '.' or '..' segments")
    return raw


def path_hash(path: str) -> str:
    """A fixed-size key: a 4096-byte path does not fit in a btree index row."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()
