"""Making hub-supplied text safe to print on a terminal."""

import re

# C0 and C1 controls (with DEL), plus the bidi controls that can reorder what the
# user reads (Trojan Source, CVE-2021-42574): a hostile team name must not move
# the cursor, clear the screen or disguise itself.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object) -> str:
    return _UNSAFE.sub("", str(text))
