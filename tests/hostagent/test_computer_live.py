"""The live view of a computer task (docs/protocol.md, "Watching a computer task live"), on a
real X server (Xvfb) with the Tk recorder: the FakeHub says when someone watches
(`computer.watch`) and keeps each `computer.frame` with the time it came; the tests bound the
rate from those times, check each frame against the hub's model and look at its pixels."""

import asyncio
import contextlib
import io
import os

import pytest
from PIL import Image

from hostagent.config import ConfigError
from hostagent.tasks.computer_live import FrameTooLarge, encode
from hostagent.tasks.executors import offered
from tests.kits.agent_tasks import applied, finished, load_config, log_text, running_agent
from tests.kits.agent_toml import executor_toml
from tests.kits.fakehub import FakeArtifactApi, wait_for
from tests.kits.live_view import most_in_a_second, noise, picture
from tests.kits.xvfb import recorder, xvfb

TYPED = "the quick brown fox jumps over the lazy dog " * 6  # ~3 s of typing: the screen keeps changing


@pytest.fixture(scope="module")
def display():
    with xvfb() as server:
        yield server


@pytest.fixture
def tk(display, tmp_path):
    with recorder(display, tmp_path / "tk") as program:
        yield program


@contextlib.asynccontextmanager
async def running(tmp_path, display, **keys):
    keys.setdefault("step_timeout", 20)
    cfg = load_config(tmp_path, executor_toml("desk", type="computer", display=display.name, **keys))
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    with FakeArtifactApi() as artifacts:
        async with running_agent(tmp_path, cfg, {"docs": root}, uploads_to=artifacts.url) as (hub, agent):
            yield hub, agent


async def assign(hub, task_id, steps, *, watch=True):
    task = {"id": task_id, "project": "docs", "executor": "desk", "prompt": "Watch", "target": ""}
    conn = hub.connections[-1]
    await conn.send({"type": "task.assign", "task": {**task, "computer_steps": steps}})
    if watch:
        await conn.send({"type": "computer.watch", "task_id": task_id, "seconds": 15})


def frames_of(hub, task_id):
    return [(at, frame) for at, frame in hub.frames if frame["task_id"] == task_id]


def typing(tk):
    return [{"action": "click", "x": tk.layout["entry"][0], "y": tk.layout["entry"][1]},
            {"action": "type", "text": TYPED}]  # fmt: skip


async def test_frames_go_at_most_four_a_second_while_someone_watches(tmp_path, display, tk):
    async with running(tmp_path, display) as (hub, agent):
        await assign(hub, 1, typing(tk))
        done = await finished(hub, 1, timeout=30)
        received = list(hub.connections[-1].received)
    frames = frames_of(hub, 1)
    times = [at for at, _ in frames]
    assert done["outcome"] == "succeeded" and tk.text() == TYPED
    # The screen changed all along: frames came, never more than 4 within any second.
    assert len(frames) >= 8, len(frames)
    assert most_in_a_second(times) <= 4 + 1, times  # +1: a window may hold both of its ends
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 2.5 <= rate <= 4.4, rate  # about the cap: the screen changed all along
    assert [frame["frame"] for _, frame in frames] == list(range(1, len(frames) + 1))
    # Each is a JPEG of the whole 1024x768 screen fitted into 780 px, each unlike the one before.
    for _, frame in frames:
        image = picture(frame)
        assert (frame["mime"], image.format, image.size) == ("image/jpeg", "JPEG", (780, 585))
        assert (frame["width"], frame["height"]) == image.size
    datas = [frame["data"] for _, frame in frames]
    assert all(a != b for a, b in zip(datas, datas[1:], strict=False)), "an unchanged screen is sent again"
    # None came after the task's end: the last frame precedes task.finished on the link.
    ends = [i for i, m in enumerate(received) if m.get("type") == "task.finished"]
    last_frame = max(i for i, m in enumerate(received) if m.get("type") == "computer.frame")
    assert last_frame < ends[0]


async def test_nobody_watching_sends_no_frame_and_a_watch_brings_the_screen_at_once(tmp_path, display, tk):
    async with running(tmp_path, display) as (hub, agent):
        await assign(hub, 1, typing(tk), watch=False)
        await finished(hub, 1, timeout=30)
        # A watch for a task that ended, or one this agent never had, is ignored.
        for task_id in (1, 99):
            await hub.connections[-1].send({"type": "computer.watch", "task_id": task_id, "seconds": 15})
        await assign(hub, 2, [{"action": "wait", "seconds": 3}], watch=False)
        await wait_for(lambda: applied(hub, "task.started", 2), 10, "task 2 to start")
        assert hub.frames == []
        await hub.connections[-1].send({"type": "computer.watch", "task_id": 2, "seconds": 15})
        await wait_for(lambda: frames_of(hub, 2), 1, "the first frame after the watch")
        await finished(hub, 2, timeout=10)
    assert frames_of(hub, 1) == [] and frames_of(hub, 99) == []


