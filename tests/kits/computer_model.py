"""A computer-use model server: the OpenAI Responses API with its `computer_use_preview` tool
(`POST /v1/responses`, answered with a JSON response), scripted per test.

    with ComputerModel([[click(120, 45)], [type_text("milk")], [message("Done.")]]) as model:
        ... executor base_url = model.url + "/v1" ...
        model.requests()  # the JSON bodies the agent sent, in order

Each request takes the next turn of the script: a list of output items (`computer_call` built by
`click`, `double_click`, `type_text`, `keypress`, `scroll`, `drag`, `move`, `wait`, `screenshot`,
`call`; `message`), or a Reply as it is (`BROKEN`: not JSON; `http_error(500)`). The call ids
are `call_<n>` in order unless given. A request past the end of the script is answered with a
message saying so, so a loop that goes on too long ends.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.kits.loopback import LoopbackServer, Reply, Request, json_reply

OUT_OF_SCRIPT = "(the test's model server has no more replies)"
BROKEN = Reply(200, b'{"id": "resp_x", "output": [', {"Content-Type": "application/json"})


def http_error(status: int, text: str = "the model is overloaded") -> Reply:
    return json_reply({"error": {"message": text, "type": "server_error"}}, status)


def call(
    action: dict[str, Any], call_id: str = "", safety: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """A `computer_call` item (its call_id filled in by the server when "")."""
    return {
        "type": "computer_call",
        "id": f"cu_{call_id}",
        "call_id": call_id,
        "action": action,
        "pending_safety_checks": safety or [],
        "status": "completed",
    }


def click(x: int, y: int, button: str = "left", **keys: Any) -> dict[str, Any]:
    return call({"type": "click", "button": button, "x": x, "y": y}, **keys)


def double_click(x: int, y: int, **keys: Any) -> dict[str, Any]:
    return call({"type": "double_click", "x": x, "y": y}, **keys)


def move(x: int, y: int, **keys: Any) -> dict[str, Any]:
    return call({"type": "move", "x": x, "y": y}, **keys)


def type_text(text: str, **keys: Any) -> dict[str, Any]:
    return call({"type": "type", "text": text}, **keys)


def keypress(*keys_: str, **keys: Any) -> dict[str, Any]:
    return call({"type": "keypress", "keys": list(keys_)}, **keys)


def scroll(x: int, y: int, scroll_x: int, scroll_y: int, **keys: Any) -> dict[str, Any]:
    return call({"type": "scroll", "x": x, "y": y, "scroll_x": scroll_x, "scroll_y": scroll_y}, **keys)


def drag(*points: tuple[int, int], **keys: Any) -> dict[str, Any]:
    return call({"type": "drag", "path": [{"x": x, "y": y} for x, y in points]}, **keys)


def wait(**keys: Any) -> dict[str, Any]:
    return call({"type": "wait"}, **keys)


def screenshot(**keys: Any) -> dict[str, Any]:
    return call({"type": "screenshot"}, **keys)


def safety_check(check_id: str, code: str, message: str) -> dict[str, str]:
    return {"id": check_id, "code": code, "message": message}


def message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def reasoning(summary: str) -> dict[str, Any]:
    return {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": summary}]}


class ComputerModel(LoopbackServer):
    def __init__(self, turns: list[Any]):
        super().__init__()
        self.turns = list(turns)
        self.calls = 0

    def requests(self) -> list[dict[str, Any]]:
        """The bodies of the /v1/responses requests so far."""
        with self.lock:
            return [r.json() for r in self.received if r.route.endswith("/responses")]

    def raw(self) -> list[Request]:
        with self.lock:
            return [r for r in self.received if r.route.endswith("/responses")]

    def answer(self, request: Request) -> Reply:
        if request.method != "POST" or not request.route.endswith("/responses"):
            return Reply(404)
        with self.lock:
            number = sum(r.route.endswith("/responses") for r in self.received)
            turn = self.turns[number - 1] if number <= len(self.turns) else [message(OUT_OF_SCRIPT)]
            if isinstance(turn, Reply):
                return turn
            output = []
            for item in turn:
                if item["type"] == "computer_call" and not item["call_id"]:
                    self.calls += 1
                    item = {**item, "call_id": f"call_{self.calls}", "id": f"cu_{self.calls}"}
                output.append(item)
        response = {
            "id": f"resp_{number}",
            "object": "response",
            "status": "completed",
            "model": request.json().get("model"),
            "output": output,
        }
        return json_reply(response)


def call_outputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The computer_call_output items of one request."""
    return [item for item in body.get("input", []) if item.get("type") == "computer_call_output"]


def screenshot_png(item: dict[str, Any]) -> bytes:
    """The PNG a computer_call_output (or an input_image) carries as a data URL."""
    url = item["output"]["image_url"] if "output" in item else item["image_url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:40]
    return base64.b64decode(url[len(prefix) :])


def notes_to_model(body: dict[str, Any]) -> list[str]:
    """The texts of the user messages in one request (the goal, or a denial)."""
    return [
        part["text"]
        for item in body.get("input", [])
        if item.get("role") == "user"
        for part in item["content"]
        if part.get("type") == "input_text"
    ]
