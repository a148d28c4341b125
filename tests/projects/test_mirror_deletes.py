"""Set-based deletes (issue 21): a batch's deletes go out in one statement,
whatever their number, and take everything below a deleted folder."""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Entry
from tests.kits.common import make_host
from tests.kits.mirror_stream import Stream, delete, dir_change, file_change

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(team_a):
    stream = Stream(make_host(team_a, "Build box")[0].id)
    stream.projects("docs")
    changes = []
    for folder in range(20):
        changes.append(dir_change(f"pkg{folder}"))
        changes.append(dir_change(f"pkg{folder}/deep"))
        changes += [file_change(f"pkg{folder}/deep/f{n}.py", f"{folder} {n}\n") for n in range(20)]
    stream.batch("docs", *changes, reset=True)
    return stream


def paths():
    return set(Entry.objects.values_list("path", flat=True))


def deleting(stream, *changes):
    """The batch's statements that delete entries, and the event it rang."""
    with (
        CaptureQueriesContext(connection) as queries,
        mock.patch("projects.services.group_send_on_commit") as send,
    ):
        assert stream.batch("docs", *changes).outcome == "applied"
    table = Entry._meta.db_table
    statements = [q["sql"] for q in queries.captured_queries if f'DELETE FROM "{table}"' in q["sql"]]
    return statements, queries, send.call_args.args[1]


def test_one_delete_and_four_hundred_cost_the_same_queries(stream):
    one, one_queries, _ = deleting(stream, delete("pkg0/deep/f0.py"))
    many = [delete(f"pkg{folder}/deep/f{n}.py") for folder in range(1, 20) for n in range(20)]
    four_hundred, many_queries, event = deleting(stream, *many)
    assert (len(one), len(four_hundred)) == (1, 1)  # one statement per batch
    assert len(many_queries) == len(one_queries)
    assert event["count"] == 380 and len(event["changes"]) == 380  # every one told
    assert not any(path.endswith(".py") for path in paths() - {f"pkg0/deep/f{n}.py" for n in range(1, 20)})


def test_a_deleted_folder_takes_everything_below_it_in_the_same_statement(stream):
    statements, _, event = deleting(stream, delete("pkg3"), delete("pkg4/deep"), delete("nothing/here"))
    assert len(statements) == 1
    assert not [p for p in paths() if p.startswith(("pkg3", "pkg4/deep"))]
    assert "pkg4" in paths() and "pkg5/deep/f1.py" in paths()
    assert event["changes"] == [
        {"op": "deleted", "path": "pkg3", "kind": "dir"},
        {"op": "deleted", "path": "pkg4/deep", "kind": "dir"},
    ]  # a path that was not there changed nothing


def test_a_path_under_a_deleted_folder_is_not_told_twice(stream):
    _, _, event = deleting(stream, delete("pkg3"), delete("pkg3/deep/f1.py"))
    assert event["changes"] == [{"op": "deleted", "path": "pkg3", "kind": "dir"}]


def test_order_is_kept_across_deletes_and_writes(stream):
    deleting(
        stream,
        delete("pkg1"),
        file_change("pkg1/new.md", "back"),  # below a delete waiting: the delete goes first
        file_change("pkg2/deep/f0.py", "edited"),
        delete("pkg2/deep"),  # above a write waiting: the write goes first, then this takes it
        file_change("top.md"),
        delete("top.md"),
    )
    assert {p for p in paths() if p.split("/")[0] in ("pkg1", "pkg2", "top.md")} == {"pkg1/new.md", "pkg2"}


def test_a_folder_that_became_a_file_loses_what_was_below_it(stream):
    deleting(stream, file_change("pkg6", "now a file"))
    assert not [p for p in paths() if p.startswith("pkg6/")]
    assert Entry.objects.get(path="pkg6").kind == "file"


def test_a_file_moved_in_one_batch_is_told_as_moved(stream):
    _, _, event = deleting(
        stream,
        delete("pkg7"),
        dir_change("lib7"),
        dir_change("lib7/deep"),
        file_change("lib7/deep/f3.py", "7 3\n"),
    )
    assert event["moved"] == {"pkg7/deep/f3.py": "lib7/deep/f3.py"}
