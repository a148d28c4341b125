"""Key combinations of computer tasks (docs/protocol.md, "Computer tasks"), without pydantic:
the agent maps each name to its platform's key, the hub and the agent refuse any other.

A combination is names joined by `+`, any modifiers first, each once, then one key
(`ctrl+shift+t`, `alt+f4`, `enter`), or modifiers alone (`super`). Names are read without
regard to case; aliases (`control`, `return`, `esc`, `cmd`, ...) mean their canonical name.
"""

from protocol.limits import MAX_KEYS

MODIFIERS = ("ctrl", "shift", "alt", "super")
NAMED_KEYS = (
    "enter",
    "tab",
    "escape",
    "backspace",
    "delete",
    "insert",
    "home",
    "end",
    "pageup",
    "pagedown",
    "up",
    "down",
    "left",
    "right",
    "space",
    "menu",
    "capslock",
    "printscreen",
    *(f"f{n}" for n in range(1, 25)),
)
# Punctuation by its name; the character itself is read as the name too (`ctrl+-`), except `+`.
PUNCTUATION = {
    "minus": "-",
    "equal": "=",
    "comma": ",",
    "period": ".",
    "slash": "/",
    "backslash": "\\",
    "semicolon": ";",
    "apostrophe": "'",
    "grave": "`",
    "bracketleft": "[",
    "bracketright": "]",
    "plus": "+",
}
CHARACTERS = tuple("abcdefghijklmnopqrstuvwxyz0123456789")
ALIASES = {
    "control": "ctrl",
    "ctl": "ctrl",
    "option": "alt",
    "cmd": "super",
    "command": "super",
    "meta": "super",
    "win": "super",
    "return": "enter",
    "esc": "escape",
    "del": "delete",
    "ins": "insert",
    "pgup": "pageup",
    "pgdn": "pagedown",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
    **{char: name for name, char in PUNCTUATION.items() if char != "+"},
}
KEYS = frozenset((*MODIFIERS, *NAMED_KEYS, *PUNCTUATION, *CHARACTERS))
EXAMPLE = "like ctrl+shift+t, alt+f4 or enter"


class BadKeys(ValueError):
    """Why a combination cannot be pressed; the message says it."""


def parse_keys(text: str) -> list[str]:
    """The canonical names of `text`'s keys, modifiers first. Raises BadKeys."""
    if not text or len(text) > MAX_KEYS:
        raise BadKeys(f"keys must be 1-{MAX_KEYS} characters, {EXAMPLE}")
    parts = text.split("+")
    if text.endswith("++") or text == "+":  # `ctrl++`: the last key is the plus key
        parts = [*text[:-2].split("+"), "plus"] if text != "+" else ["plus"]
    names = []
    for part in parts:
        name = part.strip().lower()
        name = ALIASES.get(name, name)
        if name not in KEYS:
            shown = part.strip()[:20] or "(empty)"
            raise BadKeys(f"unknown key {shown!r} ({EXAMPLE})")
        names.append(name)
    *leading, last = names
    for name in leading:
        if name not in MODIFIERS:
            raise BadKeys(f"only modifiers ({', '.join(MODIFIERS)}) may come before the key: {text[:40]!r}")
    if len(set(names)) != len(names):
        raise BadKeys(f"a key is named twice: {text[:40]!r}")
    return names