async def test_an_unchanged_screen_sends_one_frame_per_watch(tmp_path, display):
    async with running(tmp_path, display) as (hub, agent):  # no window: the screen stays black
        await assign(hub, 1, [{"action": "wait", "seconds": 3}])
        await wait_for(lambda: frames_of(hub, 1), 2, "the first frame")
        await hub.connections[-1].send({"type": "computer.watch", "task_id": 1, "seconds": 15})
        await wait_for(lambda: len(frames_of(hub, 1)) == 2, 2, "the frame a new watch asks for")
        await finished(hub, 1)
    assert [frame["frame"] for _, frame in frames_of(hub, 1)] == [1, 2]
    assert len({frame["data"] for _, frame in frames_of(hub, 1)}) == 1


async def test_stop_ends_the_frames_with_the_input(tmp_path, display, tk):
    async with running(tmp_path, display) as (hub, agent):
        await assign(hub, 1, [*typing(tk), {"action": "type", "text": "x" * 2000}])
        await wait_for(lambda: len(frames_of(hub, 1)) >= 2, 10, "frames while it types")
        await agent.cancel(1)
        stopped = len(frames_of(hub, 1))
        done = await finished(hub, 1)
        after = len(frames_of(hub, 1))
        typed = len(tk.text())
        # Another task's end on the same link: anything task 1 had left to send has come by now.
        await assign(hub, 2, [{"action": "screenshot"}], watch=False)
        await finished(hub, 2)
        assert len(frames_of(hub, 1)) == after
    assert done["outcome"] == "cancelled"
    assert after - stopped <= 1  # at most the frame that was on its way
    assert len(tk.text()) == typed


async def test_a_screen_over_live_max_bytes_sends_no_frame_and_the_log_says_why(tmp_path, display):
    with noise(display, tmp_path / "noise"):
        async with running(tmp_path, display, live_max_bytes=1024) as (hub, agent):
            await assign(hub, 1, [{"action": "wait", "seconds": 1}])
            done = await finished(hub, 1)
            text = log_text(hub, 1)
    assert done["outcome"] == "succeeded" and frames_of(hub, 1) == []
    assert "live view: a frame of the screen takes " in text
    assert "over live_max_bytes (1024); no frame of it is sent\n" in text
    assert text.count("live view:") == 1


async def test_live_fps_0_turns_the_live_view_off(tmp_path, display, tk):
    async with running(tmp_path, display, live_fps=0) as (hub, agent):
        await assign(hub, 1, typing(tk))
        await finished(hub, 1, timeout=30)
    assert hub.frames == []


def noisy(width=1024, height=768):
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


def test_a_frame_is_made_smaller_until_it_fits_its_byte_cap():
    screen = noisy()
    roomy = encode(screen, 256 * 1024)
    assert (roomy.width, roomy.height) == (780, 585) and len(roomy.data) <= 256 * 1024
    tight = encode(screen, 40_000)  # lower quality is not enough for noise: half the size, or a quarter
    assert tight.width in (390, 195) and len(tight.data) <= 40_000
    assert Image.open(io.BytesIO(tight.data)).size == (tight.width, tight.height)
    tall = encode(noisy(600, 3000), 256 * 1024)  # a portrait screen fits 1600 px high
    assert tall.height <= 1600 and tall.width <= 780
    with pytest.raises(FrameTooLarge, match=r"over live_max_bytes \(1024\)"):
        encode(screen, 1024)


async def test_a_frame_never_waits_for_a_link_that_is_down(tmp_path, display, tk):
    async with running(tmp_path, display) as (hub, agent):
        sent = await agent.link.send_live({"type": "note"})
        agent.link.welcomed = False  # as between a drop and the next welcome
        dropped = await asyncio.wait_for(agent.link.send_live({"type": "note"}), 1)
        agent.link.welcomed = True
    assert (sent, dropped) == (True, False)


def test_the_live_view_is_configured_per_executor(tmp_path):
    text = '[executors.desk]\ntype = "computer"\nlive_fps = 2\nlive_max_bytes = 50000\n'
    text += '[executors.any]\ntype = "computer"\n[tasks]\nbuiltins = false\n'
    executors = offered(load_config(tmp_path, text), which=lambda _: None)
    assert (executors["desk"].live_fps, executors["desk"].live_max_bytes) == (2, 50000)
    assert (executors["any"].live_fps, executors["any"].live_max_bytes) == (4, 160 * 1024)


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("live_fps = 5", "executors.c.live_fps must be an integer between 0 and 4"),
        ("live_fps = 0.5", "executors.c.live_fps must be an integer between 0 and 4"),
        ("live_max_bytes = 1000", "executors.c.live_max_bytes must be an integer between 1024 and 262144"),
        ("live_max_bytes = 300000", "executors.c.live_max_bytes must be an integer between 1024 and 262144"),
    ],
)
def test_live_settings_out_of_range_are_refused(tmp_path, key, said):
    with pytest.raises(ConfigError, match=said):
        load_config(tmp_path, f'[executors.c]\ntype = "computer"\n{key}\n')
