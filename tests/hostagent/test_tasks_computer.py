"""The `computer` executor on a real X server (Xvfb) driving a real Tk program written in the
tests (tests/kits/xvfb.py), which records what reaches it: the tests read the program's own
record, not only the step results. The FakeHub sees `task.*` messages and a FakeArtifactApi
takes the screenshots. Hostile step lists are refused before any input: the record stays empty.
"""

import contextlib
import struct
import time

import pytest

from tests.kits.agent_tasks import events, finished, load_config, log_text, running_agent
from tests.kits.agent_toml import executor_toml
from tests.kits.fakehub import FakeArtifactApi, wait_for
from tests.kits.xvfb import recorder, xvfb


@pytest.fixture(scope="module")
def display():
    with xvfb() as server:
        yield server


@pytest.fixture
def tk(display, tmp_path):
    with recorder(display, tmp_path / "tk") as program:
        yield program


BACKENDS = ("xdotool", "pynput")  # input through xdotool (Linux's default) or pynput (macOS's)


def computer_config(tmp_path, display, **keys):
    keys.setdefault("step_timeout", 10)
    return load_config(tmp_path, executor_toml("desk", type="computer", display=display.name, **keys))


@contextlib.asynccontextmanager
async def running(tmp_path, cfg):
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    with FakeArtifactApi() as artifacts:
        async with running_agent(tmp_path, cfg, {"docs": root}, uploads_to=artifacts.url) as (hub, agent):
            yield agent, hub, artifacts


async def run_steps(agent, hub, task_id, steps, executor="desk", timeout=30):
    task = {
        "id": task_id,
        "project": "docs",
        "executor": executor,
        "prompt": "Use the recorder",
        "target": "",
    }
    await hub.connections[-1].send({"type": "task.assign", "task": {**task, "computer_steps": steps}})
    return await finished(hub, task_id, timeout)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def at(point, **step):
    return {"x": point[0], "y": point[1], **step}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_it_clicks_types_and_presses_keys_in_a_real_program(tmp_path, display, tk, backend):
    steps = [
        {"action": "screenshot"},
        at(tk.layout["button"], action="click"),
        {"action": "wait", "title": "Thanks"},
        at(tk.layout["entry"], action="click"),
        {"action": "type", "text": "héllo wörld"},
        {"action": "key", "keys": "ctrl+shift+t"},
        {"action": "key", "keys": "BackSpace"},
    ]
    cfg = computer_config(tmp_path, display, input=backend)
    async with running(tmp_path, cfg) as (agent, hub, artifacts):
        done = await run_steps(agent, hub, 1, steps)
        hello = [m["payload"] for m in hub.applied_messages if m["type"] == "hello"][0]
        text = log_text(hub, 1)
    assert (done["outcome"], done["error"], done["changes"]) == ("succeeded", None, [])
    assert [(s["index"], s["action"], s["ok"], s["artifact"]) for s in done["steps"]] == [
        (i, step["action"], True, f"step-{i}.png") for i, step in enumerate(steps)
    ]
    assert done["steps"][2]["text"] == 'window "Thanks", class Toplevel is shown'
    # The program's own record: one click, the text as typed, the combination with its modifiers.
    assert tk.events("click") == [{"event": "click", "button": "Press me"}]
    assert tk.text() == "héllo wörl"  # BackSpace took the last letter
    assert {"event": "key", "keysym": "T", "ctrl": True, "shift": True} in tk.events("key")
    for i in range(len(steps)):
        content_type, png = artifacts.uploads[f"step-{i}.png"]
        assert content_type == "image/png" and png_size(png) == (display.width, display.height)
    assert f"display {display.name} (1024x768) ready\n" in text
    assert 'step 5 (type "héllo wörld"): ok\n' in text and "step 6 (key ctrl+shift+t): ok\n" in text
    assert events(hub, 1)[:2] == [("task.received", 1), ("task.started", 1)]
    desk = next(e for e in hello["executors"] if e["name"] == "desk")
    assert desk["kind"] == "computer" and desk["actions"] == list(steps_actions())


