"""Browser steps without pydantic (the agent names steps in its messages from
the start): which fields each action takes, and how a step is quoted. The
step model itself is protocol.tasks.BrowserStep."""

# action -> (required fields, optional fields); every step may also have `timeout`.
STEP_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "open": (frozenset({"url"}), frozenset()),
    "click": (frozenset({"selector"}), frozenset()),
    "fill": (frozenset({"selector", "value"}), frozenset()),
    "press": (frozenset({"key"}), frozenset({"selector"})),
    "select": (frozenset({"selector", "value"}), frozenset()),
    "wait": (frozenset(), frozenset({"selector", "text"})),
    "read": (frozenset({"selector"}), frozenset({"attribute"})),
    "screenshot": (frozenset(), frozenset({"selector", "full_page"})),
    "pdf": (frozenset(), frozenset()),
}
SHOWN = 80  # characters of a selector or text quoted in a message


def quoted(text: str) -> str:
    text = text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
    return '"' + text.replace("\n", " ") + '"'
