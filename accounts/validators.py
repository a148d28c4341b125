import unicodedata

from django.core.exceptions import ValidationError

CONTROL_CHARACTERS_REFUSED = "Control characters are not allowed here."

# Bidi marks, embeddings, overrides and isolates: they can disguise a name
# (U+202E turns "exe.txt" around). Zero-width joiners stay allowed for emoji.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_control_characters(value: str) -> bool:
    """C0 and C1 control characters, DEL, or bidi controls."""
    return any(unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS for char in value)


def validate_no_control_characters(value: str) -> None:
    if has_control_characters(value):
        raise ValidationError(CONTROL_CHARACTERS_REFUSED, code="control_characters")