def steps_actions():
    return ("screenshot", "move", "click", "type", "key", "scroll", "drag", "wait", "focus")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_it_drags_scrolls_and_focuses_a_window_by_title(tmp_path, display, tk, backend):
    left, top, right, bottom = tk.layout["canvas"]
    steps = [
        {"action": "drag", "x": left + 10, "y": top + 10, "to_x": right - 20, "to_y": bottom - 20},
        {"action": "scroll", "direction": "down", "amount": 2, "x": left + 50, "y": top + 50},
        {"action": "scroll", "direction": "up"},  # where the pointer is: still over the canvas
        {"action": "focus", "title": "Notes"},
        at(tk.layout["notes"], action="move"),
        {"action": "type", "text": "milk"},
    ]
    async with running(tmp_path, computer_config(tmp_path, display, input=backend)) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, steps)
    assert done["outcome"] == "succeeded", done
    assert tk.events("drag") == [
        {"event": "drag", "start": [left + 10, top + 10], "end": [right - 20, bottom - 20]}
    ]
    assert [e["direction"] for e in tk.events("scroll")] == ["down", "down", "up", "up", "up"]
    assert tk.events("notes")[-1]["value"] == "milk"
    assert done["steps"][3]["text"] == 'focused "Notes", class Toplevel'


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_double_click_reaches_the_program_as_two_clicks(tmp_path, display, tk, backend):
    async with running(tmp_path, computer_config(tmp_path, display, input=backend)) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, [at(tk.layout["button"], action="click", count=2)])
    assert done["outcome"] == "succeeded", done
    assert tk.events("click") == [{"event": "click", "button": "Press me"}] * 2


HOSTILE = [
    (
        [{"action": "click", "x": 5000, "y": 10}],
        "step 1 (click 5000,10): x 5000 is outside the screen (1024x768",
    ),
    (
        [{"action": "drag", "x": 1, "y": 1, "to_x": 10, "to_y": 768}],
        "step 1 (drag 1,1 to 10,768): to_y 768 is outside",
    ),
    ([{"action": "click", "x": 10, "y": 10, "count": 1000}], "step 1 (click): count must be 1-3 clicks"),
    (
        [{"action": "scroll", "direction": "down", "amount": 10**9}],
        "step 1 (scroll): amount must be 1-50 notches",
    ),
    ([{"action": "type", "text": "x" * 200_000}], "step 1 (type): text must be 1-2000 characters"),
    ([{"action": "key", "keys": "ctrl+hyper"}], "step 1 (key): unknown key 'hyper'"),
    (
        [{"action": "key", "keys": "t+ctrl"}],
        "step 1 (key): only modifiers (ctrl, shift, alt, super) may come before",
    ),
    ([{"action": "screenshot"}] * 51, "a computer task has at most 50 steps (this one has 51)"),
    ([{"action": "click", "x": -1, "y": 0}], "step 1 (click): x must be an integer 0-32767"),
    ([{"action": "click", "x": True, "y": 0}], "step 1 (click): x must be an integer 0-32767"),
    ([{"action": "click", "x": 1, "y": 2, "selector": "#buy"}], 'step 1 (click): unknown field "selector"'),
    ([{"action": "run", "command": "rm -rf /"}], 'step 1: unknown action "run"'),
    ([], "a computer task needs a list of 1-50 steps"),
    ("click", "a computer task needs a list of 1-50 steps"),
]


@pytest.mark.parametrize(("steps", "said"), HOSTILE)
async def test_a_hostile_step_list_is_refused_before_any_input(tmp_path, display, tk, steps, said):
    # A real click first in the list would show if anything ran before the refusal.
    if isinstance(steps, list) and steps and len(steps) < 50:
        steps = [at(tk.layout["button"], action="click"), *steps]
        said = "step 2" + said.removeprefix("step 1")
    async with running(tmp_path, computer_config(tmp_path, display)) as (agent, hub, artifacts):
        done = await run_steps(agent, hub, 1, steps)
    assert done["outcome"] == "failed" and done["error"].startswith(said[:200]), done["error"]
    assert not done.get("steps") and artifacts.uploads == {}
    assert tk.acted() == []


async def test_actions_and_the_number_of_them_are_the_hosts_to_limit(tmp_path, display, tk):
    cfg = computer_config(tmp_path, display, actions=["screenshot", "click"], max_actions=2)
    async with running(tmp_path, cfg) as (agent, hub, _):
        typed = await run_steps(
            agent, hub, 1, [at(tk.layout["entry"], action="click"), {"action": "type", "text": "x"}]
        )
        many = await run_steps(agent, hub, 2, [{"action": "screenshot"}] * 3)
        hello = [m["payload"] for m in hub.applied_messages if m["type"] == "hello"][0]
    assert typed["error"] == "step 2 (type): type is not allowed on this host (it allows screenshot, click)"
    assert many["error"] == "this host allows at most 2 actions per task (this one has 3)"
    assert hello["executors"][0]["actions"] == ["screenshot", "click"]
    assert tk.acted() == []


async def test_a_host_whose_computer_executor_is_off_runs_no_steps(tmp_path, display, tk):
    shell = executor_toml("shell", type="command", command=["/bin/echo", "{prompt}"])
    async with running(tmp_path, load_config(tmp_path, shell)) as (agent, hub, _):
        other = await run_steps(agent, hub, 1, [at(tk.layout["button"], action="click")], executor="desk")
        prompt = await run_steps(agent, hub, 2, [at(tk.layout["button"], action="click")], executor="shell")
        hello = [m["payload"] for m in hub.applied_messages if m["type"] == "hello"][0]
    assert other["error"] == "executor 'desk' is not offered by this host (it offers: shell)"
    assert prompt["error"] == "executor 'shell' takes a prompt, not computer steps"
    assert [e["kind"] for e in hello["executors"]] == ["command"]
    assert tk.acted() == []


