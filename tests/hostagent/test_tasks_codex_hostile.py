"""A codex that misbehaves (docs/protocol.md, "Codex threads"): the real Codex CLI behind
tests/bin/codex_fault.py, which injects one fault into what it says. Each ends the task with a
clear error, never a hang."""

import json

import pytest

from tests.kits.agent_tasks import BIN, PY, finished, log_text, running_agent, turn_count
from tests.kits.responses_api import CODEX, ResponsesApi, codex_project, message

FAULTY = [PY, str(BIN / "codex_fault.py"), str(CODEX), "app-server"]


def faulty_codex(tmp_path, monkeypatch, api, fault):
    monkeypatch.setenv("CODEX_FAULT", fault)
    monkeypatch.setenv("CODEX_FAULT_LOG", str(tmp_path / "fault.log"))
    return codex_project(tmp_path, monkeypatch, api, command=FAULTY, env=["CODEX_FAULT", "CODEX_FAULT_LOG"])


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (
            "garbage:turn/completed",
            "codex broke the protocol: it sent a line that is not JSON: 'this is not json'",
        ),
        ("no-thread-id:thread/start", "codex broke the protocol: thread.id is not a str"),
        ("no-item-id:item/started", "codex broke the protocol: item/started: id is not a str"),
        ("huge:turn/started", "codex broke the protocol: it sent a message longer than 16 MiB"),
        ("exit:item/started", "codex exited with code 3 during a turn"),
    ],
)
async def test_a_codex_that_breaks_the_protocol_or_dies_fails_the_task_saying_how(
    tmp_path, monkeypatch, fault, error
):
    with ResponsesApi([[message("Hello.")]]) as api:
        cfg, root = faulty_codex(tmp_path, monkeypatch, api, fault)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Say hello")
            done = await finished(hub, 1, timeout=20)

    assert (done["outcome"], done["error"]) == ("failed", error)
    if fault.startswith("exit"):
        assert done["exit_code"] == 3
        assert "codex crashed" in log_text(hub, 1)  # its last words are in the task log


async def test_a_request_the_host_does_not_handle_is_refused_and_the_thread_goes_on(tmp_path, monkeypatch):
    with ResponsesApi([[message("Hello.")]]) as api:
        cfg, root = faulty_codex(tmp_path, monkeypatch, api, "request:turn/completed")
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.assign(1, "docs", "codex", "Say hello")
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            done = await finished(hub, 1)

    assert done["outcome"] == "succeeded"
    (answer,) = [json.loads(line) for line in (tmp_path / "fault.log").read_text().splitlines()]
    assert answer["error"] == {"code": -32601, "message": "codexhub does not handle item/tool/call"}
