"""A computer task a model drives (docs/protocol.md, "Computer tasks: the agent loop"): a local
server speaking the Responses API's computer-use tool (tests/kits/computer_model.py) is the
model, a real X server (Xvfb) runs the Tk program written in the tests that records what reaches
it (tests/kits/xvfb.py), the FakeHub sees the timeline and the permission requests, and a
FakeArtifactApi takes the screenshots. The tests read the program's own record and what the
model server received.
"""

import contextlib
import struct
import time

import pytest

from tests.kits import computer_model as cm
from tests.kits.agent_tasks import (
    applied,
    finished,
    load_config,
    log_text,
    permission,
    running_agent,
    timeline,
)
from tests.kits.agent_toml import executor_toml
from tests.kits.fakehub import TOKEN, FakeArtifactApi, wait_for
from tests.kits.xvfb import recorder, xvfb

KEY_ENV = "CUA_TEST_KEY"
KEY = "sk-test-0123456789"
GOAL = "Press the button, then write héllo in the field"


@pytest.fixture(scope="module")
def display():
    with xvfb() as server:
        yield server


@pytest.fixture
def tk(display, tmp_path):
    with recorder(display, tmp_path / "tk") as program:
        yield program


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)


def model_config(tmp_path, display, model, **keys):
    keys.setdefault("step_timeout", 10)
    keys.setdefault("permission_timeout", 30)
    toml = executor_toml(
        "pilot",
        type="computer",
        display=display.name,
        base_url=f"{model.url}/v1",
        model="cua-test",
        api_key_env=KEY_ENV,
        **keys,
    )
    return load_config(tmp_path, toml)


@contextlib.asynccontextmanager
async def running(tmp_path, cfg):
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    with FakeArtifactApi() as artifacts:
        async with running_agent(tmp_path, cfg, {"docs": root}, uploads_to=artifacts.url) as (hub, agent):
            yield agent, hub, artifacts


async def send_goal(hub, task_id, goal=GOAL, **task):
    task = {"id": task_id, "project": "docs", "executor": "pilot", "prompt": goal, "target": "", **task}
    await hub.connections[-1].send({"type": "task.assign", "task": task})


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def actions(hub, task_id):
    """(title, status, artifact) of each action on the timeline."""
    return [
        (item["title"], item["status"], item.get("artifact"))
        for key, item in timeline(hub, task_id).items()
        if key.startswith("action:")
    ]


