"""The host protocol's version (docs/protocol.md, "Versions").

The agent says which protocol it speaks when it opens the link (the
`X-Codexhub-Protocol` header of the WebSocket handshake) and again in
`hello`. The hub takes MIN_PROTOCOL_VERSION to PROTOCOL_VERSION; any other
is refused before anything is applied: the link closes with
CLOSE_INCOMPATIBLE, after a `refused` frame saying what to run. An agent
that sends no header speaks PROTOCOL_VERSION (agents from before the header
did). Raise PROTOCOL_VERSION when a change would break an older agent or hub;
raise MIN_PROTOCOL_VERSION when the hub stops taking an older agent.
"""

import re

PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "X-Codexhub-Protocol"
MAX_HEADER = 8  # characters of the header's value: a few digits
CLOSE_INCOMPATIBLE = 4426  # after 426 Upgrade Required
MAX_REFUSAL = 500  # characters of the `refused` frame's message the agent shows
DIGITS = re.compile(r"[0-9]{1,8}")


def accepted(version: int) -> bool:
    return MIN_PROTOCOL_VERSION <= version <= PROTOCOL_VERSION


def accepted_range() -> str:
    """ "1" or "1 to 3", as a sentence says it."""
    if MIN_PROTOCOL_VERSION == PROTOCOL_VERSION:
        return str(PROTOCOL_VERSION)
    return f"{MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"


def from_header(value: str | None) -> int | None:
    """The protocol version a handshake's header names (PROTOCOL_VERSION when there is none),
    or None when the header is not a number."""
    if value is None:
        return PROTOCOL_VERSION
    value = value.strip()
    if len(value) > MAX_HEADER or not DIGITS.fullmatch(value):
        return None
    return int(value)
