"""The running agent applies edits of its agent.toml (hostagent/liveconfig.py): the real CLI,
its real watcher on a real file, against a FakeHub."""

import asyncio
import sys

from tests.hostagent.conftest import ROOT
from tests.kits.agent_mirror import write
from tests.kits.agent_toml import executor_toml
from tests.kits.fakehub import FakeHub, wait_for
from tests.kits.live_config import agent_toml, finished, listed, live_agent, offered

DUMP = executor_toml("dump", type="command", command=[str(ROOT / "tests" / "bin" / "argv-dump"), "{prompt}"])
ECHO = executor_toml("echo", type="command", command=["/bin/echo", "{prompt}"])


def batches(hub, project):
    return hub.mirror_batches(project)


async def test_added_then_removed_projects_and_executors_reach_the_hub_once_each(tmp_path):
    docs, notes = tmp_path / "docs", tmp_path / "notes"
    write(docs, "a.md", "a")
    write(notes, "n.md", "n")
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir(mode=0o700)
    async with FakeHub() as hub:
        path.write_text(agent_toml(hub.url, {"docs": docs}, ECHO))
        async with live_agent(hub, path) as agent:
            await wait_for(lambda: batches(hub, "docs"), 8, "the first snapshot")

            path.write_text(agent_toml(hub.url, {"docs": docs, "notes": notes}, ECHO + DUMP))
            await wait_for(lambda: batches(hub, "notes") and len(offered(hub)) == 2, 5, "the new project")
            (snapshot,) = batches(hub, "notes")
            assert snapshot["reset"] is True and [c["path"] for c in snapshot["changes"]] == ["n.md"]

            path.write_text(agent_toml(hub.url, {"docs": docs}, ECHO))
            await wait_for(lambda: len(listed(hub)) == 3 and len(offered(hub)) == 3, 5, "the removal")
            # A task for what is gone is refused with a reason the phone shows.
            await hub.connections[-1].send(
                {
                    "type": "task.assign",
                    "task": {"id": 7, "project": "notes", "executor": "echo", "prompt": "hi", "target": ""},
                }
            )
            await hub.connections[-1].send(
                {
                    "type": "task.assign",
                    "task": {"id": 8, "project": "docs", "executor": "dump", "prompt": "hi", "target": ""},
                }
            )
            await wait_for(lambda: finished(hub, 7) and finished(hub, 8), 5, "the refusals")
            # A change in the removed folder is no longer sent; one in the kept folder is.
            write(notes, "late.md", "never sent")
            write(docs, "b.md", "b")
            await wait_for(lambda: len(batches(hub, "docs")) == 2, 5, "the change in docs")
            assert await agent.stop() == 0

    # One edit, one update: each list once, in order, and docs never scanned again.
    assert listed(hub) == [["docs"], ["docs", "notes"], ["docs"]]
    assert offered(hub) == [["echo"], ["dump", "echo"], ["echo"]]
    assert len(batches(hub, "notes")) == 1
    assert [c["path"] for c in batches(hub, "docs")[1]["changes"]] == ["b.md"]
    assert finished(hub, 7)["error"] == "project 'notes' is not shared by this host"
    assert finished(hub, 8)["error"] == "executor 'dump' is not offered by this host (it offers: echo)"
    assert "sharing project 'notes'" in agent.log and "no longer sharing project 'notes'" in agent.log
    assert "offering executor dump" in agent.log and "executor dump is no longer offered" in agent.log


async def test_a_broken_edit_is_logged_and_changes_nothing_until_a_good_one(tmp_path):
    docs, notes = tmp_path / "docs", tmp_path / "notes"
    write(docs, "a.md", "a")
    write(notes, "n.md", "n")
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir(mode=0o700)
    async with FakeHub() as hub:
        path.write_text(agent_toml(hub.url, {"docs": docs}, ECHO))
        async with live_agent(hub, path) as agent:
            await wait_for(lambda: batches(hub, "docs"), 8, "the first snapshot")
            good = agent_toml(hub.url, {"docs": docs, "notes": notes}, ECHO)

            path.write_text(good.replace("[projects]", "[projects"))  # not TOML
            await agent.logged("the agent goes on with the config it had")
            path.write_text(good.replace(str(notes), "notes"))  # TOML, but a relative folder
            await agent.logged("the agent goes on with the config it had", count=2)
            path.write_text(good.replace(ECHO, ECHO.replace("/bin/echo", "bin/echo")))
            await agent.logged("the agent goes on with the config it had", count=3)
            assert listed(hub) == [["docs"]] and offered(hub) == [["echo"]]
            assert hub.connections[-1].close_code is None  # still connected

            path.write_text(good)
            await wait_for(lambda: batches(hub, "notes"), 5, "the good edit")
            assert await agent.stop() == 0
    assert listed(hub) == [["docs"], ["docs", "notes"]]
    errors = [line for line in agent.lines if "the agent goes on with the config it had" in line]
    assert "cannot read" in errors[0] and "agent.toml" in errors[0]
    assert "projects.notes: the path must be an absolute path" in errors[1]
    assert "executors.echo.command[0] must be an absolute path or a program name" in errors[2]


