import os
import shutil

import pytest

from hostagent.mirror.index import Index
from hostagent.mirror.sync import Mirror
from tests.kits.agent_mirror import RecordingLink, make_mirror, paths_of, write


def tree(root):
    write(root, "a.txt", "a")
    write(root, "b.txt", "b")
    write(root, "c.txt", "c")
    write(root, "docs/x.md", "x")
    write(root, "docs/deep/y.md", "y")


@pytest.fixture
def project(tmp_path):
    """The tree as project `p` of a mirror not yet synced: (root, mirror, link)."""
    root = tmp_path / "proj"
    tree(root)
    mirror, link = make_mirror(tmp_path, {"p": root})
    yield root, mirror, link
    mirror.index.close()


async def assert_nothing_more(mirror, link):
    """Another scan sends nothing."""
    link.clear()
    await mirror.sync_project("p")
    assert link.sent == []


async def test_it_sends_a_reset_snapshot_first_and_nothing_on_a_second_scan(project):
    root, mirror, link = project
    await mirror.sync_project("p")
    assert [b["reset"] for b in link.batches()] == [True]
    assert paths_of(link.changes()) == {
        "a.txt",
        "b.txt",
        "c.txt",
        "docs",
        "docs/x.md",
        "docs/deep",
        "docs/deep/y.md",
    }
    assert mirror.index.count("p") == 7
    await assert_nothing_more(mirror, link)


async def test_it_sends_exactly_the_three_files_changed_while_stopped(tmp_path):
    root = tmp_path / "proj"
    tree(root)
    index_path = tmp_path / "mirror.sqlite3"
    with Index(index_path) as index:
        first = Mirror({"p": str(root)}, index, watch=False)
        first.link = RecordingLink()
        await first.sync_project("p")
    # Stopped: three files change (one keeps its size), nothing else.
    write(root, "a.txt", "A")
    write(root, "b.txt", "bigger")
    write(root, "docs/deep/y.md", "changed")
    with Index(index_path) as index:
        second = Mirror({"p": str(root)}, index, watch=False)
        second.link = link = RecordingLink()
        await second.sync_project("p")
    changes = link.changes()
    assert len(changes) == 3
    assert [b["reset"] for b in link.batches()] == [False]
    assert {c["path"]: c["text"] for c in changes} == {
        "a.txt": "A",
        "b.txt": "bigger",
        "docs/deep/y.md": "changed",
    }


async def test_it_deletes_a_removed_folder_once_and_forgets_its_children(project):
    root, mirror, link = project
    await mirror.sync_project("p")
    link.clear()
    shutil.rmtree(root / "docs")
    os.unlink(root / "c.txt")
    await mirror.sync_project("p")
    assert link.changes() == [{"op": "delete", "path": "c.txt"}, {"op": "delete", "path": "docs"}]
    assert mirror.index.count("p") == 2
    await assert_nothing_more(mirror, link)


async def test_it_sends_a_kind_change_as_delete_of_children_and_upsert(project):
    root, mirror, link = project
    await mirror.sync_project("p")
    link.clear()
    shutil.rmtree(root / "docs")
    write(root, "docs", "now a file")
    await mirror.sync_project("p")
    changes = link.changes()
    assert [c["op"] for c in changes] == ["delete", "delete", "upsert"]
    assert paths_of(changes, "delete") == {"docs/x.md", "docs/deep"}
    assert changes[-1]["path"] == "docs" and changes[-1]["kind"] == "file"


async def test_it_does_not_delete_the_mirror_when_the_folder_is_missing(project, tmp_path, caplog):
    root, mirror, link = project
    await mirror.sync_project("p")
    link.clear()
    os.rename(root, tmp_path / "unmounted")
    await mirror.sync_project("p")
    assert link.sent == []
    assert mirror.index.count("p") == 7
    assert "not syncing project 'p'" in caplog.text


async def test_it_resends_a_full_snapshot_on_resync(project):
    root, mirror, link = project
    await mirror.sync_project("p")
    link.clear()
    await mirror.on_resync({"type": "mirror.resync", "project": "p"})
    await mirror.idle()
    assert [b["reset"] for b in link.batches()] == [True]
    assert len(link.changes()) == 7
    link.clear()
    await mirror.on_resync({"type": "mirror.resync", "project": "nope"})
    await mirror.on_resync({"type": "mirror.resync", "project": ["p"]})
    await mirror.idle()
    assert link.sent == []


async def test_it_forgets_projects_no_longer_shared(tmp_path):
    root = tmp_path / "proj"
    tree(root)
    with Index(tmp_path / "mirror.sqlite3") as index:
        mirror = Mirror({"p": str(root)}, index, watch=False)
        mirror.link = RecordingLink()
        await mirror.sync_project("p")
        assert index.known("p")
        Mirror({}, index, watch=False)
        assert not index.known("p") and index.count("p") == 0


def test_it_creates_the_index_private(tmp_path):
    Index(tmp_path / "mirror.sqlite3").close()
    assert (tmp_path / "mirror.sqlite3").stat().st_mode & 0o777 == 0o600
