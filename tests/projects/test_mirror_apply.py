"""Applying mirror batches on the hub (SECURITY.md 49, 51, 52, 58)."""

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices import link as host_link
from devices import services as device_services
from projects import services
from projects.models import Change, Entry, FileFetch, Project
from tests.kits.common import make_host
from tests.kits.mirror_stream import Stream, delete, dir_change, file_change

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(team_a):
    return make_host(team_a, "Build box")[0]


@pytest.fixture
def stream(host):
    stream = Stream(host.id)
    assert stream.projects("docs").outcome == "applied"
    return stream


def paths(project_name="docs"):
    return sorted(Entry.objects.filter(project__name=project_name).values_list("path", flat=True))


def test_it_creates_and_removes_projects(host, stream):
    stream.projects("docs", "site")
    assert set(Project.objects.filter(removed_at__isnull=True).values_list("name", flat=True)) == {
        "docs",
        "site",
    }
    stream.projects("site")
    assert Project.objects.get(name="docs").removed_at is not None


def test_a_project_no_longer_shared_leaves_none_of_its_files_and_comes_back_whole(stream):
    stream.projects("docs", "site")
    stream.batch("docs", dir_change("notes"), file_change("notes/a.md", "secret plans\n"), reset=True)
    stream.batch("site", file_change("index.md"), reset=True)
    docs = Project.objects.get(name="docs")
    FileFetch.objects.create(project=docs, path="logo.png", path_hash="0" * 64, request="r1", data=b"png")
    with CaptureQueriesContext(connection) as queries:
        stream.projects("site")
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # one statement per table, whatever the number of files
    assert not Entry.objects.filter(project=docs).exists()
    assert not Change.objects.filter(project=docs).exists()
    assert not FileFetch.objects.filter(project=docs).exists()
    assert paths("site") == ["index.md"]  # the other project keeps its files
    stream.projects("docs", "site")
    stream.batch("docs", file_change("notes/a.md", "secret plans\n"), reset=True)
    assert paths() == ["notes/a.md"] and Project.objects.get(name="docs").removed_at is None


def test_it_applies_upserts_and_deletes(stream):
    stream.batch("docs", dir_change("notes"), file_change("notes/a.md"), file_change("README.md"), reset=True)
    assert paths() == ["README.md", "notes", "notes/a.md"]
    stream.batch("docs", file_change("README.md", "# New\n"), delete("notes"))
    assert paths() == ["README.md"]
    assert Entry.objects.get(path="README.md").text == "# New\n"
    ops = list(Change.objects.order_by("id").values_list("op", "path"))
    assert ops[-2:] == [("modified", "README.md"), ("deleted", "notes")]


def test_reset_forgets_what_the_snapshot_does_not_send(stream):
    stream.batch("docs", file_change("old.md"), file_change("keep.md"))
    stream.batch("docs", file_change("keep.md"), reset=True)
    assert paths() == ["keep.md"]


def test_the_same_batch_twice_changes_nothing(stream):
    """SECURITY.md 52: replayed seq is a duplicate; the same content again writes nothing."""
    batch = {"project": "docs", "reset": False, "changes": [file_change("a.md")]}
    assert stream.send("mirror.batch", batch).outcome == "applied"
    entry = Entry.objects.get(path="a.md")
    assert stream.send("mirror.batch", batch, seq=stream.seq).outcome == "duplicate"
    assert stream.send("mirror.batch", batch).outcome == "applied"
    again = Entry.objects.get(path="a.md")
    assert again.updated_at == entry.updated_at
    assert Change.objects.filter(path="a.md").count() == 1


def test_a_sequence_gap_is_refused(stream):
    result = stream.send(
        "mirror.batch", {"project": "docs", "changes": [file_change("a.md")]}, seq=stream.seq + 2
    )
    assert (result.outcome, result.expected) == ("gap", stream.seq + 1)
    assert paths() == []


@pytest.mark.parametrize(
    "change",
    [
        file_change("../x"),
        file_change("/etc/passwd"),
        file_change("a\x00b"),
        file_change("ok.md", text="nul \x00 inside"),
        file_change("big.md", text="x" * (512 * 1024 + 1)),
        file_change("ok.md", hash="not-a-hash"),
        file_change("ok.md", size=-1),
        {**file_change("ok.md"), "text": "lone \ud800 surrogate"},
        {"op": "rename", "path": "ok.md"},
        {"op": "upsert", "path": "ok.md", "kind": "fifo"},
        "not an object",
    ],
    ids=[
        "dotdot",
        "absolute",
        "nul-path",
        "nul-text",
        "oversized",
        "hash",
        "size",
        "surrogate-text",
        "op",
        "kind",
        "type",
    ],
)
def test_a_bad_change_refuses_the_whole_batch(stream, change):
    result = stream.batch("docs", file_change("good.md"), change)
    assert result.outcome == "rejected"
    assert result.error
    assert paths() == []
    assert not Change.objects.exists()


def test_text_at_the_limit_is_kept(stream):
    """SECURITY.md 51: 512 KiB is the limit; the agent sends larger files as metadata."""
    stream.batch("docs", file_change("big.md", text="y" * (512 * 1024)))
    assert len(Entry.objects.get(path="big.md").text) == 512 * 1024


