from hostagent.outbox import Outbox
from tests.kits.fakehub import FakeHub, seqs, start_link, stop_link, wait_for


def prefill(path, n: int) -> None:
    with Outbox(path) as box:
        for i in range(1, n + 1):
            box.append("host", "note", {"i": i})


async def test_it_resends_unacked_messages_after_a_drop(tmp_path):
    prefill(tmp_path / "outbox.sqlite3", 2)

    async def drop_before_acking(conn):
        await conn.welcome(streams={})
        await conn.recv_until(lambda m: m.get("type") == "hello")
        conn.abort()

    async with FakeHub(scripts=[drop_before_acking]) as hub:
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        first = await hub.connection(0)
        second = await hub.connection(1)
        await wait_for(lambda: link.outbox.count() == 0, what="everything acked")
        await stop_link(link, task)
    assert seqs(first) == [("note", 1), ("note", 2), ("hello", 3)]
    assert seqs(second) == [("note", 1), ("note", 2), ("hello", 3), ("hello", 4)]
    assert [(m["type"], m["seq"]) for m in hub.applied_messages] == seqs(second)


async def test_it_drops_what_the_hub_already_applied_on_welcome(tmp_path):
    prefill(tmp_path / "outbox.sqlite3", 3)
    async with FakeHub() as hub:
        hub.applied = {"host": 2}
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        conn = await hub.connection(0)
        await wait_for(lambda: link.outbox.count() == 0, what="everything acked")
        await stop_link(link, task)
    assert seqs(conn) == [("note", 3), ("hello", 4)]


async def test_it_never_reuses_a_seq_the_hub_applied_when_the_outbox_was_lost(tmp_path):
    async with FakeHub() as hub:
        hub.applied = {"host": 41}
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        conn = await hub.connection(0)
        await wait_for(lambda: seqs(conn) and link.outbox.count() == 0, what="hello acked")
        await stop_link(link, task)
    assert seqs(conn) == [("hello", 42)]
    assert hub.applied == {"host": 42}


async def test_it_resends_from_expected_on_a_gap(tmp_path):
    prefill(tmp_path / "outbox.sqlite3", 3)

    async def gap(conn):
        await conn.welcome(streams={"host": 0})
        for _ in range(4):
            await conn.recv()
        await conn.send({"type": "error", "error": "gap", "stream": "host", "seq": 4, "expected": 2})
        await conn.serve()

    async with FakeHub(scripts=[gap]) as hub:
        hub.applied = {"host": 1}
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        conn = await hub.connection(0)
        await wait_for(lambda: link.outbox.count() == 0, what="everything acked")
        await stop_link(link, task)
    assert [s for _, s in seqs(conn)] == [1, 2, 3, 4, 2, 3, 4]
    assert [m["seq"] for m in hub.applied_messages] == [2, 3, 4]
