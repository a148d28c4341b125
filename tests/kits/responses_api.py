"""A model server speaking the OpenAI Responses API as the real Codex CLI calls it
(`POST /v1/responses`, answered with server-sent events), scripted per test; and the
pinned Codex CLI itself (tests/agents, installed by `make install`).

    with ResponsesApi([[message("Hi")], [exec_command("printf hi > note.txt")], [message("Done.")]]) as api:
        home = codex_home(tmp_path, api)  # a CODEX_HOME whose only provider is `api`
        ...
        api.requests()  # the JSON bodies codex sent, in order

Each request to /v1/responses takes the next turn of the script: a list of output
items (`message`, `reasoning`, `exec_command`, `apply_patch`, `update_plan`), `HOLD`, which keeps the
request open until the server stops (a turn still running when the test interrupts it), or
`REFUSE`, answered 400 with an OpenAI error.
A request past the end of the script is answered with a message saying so.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from tests.hostagent.conftest import ROOT
from tests.kits.loopback import LoopbackServer, Reply, Request, json_reply

CODEX = ROOT / "tests" / "agents" / "node_modules" / ".bin" / "codex"
CODEX_VERSION = "0.171.0"
MODEL = "tiny"
HOLD: list[dict[str, Any]] = []  # a turn the server never answers (compared by identity)
REFUSE: list[dict[str, Any]] = []  # a turn the server answers 400 (the model refuses the request)
REFUSED = "The model `tiny` does not exist."
OUT_OF_SCRIPT = "(the test's model server has no more replies)"


def message(text: str, item_id: str = "msg_1") -> dict[str, Any]:
    """The assistant's message (its text streamed in two deltas, then whole)."""
    return {
        "type": "message",
        "role": "assistant",
        "id": item_id,
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def reasoning(summary: str, item_id: str = "rs_1") -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": summary}],
        "content": None,
        "encrypted_content": None,
    }


def exec_command(cmd: str, call_id: str = "call_1") -> dict[str, Any]:
    """A call of codex's shell tool."""
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": "exec_command",
        "arguments": json.dumps({"cmd": cmd}),
    }


def update_plan(steps: list[tuple[str, str]], call_id: str = "call_plan") -> dict[str, Any]:
    """A call of codex's plan tool: (step, status) pairs, status pending, in_progress or completed."""
    plan = [{"step": step, "status": status} for step, status in steps]
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": "update_plan",
        "arguments": json.dumps({"explanation": "The plan", "plan": plan}),
    }


def apply_patch(patch: str, call_id: str = "call_1") -> dict[str, Any]:
    """An edit as codex's models make it: its shell tool running apply_patch (codex applies the
    patch itself, as a file change)."""
    return exec_command(f"apply_patch <<'EOF'\n*** Begin Patch\n{patch}*** End Patch\nEOF", call_id)


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _events(response_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "response.created", "response": {"id": response_id}}]
    for index, item in enumerate(items):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            half = len(text) // 2
            events.append(
                {"type": "response.output_item.added", "output_index": index, "item": {**item, "content": []}}
            )
            for delta in (text[:half], text[half:]):
                events.append(
                    {
                        "type": "response.output_text.delta",
                        "item_id": item["id"],
                        "output_index": index,
                        "content_index": 0,
                        "delta": delta,
                    }
                )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    usage = {
        "input_tokens": 120,
        "input_tokens_details": None,
        "output_tokens": 30,
        "output_tokens_details": None,
        "total_tokens": 150,
    }
    events.append({"type": "response.completed", "response": {"id": response_id, "usage": usage}})
    return events


class ResponsesApi(LoopbackServer):
    def __init__(self, turns: list[list[dict[str, Any]]]):
        super().__init__()
        self.turns = list(turns)
        self.released = threading.Event()  # set when the server stops: held requests end

    def requests(self) -> list[dict[str, Any]]:
        """The bodies of the /v1/responses requests so far."""
        with self.lock:
            return [r.json() for r in self.received if r.route.endswith("/responses")]

    def answer(self, request: Request) -> Reply:
        if request.route.endswith("/models"):
            return json_reply({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        if request.method != "POST" or not request.route.endswith("/responses"):
            return Reply(404)
        with self.lock:
            number = sum(r.route.endswith("/responses") for r in self.received)
            turn = self.turns[number - 1] if number <= len(self.turns) else [message(OUT_OF_SCRIPT)]
        if turn is HOLD:
            self.released.wait()
            return Reply(503)
        if turn is REFUSE:
            error = {"message": REFUSED, "type": "invalid_request_error", "code": "model_not_found"}
            return json_reply({"error": error}, 400)
        body = sse(_events(f"resp_{number}", turn))
        return Reply(200, body, {"Content-Type": "text/event-stream"})

    def stop(self) -> None:
        self.released.set()
        super().stop()


def codex_home(folder: Path, api: ResponsesApi) -> Path:
    """A CODEX_HOME in `folder` whose model provider is `api` (and nothing else on the network)."""
    home = folder / "codex-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{MODEL}"\n'
        'model_provider = "local"\n'
        "[model_providers.local]\n"
        'name = "local"\n'
        f'base_url = "{api.url}/v1"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    return home


def codex_env(tmp_path: Path, api: ResponsesApi) -> dict[str, str]:
    """What a host agent process needs for its codex to talk to `api` only: CODEX_HOME, and a
    HOME of its own (codex's login shell reads no profile of ours)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"CODEX_HOME": str(codex_home(tmp_path, api)), "HOME": str(home)}


def codex_toml(**keys: Any) -> str:
    """A `codex` executor named `codex` running the pinned CLI (`keys` over the defaults)."""
    from tests.kits.agent_toml import executor_toml

    values: dict[str, Any] = {
        "type": "codex",
        "label": "Codex",
        "command": [str(CODEX), "app-server"],
        "timeout": 30,
    }
    return executor_toml("codex", **{**values, **keys})


def codex_project(tmp_path: Path, monkeypatch: Any, api: ResponsesApi, **keys: Any) -> tuple[Any, Path]:
    """An agent config offering the pinned codex (CODEX_HOME set to talk to `api` only) and its
    project `proj/` holding notes.md."""
    from tests.kits.agent_tasks import load_config

    assert CODEX.exists(), f"{CODEX} is missing: run make install (it needs npm)"
    monkeypatch.setenv("CODEX_HOME", str(codex_home(tmp_path, api)))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the login shell codex runs reads no profile of ours
    for name in ("OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL"):  # nothing of the machine's
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.md").write_text("Eggs\nBread\n")
    return load_config(tmp_path, "[tasks]\nbuiltins = false\n" + codex_toml(**keys)), root
