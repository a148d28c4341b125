from hostagent import __version__
from protocol.version import PROTOCOL_VERSION
from tests.kits.fakehub import FakeHub, seqs, start_link, stop_link, wait_for


async def test_it_sends_hello_after_welcome_and_heartbeats_at_its_interval(tmp_path):
    async def script(conn):
        await conn.welcome(streams={}, heartbeat_interval=0.1)
        await conn.serve()

    async with FakeHub(scripts=[script]) as hub:
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        conn = await hub.connection(0)
        await wait_for(lambda: sum(m["type"] == "heartbeat" for m in conn.received) >= 3, what="3 heartbeats")
        hello = next(m for m in conn.received if m["type"] == "hello")
        assert hello == {
            "type": "hello",
            "stream": "host",
            "seq": 1,
            "payload": {
                "agent_version": __version__,
                "protocol_version": PROTOCOL_VERSION,
                "clis": [],
                "platform": "test-x86_64",
                "capabilities": [],
                "executors": [],
            },
        }
        assert conn.received[0] == hello  # before any heartbeat
        assert {"type": "heartbeat"} in conn.received
        await wait_for(lambda: link.outbox.count() == 0, what="the ack of hello")
        assert link.state.name == "CONNECTED"
        await stop_link(link, task)
        assert link.state.name == "DISCONNECTED"


async def test_it_sends_new_messages_at_once_when_connected(tmp_path):
    async with FakeHub() as hub:
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        conn = await hub.connection(0)
        await wait_for(lambda: link.outbox.count() == 0 and seqs(conn), what="hello acked")
        assert await link.send("host", "note", {"text": "hi"}) == 2
        await wait_for(lambda: ("note", 2) in seqs(conn), what="the note")
        await wait_for(lambda: link.outbox.count() == 0, what="the note's ack")
        await stop_link(link, task)
    assert [m["type"] for m in hub.applied_messages] == ["hello", "note"]
