"""Paths on the hub's pages. The rules for paths from the network are the
protocol's (protocol/paths.py), re-exported here; what is left is showing
them: invisible and bidi control characters made visible.
"""

import re

from protocol.paths import InvalidPath, mirror_path, path_hash

__all__ = ["InvalidPath", "invisible_marker", "invisible_spans", "mirror_path", "path_hash", "path_visible"]

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