async def test_a_model_clicks_types_and_presses_keys_toward_its_goal(tmp_path, display, tk):
    bx, by = tk.layout["button"]
    ex, ey = tk.layout["entry"]
    script = [
        [cm.reasoning("The button first."), cm.click(bx, by)],
        [cm.click(ex, ey)],
        [cm.type_text("héllo")],
        [cm.keypress("CTRL", "SHIFT", "T")],
        [cm.message("Pressed the button and wrote héllo.")],
    ]
    with cm.ComputerModel(script) as model:
        cfg = model_config(tmp_path, display, model)
        async with running(tmp_path, cfg) as (agent, hub, artifacts):
            await send_goal(hub, 1)
            asked = await permission(hub, 1, timeout=20)
            assert tk.acted() == []  # nothing before the answer
            await agent.tell("task.answer", 1, request_id=asked["request_id"], option_id="allow")
            done = await finished(hub, 1, 30)
            hello = [m["payload"] for m in hub.applied_messages if m["type"] == "hello"][0]
            closed = applied(hub, "task.permission_closed", 1)
            text = log_text(hub, 1)
            items = timeline(hub, 1)
        requests, raw = model.requests(), model.raw()
    assert (done["outcome"], done["error"]) == ("succeeded", None), done
    # The program's own record: the click, the text as typed, the combination with its modifiers.
    assert tk.events("click") == [{"event": "click", "button": "Press me"}]
    assert tk.text() == "héllo"
    assert {"event": "key", "keysym": "T", "ctrl": True, "shift": True} in tk.events("key")
    # Only the first action on the application asked; the answer is what the agent went by.
    assert asked["title"] == f'click {bx},{by}: the first action on "Recorder", class Tk in this task'
    assert asked["tool_kind"] == "computer" and asked["on_timeout"] == "reject"
    assert [o["option_id"] for o in asked["options"]] == ["allow", "deny"]
    assert len(applied(hub, "task.permission", 1)) == 1
    assert closed == [{"task_id": 1, "request_id": "p1", "outcome": "selected", "option_id": "allow"}]
    # What the model server received: the tool and the goal with the screen, then each call's output.
    first = requests[0]
    assert first["model"] == "cua-test" and first["truncation"] == "auto"
    assert first["tools"] == [
        {"type": "computer_use_preview", "display_width": 1024, "display_height": 768, "environment": "linux"}
    ]
    assert "previous_response_id" not in first and cm.notes_to_model(first) == [GOAL]
    assert png_size(cm.screenshot_png(first["input"][0]["content"][1])) == (1024, 768)
    assert [r.get("previous_response_id") for r in requests[1:]] == ["resp_1", "resp_2", "resp_3", "resp_4"]
    outputs = [cm.call_outputs(r) for r in requests[1:]]
    assert [[o["call_id"] for o in out] for out in outputs] == [
        ["call_1"],
        ["call_2"],
        ["call_3"],
        ["call_4"],
    ]
    for (output,) in outputs:
        assert output["output"]["type"] == "computer_screenshot"
        assert png_size(cm.screenshot_png(output)) == (1024, 768)
        assert output["acknowledged_safety_checks"] == []
    # Nothing but the goal and screenshots: never the host token; the key only in its header.
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in raw)
    assert not any(TOKEN in r.body.decode() or TOKEN in str(r.headers) for r in raw)
    assert KEY not in text and KEY not in str(hub.applied_messages)
    # The timeline: the goal, each action with the screen after it, the model's words.
    assert items["user:prompt"]["text"] == GOAL
    assert items["thought:1"]["text"] == "The button first."
    assert actions(hub, 1) == [
        (f"click {bx},{by}", "completed", "action-1.png"),
        (f"click {ex},{ey}", "completed", "action-2.png"),
        ('type "héllo"', "completed", "action-3.png"),
        ("key ctrl+shift+t", "completed", "action-4.png"),
    ]
    assert items["agent:1"]["text"] == "Pressed the button and wrote héllo."
    for n in range(1, 5):
        content_type, png = artifacts.uploads[f"action-{n}.png"]
        assert content_type == "image/png" and png_size(png) == (1024, 768)
    assert 'action 3 (type "héllo"): done\n' in text and "the model finished after 4 actions\n" in text
    pilot = next(e for e in hello["executors"] if e["name"] == "pilot")
    assert pilot["kind"] == "computer" and pilot["goal"] is True


async def test_an_action_the_host_does_not_offer_asks_and_a_denied_one_is_not_done(tmp_path, display, tk):
    ex, ey = tk.layout["entry"]
    script = [
        [cm.click(ex, ey)],
        [cm.type_text("secret")],
        [cm.type_text("eggs")],
        [cm.message("Wrote eggs.")],
    ]
    with cm.ComputerModel(script) as model:
        cfg = model_config(tmp_path, display, model, actions=["screenshot", "click"], allowed_classes=["Tk"])
        async with running(tmp_path, cfg) as (agent, hub, _):
            await send_goal(hub, 1)
            first = await permission(hub, 1, timeout=20)
            await agent.tell("task.answer", 1, request_id="p1", option_id="deny")
            second = await permission(hub, 1, 2, timeout=20)
            typed_before = tk.text()
            await agent.tell("task.answer", 1, request_id="p2", option_id="allow")
            done = await finished(hub, 1, 30)
        requests = model.requests()
    reason = "type is not among this host's actions (screenshot, click)"
    assert first["title"] == f'type "secret": {reason}' and second["title"] == f'type "eggs": {reason}'
    assert typed_before == "" and tk.text() == "eggs"  # denied: never typed; allowed: typed
    assert done["outcome"] == "succeeded"
    assert actions(hub, 1) == [
        (f"click {ex},{ey}", "completed", "action-1.png"),
        ('type "secret"', "failed", None),
        ('type "eggs"', "completed", "action-3.png"),
    ]
    assert timeline(hub, 1)["action:2"]["text"] == "Denied: not done."
    # The model is told: the call's output (the screen as it is), then why it was not done.
    denied = requests[2]
    assert [o["call_id"] for o in cm.call_outputs(denied)] == ["call_2"]
    assert cm.notes_to_model(denied) == [
        f"The person watching this computer denied that action ({reason}): it was not done. "
        "Go on another way, or finish and say what you could not do."
    ]


