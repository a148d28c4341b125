"""Browser steps from the phone (docs/protocol.md, "Browser tasks"): checked
here before a task is created, and again by the agent before it runs."""

import json
from urllib.parse import urlsplit

MAX_STEPS = 50
MAX_TEXT = 2000
MAX_SELECTOR = 500
FIELDS = {
    "open": ({"url"}, set()),
    "click": ({"selector"}, set()),
    "fill": ({"selector", "value"}, set()),
    "press": ({"key"}, {"selector"}),
    "select": ({"selector", "value"}, set()),
    "wait": (set(), {"selector", "text"}),
    "read": ({"selector"}, {"attribute"}),
    "screenshot": (set(), {"selector", "full_page"}),
    "pdf": (set(), set()),
}
RESULT_TEXT = 10_000
NOT_JSON = 'The steps are not valid JSON: a list of objects like {"action": "open", "url": "https://..."}.'


class StepError(ValueError):
    pass


def parse_steps(raw: str) -> list[dict]:
    """Steps typed or pasted as JSON on the phone."""
    try:
        steps = json.loads(raw)
    except ValueError:
        raise StepError(NOT_JSON) from None
    return check_steps(steps)


def check_steps(steps: object) -> list[dict]:
    if not isinstance(steps, list) or not steps:
        raise StepError("Add at least one step.")
    if len(steps) > MAX_STEPS:
        raise StepError(f"At most {MAX_STEPS} steps.")
    return [_check(n, step) for n, step in enumerate(steps, start=1)]


def _check(n: int, step: object) -> dict:
    if not isinstance(step, dict):
        raise StepError(f"Step {n} is not an object.")
    action = step.get("action")
    if action not in FIELDS:
        raise StepError(f"Step {n}: unknown action {str(action)[:30]!r}; use one of {', '.join(FIELDS)}.")
    required, optional = FIELDS[action]
    unknown = set(step) - required - optional - {"action", "timeout"}
    if unknown:
        raise StepError(f"Step {n} ({action}): unknown field {sorted(unknown)[0][:30]!r}.")
    missing = [field for field in sorted(required) if field not in step]
    if missing:
        raise StepError(f"Step {n} ({action}) needs {missing[0]}.")
    if action == "wait" and not ({"selector", "text"} & set(step)):
        raise StepError(f"Step {n} (wait) needs a selector or a text.")
    for field, value in step.items():
        if field == "full_page":
            if not isinstance(value, bool):
                raise StepError(f"Step {n} ({action}): full_page is true or false.")
        elif field == "timeout":
            if type(value) not in (int, float) or not 1 <= value <= 120:
                raise StepError(f"Step {n} ({action}): timeout is 1-120 seconds.")
        elif field != "action":
            limit = MAX_SELECTOR if field == "selector" else MAX_TEXT
            if not isinstance(value, str) or not value or len(value) > limit or "\x00" in value:
                raise StepError(f"Step {n} ({action}): {field} is text of 1-{limit} characters.")
    if action == "open" and urlsplit(step["url"]).scheme not in ("http", "https"):
        raise StepError(f"Step {n} (open): only http and https addresses.")
    return dict(step)


def steps_summary(steps: list[dict]) -> str:
    """A task title for a browser task sent without a prompt."""
    first = next((s["url"] for s in steps if s["action"] == "open"), "")
    count = f"{len(steps)} step{'s' if len(steps) != 1 else ''}"
    return f"Browser: {first} ({count})" if first else f"Browser: {count}"
