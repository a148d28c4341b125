"""Text rules without pydantic (the agent checks with them at start): what
Postgres text cannot hold, and the control characters a name must not have."""

import re

# C0, DEL and C1 controls, and the bidi marks, embeddings, overrides and isolates
# (as accounts.validators.BIDI_CONTROLS): they can disguise a name (U+202E turns
# "exe.txt" around).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")


def clean(text: str) -> str:
    """Text Postgres can store: NUL as U+FFFD, lone surrogates as "?"."""
    if text.isascii():  # a flag CPython keeps: no surrogate, only NUL to look for
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def unencodable(text: str) -> bool:
    """Whether `text` holds a lone surrogate (which UTF-8, and so Postgres, cannot hold)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def has_control_characters(text: str) -> bool:
    return CONTROL.search(text) is not None