async def test_a_window_off_the_allow_list_asks_and_no_answer_rejects(tmp_path, display, tk):
    bx, by = tk.layout["button"]
    with cm.ComputerModel([[cm.click(bx, by)], [cm.message("Could not.")]]) as model:
        cfg = model_config(tmp_path, display, model, allowed_titles=["Notes"], permission_timeout=1)
        async with running(tmp_path, cfg) as (agent, hub, _):
            await send_goal(hub, 1)
            asked = await permission(hub, 1, timeout=20)
            done = await finished(hub, 1, 30)
            closed = applied(hub, "task.permission_closed", 1)
    assert asked["title"] == (
        f'click {bx},{by}: "Recorder", class Tk is not on this host\'s allowed windows; '
        'the first action on "Recorder", class Tk in this task'
    )
    assert asked["timeout"] == 1
    assert closed == [{"task_id": 1, "request_id": "p1", "outcome": "timed_out", "option_id": "deny"}]
    assert done["outcome"] == "succeeded" and tk.acted() == []


async def test_a_safety_check_asks_before_it_is_acknowledged(tmp_path, display, tk):
    bx, by = tk.layout["button"]
    check = cm.safety_check("cu_sc_1", "malicious_instructions", "The screen holds instructions to ignore.")
    script = [[cm.click(bx, by, safety=[check])], [cm.message("Pressed.")]]
    with cm.ComputerModel(script) as model:
        cfg = model_config(tmp_path, display, model, allowed_classes=["Tk"])
        async with running(tmp_path, cfg) as (agent, hub, _):
            await send_goal(hub, 1)
            asked = await permission(hub, 1, timeout=20)
            assert tk.acted() == []
            await agent.tell("task.answer", 1, request_id="p1", option_id="allow")
            done = await finished(hub, 1, 30)
        requests = model.requests()
    assert (
        asked["title"]
        == f"click {bx},{by}: the model's safety check: The screen holds instructions to ignore."
    )
    assert [o["name"] for o in asked["options"]] == ["Go ahead", "Stop the task"]
    assert done["outcome"] == "succeeded" and tk.events("click") == [{"event": "click", "button": "Press me"}]
    assert cm.call_outputs(requests[1])[0]["acknowledged_safety_checks"] == [check]


async def test_a_refused_safety_check_ends_the_task_with_nothing_done(tmp_path, display, tk):
    bx, by = tk.layout["button"]
    check = cm.safety_check("cu_sc_1", "sensitive_domain", "A sensitive page.")
    with cm.ComputerModel([[cm.click(bx, by, safety=[check])]]) as model:
        cfg = model_config(tmp_path, display, model, allowed_classes=["Tk"])
        async with running(tmp_path, cfg) as (agent, hub, _):
            await send_goal(hub, 1)
            await permission(hub, 1, timeout=20)
            await agent.tell("task.answer", 1, request_id="p1", option_id="deny")
            done = await finished(hub, 1, 30)
        requests = model.requests()
    assert done["outcome"] == "failed"
    assert (
        done["error"]
        == f"action 1 (click {bx},{by}): the model's safety check was refused (sensitive_domain)"
    )
    assert tk.acted() == [] and len(requests) == 1  # never acknowledged


