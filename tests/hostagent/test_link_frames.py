import json
import logging

import pytest

from hostagent.link import HostLink, Registry
from hostagent.outbox import Outbox
from tests.kits.fakehub import FakeHub, start_link, stop_link, wait_for


class RecordingWs:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def send(self, data: str) -> None:
        self.sent.append(json.loads(data))


@pytest.fixture
async def link(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite3")
    box.append("host", "note", {"i": 1})
    box.append("host", "note", {"i": 2})
    link = HostLink("http://127.0.0.1:1", "chub_x", box, platform="test-x86_64")
    link.ws = RecordingWs()
    yield link
    link._stop_heartbeat()
    box.close()


def welcome(streams, interval=20):
    return json.dumps({"type": "welcome", "host_id": 12, "heartbeat_interval": interval, "streams": streams})


def ack(seq, stream="host"):
    return json.dumps({"type": "ack", "stream": stream, "seq": seq})


def gap(expected):
    return json.dumps({"type": "error", "error": "gap", "stream": "host", "seq": 9, "expected": expected})


# frames from the hub -> (type, seq) the agent sends, seqs left in the outbox
TABLE = [
    ([welcome({"host": 0})], [("note", 1), ("note", 2), ("hello", 3)], [1, 2, 3]),
    ([welcome({"host": 1})], [("note", 2), ("hello", 3)], [2, 3]),
    ([welcome({"host": 5})], [("hello", 6)], [6]),
    ([welcome({"host": 0}, interval="fast")], [("note", 1), ("note", 2), ("hello", 3)], [1, 2, 3]),
    ([welcome("nonsense")], [("note", 1), ("note", 2), ("hello", 3)], [1, 2, 3]),
    ([ack(1)], [], [2]),
    ([ack(7)], [], []),
    ([ack(2, stream="other")], [], [1, 2]),
    ([json.dumps({"type": "ack", "stream": "host", "seq": "2"})], [], [1, 2]),
    ([gap(2)], [("note", 2)], [2]),
    ([gap(1)], [("note", 1), ("note", 2)], [1, 2]),
    ([ack(1), gap(1)], [("note", 1)], [1]),  # the hub lost an acked message: renumber
    ([json.dumps({"type": "error", "error": "bad frame"})], [], [1, 2]),
    ([json.dumps({"type": "heartbeat_ack"})], [], [1, 2]),
    (["not json", "[1, 2]", '"text"', '{"type": 5}', '{"no": "type"}', b"\x00binary"], [], [1, 2]),
    ([json.dumps({"type": "from_the_future", "x": 1}), ack(2)], [], []),
]


@pytest.mark.parametrize(("frames", "sent", "left"), TABLE)
async def test_it_handles_scripted_frames(link, frames, sent, left):
    for frame in frames:
        await link.handle_frame(frame)
    assert [(m["type"], m["seq"]) for m in link.ws.sent if "seq" in m] == sent
    assert [m["seq"] for m in link.outbox.pending()] == left


async def test_it_logs_a_failing_handler_and_goes_on(tmp_path, caplog):
    registry = Registry()
    seen = []

    @registry.on("boom")
    async def boom(link, message):
        raise RuntimeError("handler bug")

    @registry.on("fine")
    async def fine(link, message):
        seen.append(message)

    with Outbox(tmp_path / "o.sqlite3") as box:
        link = HostLink("http://127.0.0.1:1", "chub_x", box, platform="p", registry=registry)
        await link.handle_frame('{"type": "boom"}')
        await link.handle_frame('{"type": "fine"}')
    assert seen == [{"type": "fine"}]
    assert "handler for 'boom' failed" in caplog.text and "handler bug" in caplog.text


async def test_it_survives_malformed_frames_from_the_hub(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="hostagent")

    async def junk(conn):
        await conn.welcome(heartbeat_interval=0.1)
        for frame in ("{not json", "[]", '{"type": "mystery"}', '{"type": "error", "error": "\x1b[2J"}'):
            await conn.send(frame)
        await conn.ws.send(b"\x00\x01")
        await conn.serve()

    async with FakeHub(scripts=[junk]) as hub:
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        conn = await hub.connection(0)
        await wait_for(lambda: sum(m["type"] == "heartbeat" for m in conn.received) >= 2, what="heartbeats")
        assert link.state.name == "CONNECTED" and len(hub.connections) == 1
        await stop_link(link, task)
    assert "not JSON" in caplog.text and "unknown type 'mystery'" in caplog.text
    assert "\x1b" not in caplog.text


async def test_an_encoded_payload_is_sent_as_made_and_stored_in_its_stored_form(link):
    from hostagent.link import frame_text
    from hostagent.outbox import EncodedPayload

    link.welcomed = True
    payload = EncodedPayload({"text": "é\n"}, json.dumps({"text": "é\n"}), stored='{"text": null, "ref": 1}')
    seq = await link.send("mirror", "mirror.batch", payload)
    assert link.ws.sent[-1] == {
        "type": "mirror.batch",
        "stream": "mirror",
        "seq": seq,
        "payload": {"text": "é\n"},
    }
    assert link.outbox.pending("mirror")[0]["payload"] == {"text": None, "ref": 1}
    plain = {"a": [1, None, "\u202e"], "b": {"c": 2.5}}
    await link.send("host", "note", plain)
    assert link.ws.sent[-1]["payload"] == plain
    assert frame_text("t", "s", 7, json.dumps(plain)) == json.dumps(
        {"type": "t", "stream": "s", "seq": 7, "payload": plain}
    )
    with pytest.raises(ValueError, match="too large"):
        await link.send("host", "note", {"x": "a" * (1024 * 1024)})


async def test_a_resend_rebuilds_stored_payloads_with_the_streams_restorer(link):
    from hostagent.outbox import EncodedPayload

    link.welcomed = True
    link.restorers["mirror"] = lambda type_, payload: {**payload, "restored": type_}
    await link.send("mirror", "mirror.batch", EncodedPayload({"n": 1}, '{"n": 1}', stored='{"n": 0}'))
    link.ws.sent.clear()
    await link.handle_frame(gap(1))  # the hub lost the host stream: resend everything of it
    await link.handle_frame(
        json.dumps({"type": "error", "error": "gap", "stream": "mirror", "seq": 5, "expected": 1})
    )
    mirror = [m for m in link.ws.sent if m["stream"] == "mirror"]
    assert [m["payload"] for m in mirror] == [{"n": 0, "restored": "mirror.batch"}]
    assert all("restored" not in m["payload"] for m in link.ws.sent if m["stream"] == "host")
