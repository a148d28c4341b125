"""A browser task's steps (docs/protocol.md, "Browser tasks"), checked on the agent before a browser starts.

The hub checks them too (tasks/steps.py); the agent does not trust that: a
bad list fails the task at once, with an error naming the step. Step numbers
in messages count from 1 (`step 3 (click "#buy")`); `index` in results and
artifact names (`step-2.png`) count from 0, as the protocol's results do.
`open` URLs are judged against the executor's allow-list here as well, so a
task that would leave the list later on fails before it touched any site.
"""

from __future__ import annotations

from typing import Any

from hostagent.tasks.sites import SiteList

MAX_STEPS = 50
MAX_TEXT = 2000
MAX_SELECTOR = 500
MIN_TIMEOUT, MAX_TIMEOUT = 1, 120
SHOWN = 80  # characters of a selector or text quoted in a message
# action -> (required fields, optional fields); every step may also have `timeout`.
FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
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


def quoted(text: str) -> str:
    text = text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
    return '"' + text.replace("\n", " ") + '"'


def step_label(index: int, step: dict[str, Any]) -> str:
    """`step 3 (click "#buy")`, `step 1 (open)`: how messages name the step at `index`."""
    action = step["action"]
    subject = step.get("key") if action == "press" else step.get("selector") or step.get("text")
    return f"step {index + 1} ({action} {quoted(subject)})" if subject else f"step {index + 1} ({action})"


def steps_error(steps: object, sites: SiteList | None = None) -> str | None:
    """Why `steps` cannot run (naming the first bad step), or None."""
    if not isinstance(steps, list) or not steps:
        return f"a browser task needs a list of 1-{MAX_STEPS} steps"
    if len(steps) > MAX_STEPS:
        return f"a browser task has at most {MAX_STEPS} steps (this one has {len(steps)})"
    for index, step in enumerate(steps):
        error = _step_error(index + 1, step, sites)
        if error is not None:
            return error
    return None


def _step_error(n: int, step: object, sites: SiteList | None) -> str | None:
    if not isinstance(step, dict):
        return f'step {n}: not an object like {{"action": "click", "selector": "#buy"}}'
    action = step.get("action")
    if not isinstance(action, str) or action not in FIELDS:
        shown = quoted(action) if isinstance(action, str) else repr(action)[:SHOWN]
        return f"step {n}: unknown action {shown} (use one of {', '.join(FIELDS)})"
    where = f"step {n} ({action})"
    required, optional = FIELDS[action]
    unknown = sorted(str(key) for key in set(step) - required - optional - {"action", "timeout"})
    if unknown:
        return f"{where}: unknown field {quoted(unknown[0])}"
    missing = sorted(required - set(step))
    if missing:
        return f"{where}: {missing[0]} is required"
    if action == "wait" and not {"selector", "text"} & set(step):
        return f"{where}: selector or text is required"
    for key, value in step.items():
        if key == "action":
            continue
        if key == "full_page":
            if not isinstance(value, bool):
                return f"{where}: full_page must be true or false"
        elif key == "timeout":
            if type(value) not in (int, float) or not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
                return f"{where}: timeout must be {MIN_TIMEOUT}-{MAX_TIMEOUT} seconds"
        else:
            limit = MAX_SELECTOR if key == "selector" else MAX_TEXT
            if not isinstance(value, str) or not 1 <= len(value) <= limit or "\0" in value:
                return f"{where}: {key} must be text of 1-{limit} characters"
    if action == "open" and sites is not None:
        error = sites.url_error(step["url"])
        if error is not None:
            return f"{where}: {error}"
    return None
