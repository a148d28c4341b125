"""A codex executor's models (docs/protocol.md, "The executors a host offers"): what the real
Codex lists (`model/list`) reaches hello, and a task runs on the model and reasoning effort
chosen for it, among those; anything else is refused before codex starts."""

from protocol.link import Hello
from tests.kits.agent_tasks import finished, running_agent, turn_count
from tests.kits.responses_api import ResponsesApi, codex_project, message

EFFORTS = {"minimal", "low", "medium", "high", "xhigh", "max", "ultra"}


def task(task_id: int, **fields):
    return {"id": task_id, "project": "docs", "executor": "codex", "prompt": "Hello", "target": "", **fields}


async def assign(hub, assigned):
    await hub.connections[-1].send({"type": "task.assign", "task": assigned})


async def test_the_models_codex_lists_reach_hello(tmp_path, monkeypatch):
    with ResponsesApi([]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (_, agent):
            await agent.service.learn_models()
            codex = agent.service.executors["codex"]
            described = agent.link.executors

    assert codex.models, "codex listed no model"
    for model in codex.models:
        assert model["id"] and set(model["efforts"]) <= EFFORTS
        assert model["default_effort"] in (None, *model["efforts"])
    hello = Hello.model_validate({"executors": described})
    assert [m.model_dump() for m in hello.executors[0].models] == list(codex.models)


async def test_a_task_runs_on_the_model_and_effort_chosen(tmp_path, monkeypatch):
    with ResponsesApi([[message("Hi.")]]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.service.learn_models()
            model = next(m for m in agent.service.executors["codex"].models if "high" in m["efforts"])
            await assign(hub, task(1, model=model["id"], effort="high"))  # codex sends max and ultra as xhigh
            await turn_count(hub, 1, "waiting", 1, timeout=20)
            await agent.tell("task.end", 1)
            done = await finished(hub, 1)

    assert done["outcome"] == "succeeded"
    [request] = api.requests()
    assert (request["model"], request["reasoning"]["effort"]) == (model["id"], "high")


async def test_a_model_or_effort_it_does_not_offer_is_refused(tmp_path, monkeypatch):
    with ResponsesApi([]) as api:
        cfg, root = codex_project(tmp_path, monkeypatch, api)
        async with running_agent(tmp_path, cfg, {"docs": root}) as (hub, agent):
            await agent.service.learn_models()
            model = agent.service.executors["codex"].models[0]
            await assign(hub, task(1, model="gpt-from-elsewhere"))
            await assign(hub, task(2, model=model["id"], effort="zany"))
            unknown, wrong_effort = await finished(hub, 1), await finished(hub, 2)

    assert unknown["outcome"] == "failed"
    assert unknown["error"].startswith("model 'gpt-from-elsewhere' is not one this host's Codex offers (")
    assert wrong_effort["outcome"] == "failed"
    assert wrong_effort["error"].startswith("reasoning effort 'zany' is not one of ")
    assert api.requests() == []  # codex never ran
