"""The ledger's layout: a file from before its schema version gains the git tables, keeping its tasks."""

import sqlite3

from hostagent.tasks.ledger import RECEIVED, SCHEMA, WORKING_COPY, Change, Ledger, Workspace

OLD_LAYOUT = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY, state TEXT NOT NULL, assignment TEXT, acked INTEGER NOT NULL DEFAULT 0
);
INSERT INTO meta VALUES ('owner', 'hub 12');
INSERT INTO tasks VALUES (5, 'received', '{"project": "docs", "prompt": "p"}', 1);
"""


def test_an_older_ledger_gains_the_new_tables_and_keeps_its_tasks(tmp_path):
    path = tmp_path / "tasks.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(OLD_LAYOUT)
    db.close()

    with Ledger(path, owner="hub 12") as ledger:
        assert ledger.entries(RECEIVED) == [(5, {"project": "docs", "prompt": "p"}, True)]
        ledger.set_workspace(Workspace(5, "docs", WORKING_COPY))
        ledger.record_changes(5, [Change("a.txt", "1" * 64, None, b"before")])
        assert ledger.request_start("git", "r" * 16)
    with Ledger(path, owner="hub 12") as ledger:
        assert ledger.changes(5) == [Change("a.txt", "1" * 64, None, b"before")]
        assert ledger.workspace(5) == Workspace(5, "docs", WORKING_COPY, recorded=True)
        assert ledger.requests_running("git") == ["r" * 16]
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA),)
    db.close()


def test_another_owner_starts_with_nothing(tmp_path):
    path = tmp_path / "tasks.sqlite3"
    with Ledger(path, owner="hub 12") as ledger:
        ledger.add(1, RECEIVED)
        ledger.set_workspace(Workspace(1, "docs", WORKING_COPY))
        ledger.record_changes(1, [Change("a.txt", None, "2" * 64)])
        ledger.request_start("git", "r" * 16)
    with Ledger(path, owner="hub 13") as ledger:
        assert ledger.state(1) is None and ledger.workspace(1) is None
        assert ledger.changes(1) == [] and ledger.requests_running("git") == []


def test_only_the_last_working_copy_tasks_keep_their_changes(tmp_path, monkeypatch):
    monkeypatch.setattr("hostagent.tasks.ledger.KEPT_CHANGES", 2)
    with Ledger(tmp_path / "tasks.sqlite3") as ledger:
        for task_id in (1, 2, 3):
            ledger.set_workspace(Workspace(task_id, "docs", WORKING_COPY))
            ledger.record_changes(task_id, [Change("a.txt", None, "2" * 64)])
        assert [bool(ledger.changes(t)) for t in (1, 2, 3)] == [False, True, True]
        assert [ledger.workspace(t).recorded for t in (1, 2, 3)] == [False, True, True]


def test_past_the_text_budget_the_older_tasks_keep_their_hashes_but_not_their_text(tmp_path, monkeypatch):
    monkeypatch.setattr("hostagent.tasks.ledger.KEPT_TEXT", 10)
    with Ledger(tmp_path / "tasks.sqlite3") as ledger:
        for task_id in (1, 2, 3):
            ledger.set_workspace(Workspace(task_id, "docs", WORKING_COPY))
            ledger.record_changes(task_id, [Change("a.txt", "1" * 64, "2" * 64, b"abcd")])
        assert [ledger.changes(t)[0].before_bytes for t in (1, 2, 3)] == [None, b"abcd", b"abcd"]
        ledger.set_workspace(Workspace(4, "docs", WORKING_COPY))
        ledger.record_changes(4, [Change("big.txt", "1" * 64, None, b"x" * 50)])  # over alone: kept
        assert [ledger.changes(t)[0].before_bytes for t in (1, 2, 3, 4)] == [None, None, None, b"x" * 50]
        assert ledger.changes(1) == [Change("a.txt", "1" * 64, "2" * 64, None)]
