"""A computer task's steps (docs/protocol.md, "Computer tasks"): the step model, checked by the
hub before a task is created and by the agent before any input, with the same messages.

Coordinates are pixels of the screenshot (the whole screen, 0,0 at its top left corner); the
agent also checks them against its screen. Step numbers in messages count from 1."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictInt, ValidationError, model_validator

from protocol import limits
from protocol.base import ProtocolModel, refuse
from protocol.keys import BadKeys, parse_keys
from protocol.steps import SHOWN, quoted
from protocol.text import CONTROL

# action -> (required fields, optional fields); every step may also have `timeout`.
STEP_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "screenshot": (frozenset(), frozenset()),
    "move": (frozenset({"x", "y"}), frozenset()),
    "click": (frozenset({"x", "y"}), frozenset({"button", "count"})),
    "type": (frozenset({"text"}), frozenset()),
    "key": (frozenset({"keys"}), frozenset()),
    "scroll": (frozenset({"direction"}), frozenset({"amount", "x", "y"})),
    "drag": (frozenset({"x", "y", "to_x", "to_y"}), frozenset({"button"})),
    "wait": (frozenset(), frozenset({"seconds", "title"})),
    "focus": (frozenset({"title"}), frozenset()),
}
assert tuple(STEP_FIELDS) == limits.COMPUTER_ACTIONS

MIN_WAIT = 0.1
COORDINATE = f"must be an integer 0-{limits.MAX_COORDINATE} (pixels of the screenshot)"
REFUSED = {
    "x": f"x {COORDINATE}",
    "y": f"y {COORDINATE}",
    "to_x": f"to_x {COORDINATE}",
    "to_y": f"to_y {COORDINATE}",
    "button": f"button must be one of {', '.join(limits.MOUSE_BUTTONS)}",
    "count": f"count must be 1-{limits.MAX_CLICKS} clicks",
    "text": f"text must be 1-{limits.MAX_TYPE_TEXT} characters (tabs and new lines, no other controls)",
    "keys": f"keys must be 1-{limits.MAX_KEYS} characters, like ctrl+shift+t",
    "direction": f"direction must be one of {', '.join(limits.SCROLL_DIRECTIONS)}",
    "amount": f"amount must be 1-{limits.MAX_SCROLL} notches",
    "seconds": f"seconds must be {MIN_WAIT}-{limits.MAX_WAIT}",
    "title": f"title must be 1-{limits.MAX_WINDOW_TITLE} characters without control characters",
    "timeout": f"timeout must be {limits.MIN_STEP_TIMEOUT}-{limits.MAX_STEP_TIMEOUT} seconds",
}
Coordinate = Annotated[StrictInt, Field(ge=0, le=limits.MAX_COORDINATE)]


def _typed(text: str) -> str:
    if not 0 < len(text) <= limits.MAX_TYPE_TEXT or CONTROL.search(text.replace("\n", "").replace("\t", "")):
        raise refuse(REFUSED["text"])
    return text


def _title(title: str) -> str:
    if not 0 < len(title) <= limits.MAX_WINDOW_TITLE or CONTROL.search(title):
        raise refuse(REFUSED["title"])
    return title


def _keys(keys: str) -> str:
    try:
        parse_keys(keys)
    except BadKeys as exc:
        raise refuse(str(exc)) from None
    return keys


class ComputerStep(ProtocolModel):
    """One step of a computer task. Unknown fields are refused: a step the agent does not
    understand must not run as something else."""

    model_config = {**ProtocolModel.model_config, "extra": "forbid"}

    action: Literal[limits.COMPUTER_ACTIONS]  # type: ignore[valid-type]
    x: Coordinate | None = None
    y: Coordinate | None = None
    to_x: Coordinate | None = None
    to_y: Coordinate | None = None
    button: Literal[limits.MOUSE_BUTTONS] | None = None  # type: ignore[valid-type]
    count: Annotated[StrictInt, Field(ge=1, le=limits.MAX_CLICKS)] | None = None
    text: Annotated[str, AfterValidator(_typed)] | None = None
    keys: Annotated[str, AfterValidator(_keys)] | None = None
    direction: Literal[limits.SCROLL_DIRECTIONS] | None = None  # type: ignore[valid-type]
    amount: Annotated[StrictInt, Field(ge=1, le=limits.MAX_SCROLL)] | None = None
    seconds: Annotated[float, Field(ge=MIN_WAIT, le=limits.MAX_WAIT)] | None = None
    title: Annotated[str, AfterValidator(_title)] | None = None
    timeout: Annotated[float, Field(ge=limits.MIN_STEP_TIMEOUT, le=limits.MAX_STEP_TIMEOUT)] | None = None

    @model_validator(mode="after")
    def _fields_of_action(self) -> "ComputerStep":
        given = self.model_fields_set - {"action"}
        for field in sorted(given):
            if getattr(self, field) is None:  # sent as null
                raise refuse(REFUSED[field])
        required, optional = STEP_FIELDS[self.action]
        unknown = sorted(given - required - optional - {"timeout"})
        if unknown:
            raise refuse(f"unknown field {quoted(unknown[0])}")
        missing = sorted(required - given)
        if missing:
            raise refuse(f"{missing[0]} is required")
        if self.action == "wait" and len({"seconds", "title"} & given) != 1:
            raise refuse("wait takes seconds or a window title (one of them)")
        if self.action == "scroll" and len({"x", "y"} & given) == 1:
            raise refuse("scroll takes both x and y, or neither (where the pointer is)")
        return self


def step_error(index: int, raw: object) -> str | None:
    """Why the step at `index` (from 0) cannot run, naming it as people count
    (`step 3 (click): x is required`), or None."""
    n = index + 1
    if not isinstance(raw, dict):
        return f'step {n}: not an object like {{"action": "click", "x": 10, "y": 20}}'
    action = raw.get("action")
    if not isinstance(action, str) or action not in STEP_FIELDS:
        shown = quoted(action) if isinstance(action, str) else repr(action)[:SHOWN]
        return f"step {n}: unknown action {shown} (use one of {', '.join(STEP_FIELDS)})"
    try:
        ComputerStep.model_validate(raw)
    except ValidationError as exc:
        return f"step {n} ({action}): {_step_problem(exc)}"
    return None


def _step_problem(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return f"unknown field {quoted(str(unknown[0]['loc'][-1]))}"
    error = errors[0]
    if error["type"] == "protocol":
        return error["msg"]
    field = str(error["loc"][0]) if error["loc"] else ""
    return REFUSED.get(field, error["msg"])


def steps_error(steps: object, allowed: tuple[str, ...] = limits.COMPUTER_ACTIONS) -> str | None:
    """Why a computer task's `steps` cannot run (naming the first bad step), or None;
    `allowed`: the actions its executor allows."""
    if not isinstance(steps, list) or not steps:
        return f"a computer task needs a list of 1-{limits.MAX_STEPS} steps"
    if len(steps) > limits.MAX_STEPS:
        return f"a computer task has at most {limits.MAX_STEPS} steps (this one has {len(steps)})"
    for index, step in enumerate(steps):
        error = step_error(index, step)
        if error is None and step["action"] not in allowed:
            error = f"step {index + 1} ({step['action']}): {not_allowed(step['action'], allowed)}"
        if error is not None:
            return error
    return None


def not_allowed(action: str, allowed: tuple[str, ...]) -> str:
    return f"{action} is not allowed on this host (it allows {', '.join(allowed)})"


def steps_refused(value: list[Any]) -> list[Any]:
    """For a model's field: the steps, or refused with steps_error's reason."""
    error = steps_error(value)
    if error is not None:
        raise refuse(error)
    return value


def step_subject(step: dict[str, Any]) -> str:
    """What a step acts on, for a line: `120,45`, `"hello"`, `ctrl+shift+t`, `down 3`."""
    action = step.get("action")
    if action == "type":
        return quoted(str(step.get("text", "")))
    if action == "key":
        return str(step.get("keys", ""))
    if action == "focus" or (action == "wait" and "title" in step):
        return quoted(str(step.get("title", "")))
    if action == "wait":
        return f"{step.get('seconds')} s"
    if action == "drag":
        return f"{step.get('x')},{step.get('y')} to {step.get('to_x')},{step.get('to_y')}"
    if action == "scroll":
        where = f" at {step['x']},{step['y']}" if "x" in step else ""
        return f"{step.get('direction')} {step.get('amount', 3)}{where}"
    if action in ("move", "click"):
        how = [step["button"]] if step.get("button", "left") != "left" else []
        how += [f"x{step['count']}"] if step.get("count", 1) != 1 else []
        return f"{step.get('x')},{step.get('y')}" + (f" ({' '.join(how)})" if how else "")
    return ""