async def test_only_windows_on_the_allow_list_get_input(tmp_path, display, tk):
    narrow = executor_toml(
        "narrow", type="computer", display=display.name, allowed_titles=["No*s"], allowed_classes=["xterm"]
    )
    wide = executor_toml("desk", type="computer", display=display.name)  # to put the pointer anywhere
    async with running(tmp_path, load_config(tmp_path, narrow + wide)) as (agent, hub, artifacts):
        notes = await run_steps(
            agent,
            hub,
            1,
            [at(tk.layout["notes"], action="click"), {"action": "type", "text": "eggs"}],
            "narrow",
        )
        button = await run_steps(agent, hub, 2, [at(tk.layout["button"], action="click")], "narrow")
        hover = await run_steps(agent, hub, 3, [at(tk.layout["entry"], action="move")], "narrow")
        await run_steps(agent, hub, 4, [{"action": "move", "x": 300, "y": 100}])  # over Recorder, no widget
        keys = await run_steps(agent, hub, 5, [{"action": "key", "keys": "ctrl+a"}], "narrow")
        focus = await run_steps(agent, hub, 6, [{"action": "focus", "title": "Recorder"}], "narrow")
        desktop = await run_steps(agent, hub, 7, [{"action": "click", "x": 1000, "y": 700}], "narrow")
    assert notes["outcome"] == "succeeded" and tk.events("notes")[-1]["value"] == "eggs"
    refused = "is not on this host's allowed windows"
    x, y = tk.layout["button"]
    assert (
        button["error"] == f'step 1 (click {x},{y}): the window at {x},{y} ("Recorder", class Tk) {refused}'
    )
    assert hover["error"].endswith(f'("Recorder", class Tk) {refused}')
    assert (
        keys["error"] == f'step 1 (key ctrl+a): the window with the keyboard ("Recorder", class Tk) {refused}'
    )
    assert focus["error"] == f'step 1 (focus "Recorder"): the window "Recorder", class Tk {refused}'
    assert desktop["error"].endswith(
        "the desktop at 1000,700 (no window) is not on this host's allowed windows"
    )
    assert button["steps"][0]["artifact"] == "step-0.png"  # what the screen showed when it was refused
    assert tk.events("click") == [] and tk.events("text") == [] and tk.events("key") == []


async def test_a_failed_step_stops_the_task_naming_it(tmp_path, display, tk):
    steps = [
        at(tk.layout["entry"], action="click"),
        {"action": "focus", "title": "No such window"},
        {"action": "type", "text": "never"},
    ]
    async with running(tmp_path, computer_config(tmp_path, display)) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, steps)
        waited = await run_steps(agent, hub, 2, [{"action": "wait", "title": "Later", "timeout": 1}])
    assert done["error"] == 'step 2 (focus "No such window"): no window titled "No such window" is shown'
    assert [s["ok"] for s in done["steps"]] == [True, False]
    assert waited["error"] == 'step 1 (wait "Later"): no window titled "Later" after 1 s'
    assert tk.text() == ""


@pytest.mark.parametrize("backend", BACKENDS)
async def test_cancel_halts_input_at_once(tmp_path, display, tk, backend):
    steps = [
        at(tk.layout["entry"], action="click"),
        {"action": "type", "text": "a" * 2000},
        at(tk.layout["button"], action="click"),
    ]
    cfg = computer_config(tmp_path, display, step_timeout=120, input=backend)
    async with running(tmp_path, cfg) as (agent, hub, _):
        task = {
            "id": 1,
            "project": "docs",
            "executor": "desk",
            "prompt": "Type",
            "target": "",
            "computer_steps": steps,
        }
        await hub.connections[-1].send({"type": "task.assign", "task": task})
        await wait_for(lambda: len(tk.text()) >= 20, 10, "typing to start")
        asked = time.monotonic()
        await agent.cancel(1)
        done = await finished(hub, 1)
        took = time.monotonic() - asked
        typed = len(tk.text())
    assert done["outcome"] == "cancelled" and took < 1.5
    assert 20 <= typed < 2000 and tk.events("click") == []
    # Nothing more arrives once the task ended: the record at the end of the agent is the same.
    assert len(tk.text()) == typed


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_display_that_is_not_there_fails_the_task_saying_so(tmp_path, display, backend):
    cfg = load_config(tmp_path, executor_toml("desk", type="computer", display=":9999", input=backend))
    async with running(tmp_path, cfg) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, [{"action": "screenshot"}])
    assert done["outcome"] == "failed" and done["error"].startswith("cannot open the display :9999")
