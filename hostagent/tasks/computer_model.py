"""The computer-use model's side of a computer task driven by a model (docs/protocol.md,
"Computer tasks: the agent loop"): the OpenAI Responses API with its `computer_use_preview` tool.

`POST {base_url}/responses` with the tool (the screen's size, `environment`), the goal and a
screenshot first, then each answer chained by `previous_response_id`: the `computer_call_output`
for each `computer_call` (the screenshot after it, the safety checks acknowledged). What goes to
the endpoint is the goal, screenshots and the agent's own fixed words (a denied action); never the
host token, never a file. The key comes from the variable `api_key_env` names, read at each call,
never logged; the urllib opener refuses redirects (openai_backend).

Everything the model answers is hostile input: `parse_response` and `step_of` turn it into calls
and checked steps, or raise ModelError saying what was wrong, before any input.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from hostagent import __version__
from hostagent.tasks.executors import Executor
from hostagent.tasks.openai_backend import SNIPPET, EndpointError, post_json
from protocol.limits import MAX_SCROLL

ENVIRONMENT = "linux"  # the tool's `environment`: the computer executor drives X11 displays
WAIT_SECONDS = 1.0  # the model's `wait` has no length: a second, as OpenAI's own samples do
SCROLL_NOTCH = 100  # pixels of the model's scroll_x/scroll_y per wheel notch
MAX_CALL_ID = 200
MAX_CHECK_TEXT = 500
BUTTONS = {"left": "left", "right": "right", "wheel": "middle", "middle": "middle"}
DENIED = (
    "The person watching this computer denied that action ({why}): it was not done. "
    "Go on another way, or finish and say what you could not do."
)


class ModelError(Exception):
    """The endpoint failed, or the model's answer cannot be acted on; the message says which."""


@dataclass
class SafetyCheck:
    id: str
    code: str
    message: str

    def wire(self) -> dict[str, str]:
        return {"id": self.id, "code": self.code, "message": self.message}


@dataclass
class Call:
    """One `computer_call`: its id (echoed back), the action as sent, the safety checks pending."""

    call_id: str
    action: dict[str, Any]
    safety_checks: list[SafetyCheck] = field(default_factory=list)


@dataclass
class Answer:
    """One response: its id (for the next request), what the model said, the calls it made."""

    id: str
    messages: list[str]
    thoughts: list[str]
    calls: list[Call]


# Requests ----------------------------------------------------------------------------------


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tool(width: int, height: int) -> dict[str, Any]:
    return {
        "type": "computer_use_preview",
        "display_width": width,
        "display_height": height,
        "environment": ENVIRONMENT,
    }


def first_input(goal: str, png: bytes) -> list[dict[str, Any]]:
    """The goal and the screen as it is now."""
    content = [{"type": "input_text", "text": goal}, {"type": "input_image", "image_url": data_url(png)}]
    return [{"role": "user", "content": content}]


def call_output(call: Call, png: bytes, acknowledged: list[SafetyCheck]) -> dict[str, Any]:
    return {
        "type": "computer_call_output",
        "call_id": call.call_id,
        "output": {"type": "computer_screenshot", "image_url": data_url(png)},
        "acknowledged_safety_checks": [check.wire() for check in acknowledged],
    }


def denied_note(why: str) -> dict[str, Any]:
    """What the model is told, after the call's output, of an action the person denied."""
    return {"role": "user", "content": [{"type": "input_text", "text": DENIED.format(why=why)}]}


async def ask(
    executor: Executor, screen: tuple[int, int], items: list[dict[str, Any]], previous: str | None
) -> Answer:
    """One request; raises ModelError (without the key: it is scrubbed from anything said)."""
    key = os.environ.get(executor.api_key_env, "") if executor.api_key_env else ""
    body: dict[str, Any] = {
        "model": executor.model,
        "tools": [tool(*screen)],
        "input": items,
        "truncation": "auto",  # the computer-use models require it
    }
    if previous is not None:
        body["previous_response_id"] = previous
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"codexhub-hostagent/{__version__}",
    }
    if key:
        headers["Authorization"] = f"Bearer {key}"
    url = executor.base_url.rstrip("/") + "/responses"
    try:
        raw = await asyncio.to_thread(post_json, url, json.dumps(body).encode(), headers, executor.timeout)
        return parse_response(raw)
    except (EndpointError, ModelError) as exc:
        text = str(exc)
        raise ModelError(text.replace(key, "[api key]") if key else text) from None


# Answers -----------------------------------------------------------------------------------


def _snippet(raw: bytes) -> str:
    return repr(raw[:SNIPPET].decode("utf-8", errors="replace"))


