"""A computer executor on one monitor of a desk with two (`monitor` in agent.toml): a real X
server with two monitors side by side (Xorg's dummy driver, arranged with xrandr: DUMMY0
1024x768, the primary, and DUMMY1 800x600 to its right), the tests' Tk program on the second.
Steps count from that monitor's top left corner and stop at its edges, and its screenshots and
live frames show it alone; the program's own record says where the input landed.
"""

import io

import pytest
from PIL import Image

from hostagent.config import ConfigError
from hostagent.tasks.computer_live import _Grabber
from tests.hostagent.test_tasks_computer import BACKENDS, at, png_size, run_steps, running
from tests.kits.agent_tasks import load_config
from tests.kits.agent_toml import executor_toml
from tests.kits.xvfb import recorder, two_monitors

RIGHT = (1024, 0)  # where DUMMY1 starts on the screen


@pytest.fixture(scope="module")
def display(tmp_path_factory):
    with two_monitors(tmp_path_factory.mktemp("xorg")) as server:
        yield server


@pytest.fixture
def tk(display, tmp_path):
    with recorder(display, tmp_path / "tk", origin=RIGHT) as program:
        yield program


def on_right(point):
    """A point of the screen in DUMMY1's own pixels."""
    return point[0] - RIGHT[0], point[1] - RIGHT[1]


def config(tmp_path, display, **keys):
    keys.setdefault("step_timeout", 10)
    return load_config(tmp_path, executor_toml("desk", type="computer", display=display.name, **keys))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_steps_count_from_the_chosen_monitors_corner(tmp_path, display, tk, backend):
    left, top, right, bottom = tk.layout["canvas"]
    start, end = on_right((left + 10, top + 10)), on_right((right - 20, bottom - 20))
    steps = [
        {"action": "screenshot"},
        at(on_right(tk.layout["entry"]), action="click"),
        {"action": "type", "text": "second screen"},
        at(on_right(tk.layout["button"]), action="click"),
        {"action": "drag", "x": start[0], "y": start[1], "to_x": end[0], "to_y": end[1]},
        {"action": "scroll", "direction": "down", "amount": 1, "x": start[0], "y": start[1]},
    ]
    cfg = config(tmp_path, display, monitor="DUMMY1", input=backend)
    async with running(tmp_path, cfg) as (agent, hub, artifacts):
        done = await run_steps(agent, hub, 1, steps)
    assert done["outcome"] == "succeeded", done
    assert tk.text() == "second screen"
    assert tk.events("click") == [{"event": "click", "button": "Press me"}]
    assert tk.events("drag") == [
        {"event": "drag", "start": [left + 10, top + 10], "end": [right - 20, bottom - 20]}
    ]
    assert [e["direction"] for e in tk.events("scroll")] == ["down"]
    for index in range(len(steps)):  # the monitor alone, not the strip of both
        assert png_size(artifacts.uploads[f"step-{index}.png"][1]) == (800, 600)


async def test_a_coordinate_off_the_chosen_monitor_is_refused_before_any_input(tmp_path, display, tk):
    async with running(tmp_path, config(tmp_path, display, monitor="DUMMY1")) as (agent, hub, _):
        wide = await run_steps(agent, hub, 1, [{"action": "click", "x": 900, "y": 10}])
        tall = await run_steps(agent, hub, 2, [{"action": "move", "x": 10, "y": 700}])
    assert wide["error"] == (
        "step 1 (click 900,10): x 900 is outside the screen (800x600; coordinates count from 0)"
    )
    assert tall["error"].startswith("step 1 (move 10,700): y 700 is outside the screen (800x600")
    assert tk.acted() == []


async def test_primary_names_the_primary_monitor_and_no_monitor_means_the_whole_screen(tmp_path, display, tk):
    toml = executor_toml("main", type="computer", display=display.name, monitor="primary")
    toml += executor_toml("all", type="computer", display=display.name)
    async with running(tmp_path, load_config(tmp_path, toml)) as (agent, hub, artifacts):
        main = await run_steps(agent, hub, 1, [{"action": "screenshot"}], "main")
        main_shot = artifacts.uploads["step-0.png"][1]
        whole = await run_steps(agent, hub, 2, [at(tk.layout["button"], action="click")], "all")
        whole_shot = artifacts.uploads["step-0.png"][1]
    assert main["outcome"] == whole["outcome"] == "succeeded"
    assert png_size(main_shot) == (1024, 768) and png_size(whole_shot) == (1824, 768)
    assert tk.events("click") == [{"event": "click", "button": "Press me"}]  # screen pixels, as before


async def test_a_monitor_the_display_lacks_fails_the_task_naming_the_ones_it_has(tmp_path, display):
    async with running(tmp_path, config(tmp_path, display, monitor="HDMI-9")) as (agent, hub, _):
        done = await run_steps(agent, hub, 1, [{"action": "screenshot"}])
    assert done["outcome"] == "failed"
    assert done["error"] == (
        'the display has no monitor "HDMI-9": its monitors are DUMMY0, DUMMY1 '
        "(set monitor to one, or leave it out)"
    )


def test_the_live_view_shows_the_chosen_monitor_alone(display, tk):
    shapes = {}
    for monitor in ("DUMMY1", None):
        grabber = _Grabber(display.name, 160 * 1024, monitor)
        try:
            frame = grabber.frame(forced=True)
        finally:
            grabber.close()
        assert frame is not None
        image = Image.open(io.BytesIO(frame.data))
        assert image.size == (frame.width, frame.height)
        shapes[monitor] = frame.width / frame.height
    assert shapes["DUMMY1"] == pytest.approx(800 / 600, rel=0.01)
    assert shapes[None] == pytest.approx(1824 / 768, rel=0.01)


@pytest.mark.parametrize("name", ["", "HDMI 1", "../x", "a" * 65, "-x", 1])
def test_a_monitor_name_that_is_no_output_name_is_refused(tmp_path, name):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, executor_toml("desk", type="computer", monitor=name))
    assert 'executors.desk.monitor must be a monitor\'s output name, like "HDMI-1"' in str(info.value)
