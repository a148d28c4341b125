"""Text that is not UTF-8: a Latin-1 or Windows-1252 source file is text too.

charset-normalizer (the detector requests uses) names the encoding; the file
counts as text only when the detector is confident: the decoding reads as
language (little "chaos"), with no NUL and no control characters other than
tab, newlines and form feed. Anything else stays binary, as before."""

from __future__ import annotations

import re

from charset_normalizer import from_bytes

MAX_CHAOS = 0.1  # charset-normalizer's mess ratio, 0 (clean) to 1
# A short text fits several code pages equally well (no language to tell them apart):
# then the Western ones, the likeliest for source files, win.
PREFERRED = ("cp1252", "latin_1", "iso8859_15")
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def decode_text(data: bytes) -> str | None:
    """`data` as text when it is confidently text in some encoding, else None."""
    if not data or b"\0" in data:
        return None
    # UTF-16 and UTF-32 without a BOM are what any short run of bytes "is": not text here
    # (with a BOM, their ASCII has NULs and was refused above).
    matches = [m for m in from_bytes(data) if not m.encoding.startswith(("utf_16", "utf_32"))]
    if not matches or matches[0].chaos > MAX_CHAOS:
        return None
    best = matches[0]
    tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    for name in PREFERRED:
        if any(name in m.could_be_from_charset for m in tied):
            try:
                return _checked(data.decode(name))
            except UnicodeDecodeError:
                continue
    return _checked(str(best))


def _checked(text: str) -> str | None:
    if _CONTROL.search(text):
        return None
    return text
