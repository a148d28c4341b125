"""Browser and computer steps from the phone (docs/protocol.md, "Browser tasks",
"Computer tasks"): checked here by the protocol's step models before a task is
created, and again by the agent before it runs."""

import json

from protocol import computer
from protocol.limits import COMPUTER_ACTIONS, MAX_STEPS
from protocol.tasks import step_error

NOT_JSON = 'The steps are not valid JSON: a list of objects like {"action": "open", "url": "https://..."}.'
NO_STEPS = "Add at least one step."
TOO_MANY_STEPS = f"At most {MAX_STEPS} steps."


class StepError(ValueError):
    pass


NOT_JSON_COMPUTER = (
    'The steps are not valid JSON: a list of objects like {"action": "click", "x": 10, "y": 20}.'
)


def parse_steps(raw: str, kind: str = "browser", allowed: tuple[str, ...] = COMPUTER_ACTIONS) -> list[dict]:
    """Steps typed or pasted as JSON on the phone, for an executor of `kind` ("browser" or
    "computer"; `allowed`: the actions a computer executor offers)."""
    try:
        steps = json.loads(raw)
    except (ValueError, RecursionError):
        raise StepError(NOT_JSON_COMPUTER if kind == "computer" else NOT_JSON) from None
    return check_steps(steps, kind, allowed)


def check_steps(
    steps: object, kind: str = "browser", allowed: tuple[str, ...] = COMPUTER_ACTIONS
) -> list[dict]:
    if not isinstance(steps, list) or not steps:
        raise StepError(NO_STEPS)
    if len(steps) > MAX_STEPS:
        raise StepError(TOO_MANY_STEPS)
    for index, step in enumerate(steps):
        error = _computer_error(index, step, allowed) if kind == "computer" else step_error(index, step)
        if error is not None:  # "step 3 (click): selector is required", as a sentence for the phone
            raise StepError(f"{error[0].upper()}{error[1:]}.")
    return [dict(step) for step in steps]


def _computer_error(index: int, step: object, allowed: tuple[str, ...]) -> str | None:
    error = computer.step_error(index, step)
    if error is None and isinstance(step, dict) and step["action"] not in allowed:
        error = f"step {index + 1} ({step['action']}): {computer.not_allowed(step['action'], allowed)}"
    return error


def steps_summary(steps: list[dict], kind: str = "browser") -> str:
    """A task title for a browser or computer task sent without a prompt."""
    if kind == "computer":
        return f"Desktop: {len(steps)} step{'s' if len(steps) != 1 else ''}"
    first = next((s["url"] for s in steps if s["action"] == "open"), "")
    count = f"{len(steps)} step{'s' if len(steps) != 1 else ''}"
    return f"Browser: {first} ({count})" if first else f"Browser: {count}"
