import asyncio
import json

from hostagent.mirror.batches import MAX_BATCH
from tests.kits.agent_mirror import paths_of, start_mirrored, stop_mirrored, write
from tests.kits.fakehub import FakeHub, wait_for


def changes(batches):
    return [c for b in batches for c in b["changes"]]


async def test_it_sends_hello_then_projects_then_a_reset_snapshot(tmp_path):
    docs = tmp_path / "docs"
    write(docs, "readme.md", "# Docs\n")
    write(docs, "guide/intro.md", "intro")
    empty = tmp_path / "empty"
    empty.mkdir()
    async with FakeHub() as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {"docs": docs, "empty": empty})
        conn = await hub.connection(0)
        await wait_for(
            lambda: len(hub.mirror_batches()) == 2 and link.outbox.count() == 0, what="the snapshots"
        )
        await stop_mirrored(link, task, mirror)
    sequenced = [(m["stream"], m["type"]) for m in conn.received if "seq" in m]
    assert sequenced == [
        ("host", "hello"),
        ("mirror", "mirror.projects"),
        ("mirror", "mirror.batch"),
        ("mirror", "mirror.batch"),
    ]
    hello = next(m for m in conn.received if m.get("type") == "hello")
    assert hello["payload"]["capabilities"] == ["mirror"]
    projects = hub.mirror_messages("mirror.projects")[0]["payload"]
    assert projects == {"projects": [{"name": "docs", "git": False}, {"name": "empty", "git": False}]}
    docs_batches = hub.mirror_batches("docs")
    assert [b["reset"] for b in docs_batches] == [True]
    assert paths_of(changes(docs_batches)) == {"readme.md", "guide", "guide/intro.md"}
    assert hub.mirror_batches("empty") == [{"project": "empty", "reset": True, "changes": []}]
    assert [m["seq"] for m in hub.mirror_messages()] == [1, 2, 3]
    assert all(len(json.dumps(m["payload"])) <= MAX_BATCH for m in hub.mirror_messages())


async def test_it_sends_only_changes_after_a_reconnect(tmp_path):
    docs = tmp_path / "docs"
    write(docs, "a.md", "a")
    write(docs, "b.md", "b")

    async def drop_after_the_snapshot(conn):
        await conn.welcome()
        task = asyncio.ensure_future(conn.serve())
        await wait_for(lambda: conn.hub.mirror_batches(), what="the snapshot")
        await wait_for(lambda: link.outbox.count() == 0, what="acks")
        write(docs, "a.md", "changed while connected?")  # no watcher: only the next sync sees it
        task.cancel()
        conn.abort()

    async with FakeHub(scripts=[drop_after_the_snapshot]) as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {"docs": docs})
        await hub.connection(1)
        await wait_for(
            lambda: len(hub.mirror_batches()) == 2 and link.outbox.count() == 0, what="the changes"
        )
        await stop_mirrored(link, task, mirror)
    first, second = hub.mirror_batches()
    assert first["reset"] is True and second["reset"] is False
    assert [(c["op"], c["path"], c["text"]) for c in second["changes"]] == [
        ("upsert", "a.md", "changed while connected?")
    ]
    assert [m["type"] for m in hub.mirror_messages()] == [
        "mirror.projects",
        "mirror.batch",
        "mirror.projects",
        "mirror.batch",
    ]


async def test_it_answers_a_resync_with_a_full_snapshot(tmp_path):
    docs = tmp_path / "docs"
    write(docs, "a.md", "a")
    write(docs, "sub/b.md", "b")

    async def resync(conn):
        await conn.welcome()
        task = asyncio.ensure_future(conn.serve())
        await wait_for(lambda: len(conn.hub.mirror_batches()) == 1, what="the first snapshot")
        await conn.send({"type": "mirror.resync", "project": "docs"})
        await task

    async with FakeHub(scripts=[resync]) as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {"docs": docs})
        await wait_for(lambda: len(hub.mirror_batches()) == 2 and link.outbox.count() == 0, what="the resync")
        await stop_mirrored(link, task, mirror)
    first, second = hub.mirror_batches()
    assert first["reset"] is True and second["reset"] is True
    assert paths_of(second["changes"]) == {"a.md", "sub", "sub/b.md"}


async def test_it_queues_watched_changes_while_the_link_is_down(tmp_path):
    docs = tmp_path / "docs"
    write(docs, "a.md", "a")
    dropped = asyncio.Event()

    async def drop_after_the_snapshot(conn):
        await conn.welcome()
        task = asyncio.ensure_future(conn.serve())
        await wait_for(lambda: conn.hub.mirror_batches() and link.outbox.count() == 0, what="the snapshot")
        task.cancel()
        conn.abort()
        dropped.set()

    async def late(conn):
        await wait_for(lambda: link.outbox.pending("mirror"), what="a change queued while down")
        await conn.welcome()
        await conn.serve()

    async with FakeHub(scripts=[drop_after_the_snapshot, late]) as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {"docs": docs}, watch=True)
        await mirror.start()
        await dropped.wait()
        await wait_for(lambda: link.ws is None or not link.welcomed, what="the drop")
        write(docs, "offline.md", "written while down")
        await hub.connection(1)
        await wait_for(
            lambda: "offline.md" in paths_of(changes(hub.mirror_batches())) and link.outbox.count() == 0,
            what="the queued change",
        )
        await stop_mirrored(link, task, mirror)
    texts = {c["path"]: c.get("text") for c in changes(hub.mirror_batches())}
    assert texts["offline.md"] == "written while down"


async def test_it_sends_an_empty_project_list_without_projects(tmp_path):
    async with FakeHub() as hub:
        link, task, mirror = start_mirrored(hub, tmp_path, {})
        conn = await hub.connection(0)
        await wait_for(lambda: hub.mirror_messages() and link.outbox.count() == 0, what="mirror.projects")
        await stop_mirrored(link, task, mirror)
    hello = next(m for m in conn.received if m.get("type") == "hello")
    assert hello["payload"]["capabilities"] == []
    assert [m["payload"] for m in hub.mirror_messages()] == [{"projects": []}]
