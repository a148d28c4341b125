"""Managing a host from the phone with the real agent (`python -m hostagent run`) against a FakeHub:
a folder shared from the phone is mirrored at once (the agent applies what it wrote in agent.toml),
a project removed stops being shared, and a restart closes the link cleanly, runs the agent again
in the same process (os.execv, same PID) and answers once."""

from __future__ import annotations

import psutil

from hostagent import config
from hostagent.manage import MANAGE_OFF
from tests.kits.agent_manage import results
from tests.kits.fakehub import FakeHub, wait_for
from tests.kits.live_config import agent_toml, listed, live_agent


def hellos(hub: FakeHub) -> list[dict]:
    return [m["payload"] for m in hub.applied_messages if m.get("stream") == "host" and m["type"] == "hello"]


async def ask(hub: FakeHub, request: str, action: str, **fields) -> dict:
    await hub.connections[-1].send({"type": "host.manage", "request": request, "action": action, **fields})
    found = await wait_for(lambda: results(hub, request), 10, f"the result of {action}")
    return found[0]


async def test_share_remove_and_restart_with_the_real_agent(tmp_path):
    code = tmp_path / "code"
    (code / "api" / ".git").mkdir(parents=True)
    (code / "api" / "README.md").write_text("# api\n")
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir()
    async with FakeHub() as hub:
        manage = f'\n[manage]\n# the phone may pick from here\nallow = true\nroots = ["{code}"]\n'
        path.write_text(agent_toml(hub.url, {}) + manage)
        async with live_agent(hub, path) as agent:
            assert "manage" in hellos(hub)[0]["capabilities"]
            pid = agent.proc.pid

            added = await ask(hub, "a" * 24, "add_project", path=str(code / "api"), name="api")
            assert added["ok"] is True, added
            await wait_for(lambda: ["api"] in listed(hub), 5, "mirror.projects with api")
            await wait_for(lambda: hub.mirror_messages("mirror.batch"), 5, "api's files")

            removed = await ask(hub, "r" * 24, "remove_project", name="api")
            assert removed["ok"] is True
            await wait_for(lambda: listed(hub)[-1] == [], 5, "mirror.projects without api")
            assert config.load(path).projects == {} and "# the phone may pick from here" in path.read_text()

            first = hub.connections[-1]
            restarted = await ask(hub, "s" * 24, "restart")
            assert restarted["ok"] is True
            await first.closed.wait()
            assert first.close_code == 1000
            await wait_for(lambda: len(hub.connections) == 2 and len(hellos(hub)) >= 2, 15, "the agent again")
            assert agent.proc.returncode is None and agent.proc.pid == pid
            assert psutil.Process(pid).cmdline()[1:4] == ["-m", "hostagent", "run"]
            await agent.logged("restarting, as the hub asked")
            # Asked again after the restart (the hub had not seen the answer yet): not run twice.
            await hub.connections[-1].send({"type": "host.manage", "request": "s" * 24, "action": "restart"})
            listing = await ask(hub, "f" * 24, "folders")
            assert listing["ok"] and len(hub.connections) == 2
        assert len(results(hub, "s" * 24)) == 1


async def test_allowing_it_in_agent_toml_offers_it_without_a_restart(tmp_path):
    path = tmp_path / "cfg" / "agent.toml"
    path.parent.mkdir()
    async with FakeHub() as hub:
        path.write_text(agent_toml(hub.url, {}))
        async with live_agent(hub, path):
            assert "manage" not in hellos(hub)[-1]["capabilities"]
            refused = await ask(hub, "o" * 24, "folders")
            assert (refused["ok"], refused["error"]) == (False, MANAGE_OFF)
            path.write_text(agent_toml(hub.url, {}) + f'\n[manage]\nallow = true\nroots = ["{tmp_path}"]\n')
            await wait_for(lambda: "manage" in hellos(hub)[-1]["capabilities"], 5, "a hello offering manage")
            listing = await ask(hub, "p" * 24, "folders")
            assert listing["ok"] and listing["roots"] == [str(tmp_path)]
            path.write_text(agent_toml(hub.url, {}))
            await wait_for(lambda: "manage" not in hellos(hub)[-1]["capabilities"], 5, "a hello without it")