def _text(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or "\0" in value:
        raise ModelError(f"the model's answer has {what} that is not 1-{limit} characters of text")
    return value


def parse_response(raw: bytes) -> Answer:
    """The model's answer as calls and text; raises ModelError for anything else."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise ModelError(f"the model's answer is not JSON: {_snippet(raw)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("output"), list):
        raise ModelError(f"the model's answer has no output list: {_snippet(raw)}")
    status = data.get("status")
    if status in ("failed", "incomplete", "cancelled"):
        error = data.get("error") or data.get("incomplete_details") or {}
        why = error.get("message") or error.get("reason") if isinstance(error, dict) else None
        raise ModelError(f"the model's response is {status}" + (f": {str(why)[:SNIPPET]}" if why else ""))
    response_id = _text(data.get("id"), MAX_CALL_ID, "an id")
    answer = Answer(response_id, [], [], [])
    for item in data["output"]:
        if not isinstance(item, dict):
            raise ModelError("the model's answer has an output item that is not an object")
        kind = item.get("type")
        if kind == "computer_call":
            answer.calls.append(_call(item))
        elif kind == "message":
            answer.messages.extend(_texts(item.get("content"), "output_text"))
        elif kind == "reasoning":
            answer.thoughts.extend(_texts(item.get("summary"), "summary_text"))
        # anything else (a tool this agent never offered) is not acted on
    return answer


def _texts(parts: object, kind: str) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [
        p["text"]
        for p in parts
        if isinstance(p, dict) and p.get("type") == kind and isinstance(p.get("text"), str)
    ]


def _call(item: dict[str, Any]) -> Call:
    call_id = _text(item.get("call_id"), MAX_CALL_ID, "a computer_call without a call_id")
    action = item.get("action")
    if not isinstance(action, dict):
        raise ModelError(f"the model's computer_call {call_id[:40]!r} has no action object")
    checks = item.get("pending_safety_checks") or []
    if not isinstance(checks, list) or len(checks) > 10:
        raise ModelError("the model's pending_safety_checks is not a list of at most 10")
    return Call(call_id, action, [_check(check) for check in checks])


def _check(raw: object) -> SafetyCheck:
    if not isinstance(raw, dict):
        raise ModelError("the model sent a safety check that is not an object")
    check_id = _text(raw.get("id"), MAX_CALL_ID, "a safety check without an id")
    code, message = raw.get("code"), raw.get("message")
    return SafetyCheck(
        check_id,
        code[:MAX_CHECK_TEXT] if isinstance(code, str) else "",
        message[:MAX_CHECK_TEXT] if isinstance(message, str) else "",
    )


# Actions -----------------------------------------------------------------------------------


def _int(action: dict[str, Any], name: str) -> int:
    value = action.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ModelError(f"{name} must be an integer")
    return value


def _point(action: dict[str, Any]) -> dict[str, int]:
    return {"x": _int(action, "x"), "y": _int(action, "y")}


def step_of(action: dict[str, Any]) -> dict[str, Any]:
    """The model's action as a computer step (protocol/computer.py), unchecked beyond its shape:
    the caller checks it like a step from the phone. Raises ModelError for what has no step."""
    kind = action.get("type")
    if kind == "click":
        button = action.get("button", "left")
        if button not in BUTTONS:
            raise ModelError(f"a click with the {str(button)[:20]!r} button, which this host does not click")
        step = {"action": "click", **_point(action)}
        return step if BUTTONS[button] == "left" else {**step, "button": BUTTONS[button]}
    if kind == "double_click":
        return {"action": "click", **_point(action), "count": 2}
    if kind == "move":
        return {"action": "move", **_point(action)}
    if kind == "drag":
        path = action.get("path")
        if not isinstance(path, list) or len(path) < 2 or not all(isinstance(p, dict) for p in path):
            raise ModelError("a drag needs a path of at least two points")
        start, end = _point(path[0]), _point(path[-1])
        return {"action": "drag", **start, "to_x": end["x"], "to_y": end["y"]}
    if kind == "scroll":
        return _scroll(action)
    if kind == "type":
        text = action.get("text")
        if not isinstance(text, str):
            raise ModelError("a type action without text")
        return {"action": "type", "text": text}
    if kind == "keypress":
        keys = action.get("keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise ModelError("a keypress without a list of keys")
        return {"action": "key", "keys": "+".join(keys)[:200]}
    if kind == "wait":
        return {"action": "wait", "seconds": WAIT_SECONDS}
    if kind == "screenshot":
        return {"action": "screenshot"}
    raise ModelError(f"unknown action type {_shown(kind)}")


def _shown(value: object) -> str:
    return repr(value[:40]) if isinstance(value, str) else repr(value)[:40]


def _scroll(action: dict[str, Any]) -> dict[str, Any]:
    """scroll_y (down when positive), else scroll_x, in pixels, as wheel notches at x,y."""
    dx, dy = _int(action, "scroll_x"), _int(action, "scroll_y")
    if dy:
        direction, pixels = ("down" if dy > 0 else "up"), abs(dy)
    elif dx:
        direction, pixels = ("right" if dx > 0 else "left"), abs(dx)
    else:
        raise ModelError("a scroll by 0,0")
    notches = min(MAX_SCROLL, max(1, round(pixels / SCROLL_NOTCH)))
    return {"action": "scroll", "direction": direction, "amount": notches, **_point(action)}