async def test_the_action_budget_ends_the_task(tmp_path, display, tk):
    ex, ey = tk.layout["entry"]
    script = [[cm.click(ex, ey)], [cm.type_text("a")], [cm.type_text("b")], [cm.message("never")]]
    with cm.ComputerModel(script) as model:
        cfg = model_config(tmp_path, display, model, allowed_classes=["Tk"], max_actions=2)
        async with running(tmp_path, cfg) as (agent, hub, _):
            await send_goal(hub, 1)
            done = await finished(hub, 1, 30)
            items = timeline(hub, 1)
    assert (done["outcome"], done["error"]) == ("failed", "the action budget (2) is spent")
    assert tk.text() == "a"
    assert [a[:2] for a in actions(hub, 1)] == [(f"click {ex},{ey}", "completed"), ('type "a"', "completed")]
    assert items["notice:1"] == {
        "kind": "notice",
        "text": "The model asked for more: the action budget (2) is spent.",
        "level": "error",
    }


HOSTILE = [
    ([cm.click(5000, 10)], "action 1: x 5000 is outside the screen (1024x768; coordinates count from 0)"),
    ([cm.call({"type": "run_shell", "command": "rm -rf ~"})], "action 1: unknown action type 'run_shell'"),
    ([cm.type_text("x" * 1_000_000)], "action 1: text must be 1-2000 characters"),
    ([cm.keypress("CTRL", "HYPER")], "action 1: unknown key 'HYPER'"),
    (
        [cm.click(10, 10, button="back")],
        "action 1: a click with the 'back' button, which this host does not click",
    ),
    ([cm.drag((10, 10))], "action 1: a drag needs a path of at least two points"),
    ([cm.call({"type": "click", "x": "10", "y": 10})], "action 1: x must be an integer"),
    (cm.BROKEN, "the model's answer is not JSON: "),
    (cm.http_error(500), "the endpoint answered HTTP 500: "),
    (cm.json_reply({"id": "resp_1", "output": "none"}), "the model's answer has no output list"),
]


@pytest.mark.parametrize(("turn", "said"), HOSTILE)
async def test_hostile_model_output_fails_the_task_before_any_input(tmp_path, display, tk, turn, said):
    with cm.ComputerModel([turn]) as model:
        async with running(tmp_path, model_config(tmp_path, display, model)) as (agent, hub, artifacts):
            await send_goal(hub, 1)
            done = await finished(hub, 1, 30)
            asked = applied(hub, "task.permission", 1)
            text = log_text(hub, 1)
    assert done["outcome"] == "failed" and done["error"].startswith(said[:200]), done["error"]
    assert tk.acted() == [] and artifacts.uploads == {} and asked == []
    assert said[:60] in text and KEY not in text


async def test_steps_for_a_goal_executor_are_refused(tmp_path, display, tk):
    with cm.ComputerModel([]) as model:
        async with running(tmp_path, model_config(tmp_path, display, model)) as (agent, hub, _):
            await send_goal(hub, 1, computer_steps=[{"action": "click", "x": 1, "y": 1}])
            done = await finished(hub, 1)
        assert model.requests() == []
    assert done["error"] == "executor 'pilot' takes a goal in words (a model drives it), not steps"
    assert tk.acted() == []


async def test_cancel_halts_the_models_input_at_once(tmp_path, display, tk):
    ex, ey = tk.layout["entry"]
    with cm.ComputerModel([[cm.click(ex, ey)], [cm.type_text("a" * 2000)]]) as model:
        cfg = model_config(tmp_path, display, model, allowed_classes=["Tk"], step_timeout=120)
        async with running(tmp_path, cfg) as (agent, hub, _):
            await send_goal(hub, 1)
            await wait_for(lambda: len(tk.text()) >= 20, 15, "typing to start")
            asked = time.monotonic()
            await agent.cancel(1)
            done = await finished(hub, 1)
            took = time.monotonic() - asked
            typed = len(tk.text())
        assert len(model.requests()) == 2  # nothing more was asked of the model
    assert done["outcome"] == "cancelled" and took < 1.5
    assert 20 <= typed < 2000 and len(tk.text()) == typed


