"""Mirror paths (docs/protocol.md, "Paths"): the one checker, for the hub that
refuses them and the agent that never builds one the hub would refuse.

A mirror path is relative to its project root, POSIX, NFC, at most 4096 bytes
and 64 segments, with no empty, "." or ".." segment, no backslash, no control
character, and no absolute, drive-letter or UNC form.
"""

import hashlib
import re
import unicodedata
from pathlib import PureWindowsPath

from protocol.limits import MAX_PATH_BYTES, MAX_SEGMENTS

# Unicode category Cc is exactly these code points: C0, DEL and C1.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BAD_SEGMENTS = frozenset(("", ".", ".."))

NOT_TEXT = "a path must be a non-empty string"
NOT_UTF8 = "a path must be valid UTF-8 (no lone surrogates)"
TOO_LONG = f"a path must be at most {MAX_PATH_BYTES} bytes"
NOT_NFC = "a path must be in Unicode NFC"
CONTROL = "a path must not contain control characters"
BACKSLASH = "a path must use / only"
NOT_RELATIVE = "a path must be relative"
TOO_DEEP = f"a path must have at most {MAX_SEGMENTS} segments"
BAD_SEGMENT = "a path must not have empty, '.' or '..' segments"


class InvalidPath(ValueError):
    pass


def mirror_path(raw: object) -> str:
    """The path, checked; raises InvalidPath saying what is wrong.

    A snapshot checks tens of thousands of paths in a row, so the common case
    is kept cheap (ASCII is always NFC; one regex for control characters; the
    Windows parser only for a path that could carry a drive letter), with
    exactly the same verdicts as the plain checks (tests/projects/test_paths.py)."""
    if not isinstance(raw, str) or not raw:
        raise InvalidPath(NOT_TEXT)
    if raw.isascii():
        size = len(raw)
    else:
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidPath(NOT_UTF8) from None
    if size > MAX_PATH_BYTES:
        raise InvalidPath(TOO_LONG)
    if not raw.isascii() and not unicodedata.is_normalized("NFC", raw):
        raise InvalidPath(NOT_NFC)
    if _CONTROL.search(raw):
        raise InvalidPath(CONTROL)
    if "\\" in raw:
        raise InvalidPath(BACKSLASH)
    # Without a backslash or a leading "/", only "X:" at the start makes a Windows anchor.
    if raw.startswith("/") or (raw[1:2] == ":" and PureWindowsPath(raw).anchor):
        raise InvalidPath(NOT_RELATIVE)
    segments = raw.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidPath(TOO_DEEP)
    if not _BAD_SEGMENTS.isdisjoint(segments):
        raise InvalidPath(BAD_SEGMENT)
    return raw


def path_error(raw: object) -> str | None:
    """Why `raw` is not a mirror path, or None."""
    try:
        mirror_path(raw)
    except InvalidPath as exc:
        return str(exc)
    return None


def path_hash(path: str) -> str:
    """A fixed-size key: a 4096-byte path does not fit in a btree index row."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()
