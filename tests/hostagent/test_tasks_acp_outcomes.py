"""How an ACP session ends when the user ends it or it idles out: as its last turn ended
(docs/protocol.md, "Agent sessions (ACP)"), with tests/bin/acp_agent.py as the coding agent:
a refusal, an error, a limit or an interrupt never reads "succeeded"."""

import pytest

from tests.kits.agent_tasks import (
    acp_project,
    finished,
    prompts,
    running_agent,
    timeline,
    turn_count,
    turns,
)
from tests.kits.fakehub import wait_for


def notices(hub, task_id):
    return [(e["text"], e["level"]) for e in timeline(hub, task_id).values() if e["kind"] == "notice"]


async def test_a_session_whose_last_turn_was_refused_fails_when_the_user_ends_it(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "say I will not do that.\nstop refusal\nsay never said")
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"], done["exit_code"]) == (
        "failed",
        "the last turn was refused by the agent",
        None,
    )
    assert turns(hub, 1) == [("working", None, None), ("waiting", None, "refusal")]
    assert timeline(hub, 1)["agent:1"]["text"] == "I will not do that."
    assert notices(hub, 1) == [("The agent refused this turn.", "error")]


async def test_a_refused_turn_and_then_a_good_one_succeeds(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "stop refusal")
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.message", 1, message_id=2, text="say Done after all.")
        await turn_count(hub, 1, "waiting", 2)
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"]) == ("succeeded", None)
    assert [reason for _, _, reason in turns(hub, 1)] == [None, "refusal", None, "end_turn"]


async def test_a_last_turn_the_agent_answered_with_an_error_fails_the_session(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", "say Working on it.\nfail the model is overloaded")
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"]) == ("failed", "the last turn failed: the model is overloaded")
    assert turns(hub, 1) == [("working", None, None), ("waiting", None, None)]
    assert notices(hub, 1) == [("The agent reported an error: the model is overloaded", "error")]


@pytest.mark.parametrize(
    ("reason", "notice", "error"),
    [
        (
            "max_tokens",
            "The turn stopped at the model's token limit.",
            "the last turn stopped at the model's token limit",
        ),
        (
            "max_turn_requests",
            "The turn stopped at the agent's limit of model requests.",
            "the last turn stopped at the agent's limit of model requests",
        ),
    ],
)
async def test_a_session_that_idles_out_after_a_turn_cut_at_a_limit_fails(
    tmp_path, monkeypatch, reason, notice, error
):
    cfg, root = acp_project(tmp_path, monkeypatch, idle_timeout=1)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", f"say Half an answer\nstop {reason}")
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"]) == ("failed", error)
    assert turns(hub, 1)[-1] == ("waiting", None, reason)
    assert notices(hub, 1) == [(notice, "error"), ("The session ended after 1 s without a message.", "info")]


async def test_a_session_ended_after_its_last_turn_was_interrupted_reads_cancelled(tmp_path, monkeypatch):
    cfg, root = acp_project(tmp_path, monkeypatch)
    async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
        await agent.assign(1, "docs", "agent", f"hold {tmp_path / 'never'}")
        await wait_for(lambda: prompts(tmp_path / "acp.log"), what="the turn")
        await agent.tell("task.interrupt", 1)
        await turn_count(hub, 1, "waiting", 1)
        await agent.tell("task.end", 1)
        done = await finished(hub, 1)
    assert (done["outcome"], done["error"]) == ("cancelled", "the last turn was interrupted")
    assert notices(hub, 1) == []  # the user stopped it: nothing to explain