async def test_pairing_changes_wait_for_a_restart_and_say_so_once(tmp_path):
    docs = tmp_path / "docs"
    write(docs, "a.md", "a")
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir(mode=0o700)
    async with FakeHub() as hub:
        path.write_text(agent_toml(hub.url, {"docs": docs}))
        async with live_agent(hub, path) as agent:
            await wait_for(lambda: batches(hub, "docs"), 8, "the first snapshot")
            moved = agent_toml("https://elsewhere.example", {"docs": docs})
            path.write_text(moved)
            await agent.logged("hub changed in")
            path.write_text(moved + "# a comment\n")  # the same values: not said again
            path.write_text(moved.replace('name = "box"', 'name = "box2"'))
            await agent.logged("name changed in")
            assert hub.connections[-1].close_code is None and len(hub.connections) == 1
            assert await agent.stop() == 0
    assert agent.log.count("hub changed in") == 1
    assert "restart the agent to use it" in agent.log
    assert "elsewhere" not in agent.log and "chub_" not in agent.log  # neither the new URL nor a token
    assert listed(hub) == [["docs"]] and len(offered(hub)) == 1


async def test_project_add_and_remove_from_the_command_line_apply_to_the_running_agent(tmp_path):
    docs, notes = tmp_path / "docs", tmp_path / "notes"
    write(docs, "a.md", "a")
    write(notes, "n.md", "n")
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir(mode=0o700)

    async def cli(*args):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hostagent", "project", *args, "--config", str(path),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, err
        return out.decode()

    async with FakeHub() as hub:
        path.write_text("# my host\n" + agent_toml(hub.url, {"docs": docs}))
        async with live_agent(hub, path):
            await wait_for(lambda: batches(hub, "docs"), 8, "the first snapshot")
            out = await cli("add", str(notes))
            assert "A running agent shares it at once." in out
            await wait_for(lambda: batches(hub, "notes"), 5, "the added project")
            out = await cli("remove", "docs")
            assert "A running agent stops sharing it at once." in out
            await wait_for(lambda: len(listed(hub)) == 3, 5, "the removal")
    assert listed(hub) == [["docs"], ["docs", "notes"], ["notes"]]
    assert path.read_text().startswith("# my host\n")


async def test_a_running_task_keeps_the_executor_it_started_with(tmp_path):
    docs = tmp_path / "docs"
    write(docs, "a.md", "a")
    gate = tmp_path / "gate"
    slow = executor_toml(
        "slow",
        type="command",
        command=["/bin/sh", "-c", f'while [ ! -e "{gate}" ]; do sleep 0.02; done; echo done'],
    )
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir(mode=0o700)
    async with FakeHub() as hub:
        path.write_text(agent_toml(hub.url, {"docs": docs}, slow))
        async with live_agent(hub, path):
            await wait_for(lambda: batches(hub, "docs"), 8, "the first snapshot")
            await hub.connections[-1].send(
                {
                    "type": "task.assign",
                    "task": {"id": 1, "project": "docs", "executor": "slow", "prompt": "go", "target": ""},
                }
            )
            await wait_for(
                lambda: [m for m in hub.applied_messages if m["type"] == "task.started"], 5, "the start"
            )
            path.write_text(agent_toml(hub.url, {"docs": docs}, ECHO))
            await wait_for(lambda: len(offered(hub)) == 2, 5, "the new executors")
            gate.touch()
            await wait_for(lambda: finished(hub, 1), 5, "the task's end")
    assert offered(hub) == [["slow"], ["echo"]]
    assert finished(hub, 1)["outcome"] == "succeeded"
    log = "".join(m["payload"]["text"] for m in hub.applied_messages if m["type"] == "task.log")
    assert log == "done\n"