def test_a_batch_naming_another_hosts_project_is_refused(stream, team_a):
    """SECURITY.md 58: project names are looked up under the sending host only."""
    other, _ = make_host(team_a, "Other")
    Stream(other.id).projects("secret")
    result = stream.batch("secret", file_change("planted.md"))
    assert result.outcome == "rejected"
    assert "unknown project" in result.error
    assert not Entry.objects.exists()


def test_a_deleted_folder_takes_its_contents(stream):
    stream.batch("docs", dir_change("a"), dir_change("a/b"), file_change("a/b/c.md"), file_change("ab.md"))
    stream.batch("docs", delete("a"))
    assert paths() == ["ab.md"]


def test_changes_ring_the_project_group_after_commit(stream, django_capture_on_commit_callbacks):
    project = Project.objects.get(name="docs")
    with mock.patch("codexhub.events.group_send") as group_send:
        with django_capture_on_commit_callbacks(execute=True):
            stream.batch("docs", file_change("a.md"))
    events = [args for args, _ in group_send.call_args_list]
    group, event = events[0]
    assert group == f"project.{project.id}"
    assert event["type"] == "mirror.changed"
    assert event["changes"] == [{"op": "created", "path": "a.md", "kind": "file"}]


def test_unknown_mirror_messages_are_consumed_as_rejected_and_write_nothing(host):
    result = device_services.host_message_apply(
        host_id=host.id, stream="mirror", seq=1, kind="mirror.nope", payload={"projects": [{"name": "x"}]}
    )
    assert result.outcome == device_services.REJECTED
    assert result.error == "unknown message 'mirror.nope' on stream 'mirror'"
    assert host_link.stream_positions(host_id=host.id) == {"mirror": 1}  # never sent again
    assert not Project.objects.exists()


def test_changes_in_one_batch_apply_in_order(stream):
    stream.batch(
        "docs",
        file_change("a.md", "one"),
        delete("a.md"),
        file_change("a.md", "two"),
        dir_change("d"),
        file_change("d/x.md"),
        file_change("d", "now a file"),
    )
    assert paths() == ["a.md", "d"]
    assert Entry.objects.get(path="a.md").text == "two"
    assert Entry.objects.get(path="d").kind == "file"


def test_a_large_batch_takes_few_queries(stream, django_assert_max_num_queries):
    changes = [file_change(f"f{n:04d}.txt", f"text {n}") for n in range(1000)]
    with django_assert_max_num_queries(30):  # not one a file
        stream.batch("docs", *changes)
    assert Entry.objects.count() == 1000


def test_a_file_recreated_under_a_deleted_folder_in_one_batch(stream):
    stream.batch(
        "docs", dir_change("x"), file_change("x/a.md", "old"), delete("x"), file_change("x/a.md", "new")
    )
    assert paths() == ["x/a.md"]
    entry = Entry.objects.get(path="x/a.md")
    assert entry.text == "new"
    assert entry.updated_at is not None


def test_non_ascii_text_is_kept(stream):
    stream.batch("docs", file_change("u.md", "caf\u00e9 \u65e5\u672c \U0001f600\n"))
    assert Entry.objects.get(path="u.md").text == "caf\u00e9 \u65e5\u672c \U0001f600\n"


def test_the_change_list_keeps_the_newest_hundred(stream):
    for n in range(7):  # 20 kept of each batch: 140 in all
        stream.batch("docs", *[file_change(f"b{n}/f{i:02d}.md") for i in range(25)])
    kept = list(Change.objects.order_by("id").values_list("path", flat=True))
    assert len(kept) == 100
    assert kept[0] == "b2/f05.md" and kept[-1] == "b6/f24.md"
    assert Project.objects.get(name="docs").last_change_at is not None


def test_a_reset_batch_looks_no_entry_up(stream):
    """After the reset's delete the project is empty: no per-path lookup."""
    stream.batch("docs", file_change("old.md"))
    with CaptureQueriesContext(connection) as queries:
        stream.batch("docs", *[file_change(f"f{n}.md") for n in range(50)], reset=True)
    assert not [q for q in queries.captured_queries if "path_hash IN" in q["sql"]]
    assert paths() == sorted(f"f{n}.md" for n in range(50))


def test_stored_entries_are_found_past_one_lookup_query(stream):
    """More paths than one lookup query binds: each stored one is still seen as stored."""
    count = services.LOOKUP_CHUNK + 150
    changes = [file_change(f"f{n:04d}.md", f"text {n}") for n in range(count)]
    stream.batch("docs", *changes)
    changes[-1] = file_change(f"f{count - 1:04d}.md", "edited")
    with mock.patch("projects.services.group_send_on_commit") as send:
        stream.batch("docs", *changes)
    event = send.call_args.args[1]
    assert (event["count"], event["changes"]) == (
        1,
        [{"op": "modified", "path": f"f{count - 1:04d}.md", "kind": "file"}],
    )
    assert Entry.objects.count() == count
