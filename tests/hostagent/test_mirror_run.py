import json
import signal

from hostagent import config
from tests.kits.agent_mirror import write
from tests.kits.fakehub import TOKEN, FakeHub, finish, start_agent, wait_for


def changes(batches):
    return [c for b in batches for c in b["changes"]]


async def test_it_sends_exactly_the_three_changes_made_while_the_agent_was_stopped(tmp_path):
    docs = tmp_path / "docs"
    # The config folder (token, outbox, index) inside the shared folder: it must never be sent.
    config_path = docs / ".codexhub" / "agent.toml"
    for name in ("a", "b", "c", "d", "e"):
        write(docs, f"{name}.md", name)
    write(docs, ".gitignore", "*.tmp\n")
    async with FakeHub() as hub:
        config.save(
            config_path,
            config.Config(hub=hub.url, host_id=12, name="box", token=TOKEN, projects={"docs": str(docs)}),
        )
        proc = await start_agent(config_path)
        conn = await hub.connection(0, timeout=8)
        await wait_for(lambda: hub.mirror_batches() and hub.applied.get("mirror") == 2, 8, "the snapshot")
        proc.send_signal(signal.SIGTERM)
        code, _, err = await finish(proc)
        assert code == 0, err
        hello = next(m for m in conn.received if m.get("type") == "hello")
        assert "mirror" in hello["payload"]["capabilities"]
        (snapshot,) = hub.mirror_batches()
        assert snapshot["reset"] is True and len(snapshot["changes"]) == 6

        write(docs, "a.md", "A changed")
        write(docs, "b.md", "b changed")
        (docs / "c.md").unlink()
        write(docs, "ignored.tmp", "never sent")
        proc = await start_agent(config_path)
        await hub.connection(1, timeout=8)
        await wait_for(lambda: len(hub.mirror_batches()) == 2, 8, "the changes")
        proc.send_signal(signal.SIGTERM)
        code, _, err = await finish(proc)
        assert code == 0, err
    second = hub.mirror_batches()[1]
    assert second["reset"] is False
    assert sorted((c["op"], c["path"]) for c in second["changes"]) == [
        ("delete", "c.md"),
        ("upsert", "a.md"),
        ("upsert", "b.md"),
    ]
    assert [m["type"] for m in hub.mirror_messages()] == ["mirror.projects", "mirror.batch"] * 2
    assert not any(".codexhub" in c["path"] for c in changes(hub.mirror_batches()))
    assert TOKEN not in json.dumps(hub.applied_messages)
