"""`python -m hostagent run` offers git and answers a git.request about a shared repository."""

import signal

from hostagent import config
from tests.kits.agent_git import results
from tests.kits.fakehub import TOKEN, FakeHub, finish, start_agent, wait_for
from tests.kits.gitrepo import make_repo, sh

REQUEST = "state-request-0123456789"


async def test_the_running_agent_answers_a_git_request(tmp_path):
    project = make_repo(tmp_path / "docs", {"notes.txt": "one\n"})
    (project / "notes.txt").write_text("two\n")
    config_path = tmp_path / "cfg" / "agent.toml"

    async def script(conn):
        await conn.welcome()
        await conn.send({"type": "git.request", "request": REQUEST, "action": "state", "project": "docs"})
        await conn.serve()

    async with FakeHub(scripts=[script]) as hub:
        cfg = config.Config(hub=hub.url, host_id=12, name="box", token=TOKEN, projects={"docs": str(project)})
        config.save(config_path, cfg)
        proc = await start_agent(config_path)
        conn = await hub.connection(0, timeout=8)
        await wait_for(lambda: results(hub, REQUEST), 8, "the git.result")
        proc.send_signal(signal.SIGTERM)
        code, _, err = await finish(proc)
    assert code == 0, err
    hello = next(m for m in conn.received if m.get("type") == "hello")
    assert "git" in hello["payload"]["capabilities"]
    (answer,) = results(hub, REQUEST)
    assert answer["ok"] is True and answer["state"]["branch"] == "main"
    assert answer["state"]["dirty"] == [{"path": "notes.txt", "status": ".M"}]
    assert "-one\n+two\n" in answer["state"]["diff"]
    assert sh(project, "status", "--porcelain") == " M notes.txt\n"
