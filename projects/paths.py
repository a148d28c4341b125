"""Paths from the network, checked before anything is read or written.

A mirror path is relative to its project root, POSIX, NFC, at most 4096 bytes
and 64 segments, with no empty, "." or ".." segment, no backslash, no control
character, and no absolute, drive-letter or UNC form (docs/protocol.md).
"""

import hashlib
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath

MAX_PATH_BYTES = 4096
MAX_SEGMENTS = 64


class InvalidPath(ValueError):
    pass


def mirror_path(raw: object) -> str:
    """The path, checked; raises InvalidPath saying what is wrong."""
    if not isinstance(raw, str) or not raw:
        raise InvalidPath("a path must be a non-empty string")
    try:
        size = len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidPath("a path must be valid UTF-8 (no lone surrogates)") from None
    if size > MAX_PATH_BYTES:
        raise InvalidPath(f"a path must be at most {MAX_PATH_BYTES} bytes")
    if unicodedata.normalize("NFC", raw) != raw:
        raise InvalidPath("a path must be in Unicode NFC")
    if any(unicodedata.category(char) == "Cc" for char in raw):
        raise InvalidPath("a path must not contain control characters")
    if "\\" in raw:
        raise InvalidPath("a path must use / only")
    if raw.startswith("/") or PureWindowsPath(raw).anchor or PurePosixPath(raw).is_absolute():
        raise InvalidPath("a path must be relative")
    segments = raw.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidPath(f"a path must have at most {MAX_SEGMENTS} segments")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidPath("a path must not have empty, '.' or '..' segments")
    return raw


def path_hash(path: str) -> str:
    """A fixed-size key: a 4096-byte path does not fit in a btree index row."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()
