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


# Characters a reader cannot see, or that reorder what they see (bidi controls):
# Unicode's format characters (Cf), line and paragraph separators, and the
# invisible letters and fillers that are not Cf.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)


def invisible_marker(char: str) -> str:
    return f"⟨U+{ord(char):04X}⟩"


def path_visible(text: str) -> str:
    """The text with each invisible or bidi control character shown as ⟨U+202E⟩,
    for plain text (push notifications, the admin)."""
    return _INVISIBLE.sub(lambda match: invisible_marker(match.group()), text)


def invisible_spans(text: str) -> list[tuple[str, bool]]:
    """The text cut into (piece, is_invisible_character) runs, for HTML."""
    pieces, start = [], 0
    for match in _INVISIBLE.finditer(text):
        if match.start() > start:
            pieces.append((text[start : match.start()], False))
        pieces.append((match.group(), True))
        start = match.end()
    if start < len(text):
        pieces.append((text[start:], False))
    return pieces