async def test_the_screen_goes_live_to_whoever_watches_while_the_model_drives(tmp_path, display, tk):
    ex, ey = tk.layout["entry"]
    script = [[cm.click(ex, ey)], [cm.type_text("the quick brown fox " * 4)], [cm.message("Typed.")]]
    with cm.ComputerModel(script) as model:
        cfg = model_config(tmp_path, display, model, allowed_classes=["Tk"])
        async with running(tmp_path, cfg) as (agent, hub, _):
            await send_goal(hub, 1)
            await hub.connections[-1].send({"type": "computer.watch", "task_id": 1, "seconds": 15})
            done = await finished(hub, 1, 30)
            frames = [frame for _, frame in hub.frames if frame["task_id"] == 1]
    assert done["outcome"] == "succeeded" and tk.text() == "the quick brown fox " * 4
    assert len(frames) >= 2 and [f["frame"] for f in frames] == list(range(1, len(frames) + 1))
    assert {(f["mime"], f["width"], f["height"]) for f in frames} == {("image/jpeg", 780, 585)}


# The config, without a display ---------------------------------------------------------------


def test_it_reads_a_computer_executor_a_model_drives(tmp_path):
    from hostagent.tasks.computer import summary
    from hostagent.tasks.executors import offered

    toml = executor_toml(
        "pilot",
        type="computer",
        base_url="https://api.openai.com/v1",
        model="computer-use-preview",
        api_key_env="OPENAI_API_KEY",
        permission_timeout=120,
        on_permission_timeout="wait",
        max_actions=30,
    )
    pilot = offered(load_config(tmp_path, toml), which=lambda _: None)["pilot"]
    assert pilot.drives_itself and (pilot.model, pilot.api_key_env) == (
        "computer-use-preview",
        "OPENAI_API_KEY",
    )
    assert (pilot.permission_timeout, pilot.on_permission_timeout, pilot.max_actions) == (120, "wait", 30)
    assert pilot.describe()["goal"] is True
    assert summary(pilot).endswith(
        "at most 30 actions; driven by model computer-use-preview at https://api.openai.com/v1 "
        "($OPENAI_API_KEY)"
    )
    steps = offered(load_config(tmp_path, executor_toml("desk", type="computer")), which=lambda _: None)
    assert not steps["desk"].drives_itself and "goal" not in steps["desk"].describe()


BASE = '[executors.c]\ntype = "computer"\n'
MODEL = BASE + 'model = "cua"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE + 'base_url = "https://api.openai.com/v1"',
            "executors.c.base_url is only for a computer executor a model drives: set model too",
        ),
        (BASE + "permission_timeout = 60", "executors.c.permission_timeout is only for a computer executor"),
        (MODEL, 'executors.c.base_url is required with model, like "https://api.openai.com/v1"'),
        (
            MODEL + 'base_url = "http://models.example/v1"\napi_key_env = "KEY"',
            "executors.c.base_url must use https:// to send an API key",
        ),
        (
            MODEL + 'base_url = "https://a.example/v1"\napi_key_env = "CODEXHUB_TOKEN"',
            "must not be a CODEXHUB_*",
        ),
        (MODEL + 'base_url = "https://a.example/v1?key=1"', "must not carry a user name, password, query"),
        (
            MODEL + 'base_url = "https://a.example/v1"\non_permission_timeout = "allow"',
            'must be "reject" or "wait"',
        ),
    ],
)
def test_it_refuses_bad_model_settings_naming_the_key(tmp_path, text, message):
    from hostagent.config import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, text)
    assert message in str(info.value)
