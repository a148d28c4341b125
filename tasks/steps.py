"""Browser steps from the phone (docs/protocol.md, "Browser tasks"): checked
here by the protocol's step model before a task is created, and again by the
agent before it runs."""

import json

from protocol.limits import MAX_STEPS
from protocol.tasks import step_error

NOT_JSON = 'The steps are not valid JSON: a list of objects like {"action": "open", "url": "https://..."}.'
NO_STEPS = "Add at least one step."
TOO_MANY_STEPS = f"At most {MAX_STEPS} steps."


class StepError(ValueError):
    pass


def parse_steps(raw: str) -> list[dict]:
    """Steps typed or pasted as JSON on the phone."""
    try:
        steps = json.loads(raw)
    except (ValueError, RecursionError):
        raise StepError(NOT_JSON) from None
    return check_steps(steps)


def check_steps(steps: object) -> list[dict]:
    if not isinstance(steps, list) or not steps:
        raise StepError(NO_STEPS)
    if len(steps) > MAX_STEPS:
        raise StepError(TOO_MANY_STEPS)
    for index, step in enumerate(steps):
        error = step_error(index, step)
        if error is not None:  # "step 3 (click): selector is required", as a sentence for the phone
            raise StepError(f"{error[0].upper()}{error[1:]}.")
    return [dict(step) for step in steps]


def steps_summary(steps: list[dict]) -> str:
    """A task title for a browser task sent without a prompt."""
    first = next((s["url"] for s in steps if s["action"] == "open"), "")
    count = f"{len(steps)} step{'s' if len(steps) != 1 else ''}"
    return f"Browser: {first} ({count})" if first else f"Browser: {count}"
