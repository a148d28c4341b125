import os
import stat

from hostagent.outbox import Outbox, count_pending


def test_it_numbers_each_stream_from_1(tmp_path):
    with Outbox(tmp_path / "o.sqlite3") as box:
        assert [box.append("host", "hello", {"n": i}) for i in range(3)] == [1, 2, 3]
        assert box.append("files", "change", {}) == 1
        assert box.append("host", "hello", {}) == 4
    assert stat.S_IMODE(os.stat(tmp_path / "o.sqlite3").st_mode) == 0o600


def test_it_persists_across_reopen_and_never_reuses_a_seq(tmp_path):
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as box:
        box.append("host", "hello", {"n": 1})
        box.append("host", "hello", {"n": 2})
        box.ack("host", 2)
        assert box.count() == 0
    with Outbox(path) as box:
        assert box.append("host", "hello", {"n": 3}) == 3
        assert box.pending() == [{"type": "hello", "stream": "host", "seq": 3, "payload": {"n": 3}}]


def test_it_lists_pending_in_seq_order_and_acks_up_to_a_seq(tmp_path):
    with Outbox(tmp_path / "o.sqlite3") as box:
        for i in range(1, 6):
            box.append("host", "t", {"i": i})
        box.append("other", "t", {"i": 0})
        box.ack("host", 3)
        assert [m["seq"] for m in box.pending("host")] == [4, 5]
        assert [(m["stream"], m["seq"]) for m in box.pending()] == [("host", 4), ("host", 5), ("other", 1)]
        box.ack("host", 1)  # an old ack changes nothing
        assert box.count() == 3
    assert count_pending(tmp_path / "o.sqlite3") == 3
    assert count_pending(tmp_path / "missing.sqlite3") == 0
    assert not (tmp_path / "missing.sqlite3").exists()


def test_it_keeps_what_was_appended_when_the_process_dies(tmp_path):
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    box.append("host", "hello", {"x": "y"})
    # No close(): a killed process never gets to it. Another connection sees the commit.
    assert count_pending(path) == 1
    box.close()


def test_it_advances_and_renumbers(tmp_path):
    with Outbox(tmp_path / "o.sqlite3") as box:
        box.advance("host", 40)
        assert box.append("host", "a", {}) == 41
        box.append("host", "b", {})
        box.renumber("host", 1)
        assert [(m["seq"], m["type"]) for m in box.pending()] == [(1, "a"), (2, "b")]
        assert box.append("host", "c", {}) == 3


def test_it_opens_while_a_reader_holds_the_file_and_upgrades_an_old_outbox(tmp_path):
    import sqlite3

    path = tmp_path / "o.sqlite3"
    old = sqlite3.connect(path)  # an outbox written by an agent before WAL: rollback journal
    old.executescript(
        "CREATE TABLE streams (stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);"
        "CREATE TABLE messages (stream TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,"
        " payload TEXT NOT NULL, PRIMARY KEY (stream, seq));"
        "INSERT INTO streams VALUES ('host', 1);"
        """INSERT INTO messages VALUES ('host', 1, 'hello', '{"n": 1}');"""
    )
    old.close()
    with Outbox(path) as box:
        assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert box.append("host", "hello", {"n": 2}) == 2
    reader = sqlite3.connect(path)  # `hostagent status`, or a test, still has it open
    reader.execute("SELECT count(*) FROM messages").fetchone()
    with Outbox(path) as box:  # the agent starts meanwhile
        assert [m["payload"] for m in box.pending()] == [{"n": 1}, {"n": 2}]
        box.ack("host", 2)
    assert reader.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    reader.close()
    assert count_pending(path) == 0
