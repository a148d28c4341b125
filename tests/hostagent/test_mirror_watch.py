import os
import shutil

import pytest

from hostagent.mirror.scan import Scope
from hostagent.mirror.sync import normalize_scopes
from hostagent.mirror.watch import scopes_for
from tests.kits.agent_mirror import make_mirror, paths_of, write
from tests.kits.fakehub import wait_for


@pytest.fixture
async def watched(tmp_path):
    root = tmp_path / "proj"
    write(root, "a.txt", "a")
    write(root, ".gitignore", "*.log\n")
    write(root, "old/one.md", "1")
    write(root, "old/sub/two.md", "2")
    mirror, link = make_mirror(tmp_path, {"p": root}, watch=True)
    await mirror.start()
    await mirror.sync_project("p")
    link.clear()
    yield root, mirror, link
    await mirror.stop()
    mirror.index.close()


def changes_with(link, predicate):
    return [c for c in link.changes() if predicate(c)]


async def test_it_sends_an_edited_file(watched):
    root, _, link = watched
    write(root, "a.txt", "edited")
    await wait_for(lambda: changes_with(link, lambda c: c.get("text") == "edited"), 2, "the edit")
    assert paths_of(link.changes()) == {"a.txt"}
    assert all(not b["reset"] for b in link.batches())


async def test_it_sends_a_created_file_with_its_new_folder(watched):
    root, _, link = watched
    write(root, "new/dir/made.md", "made")
    await wait_for(lambda: "new/dir/made.md" in paths_of(link.changes()), 2, "the new file")
    assert paths_of(link.changes()) >= {"new", "new/dir", "new/dir/made.md"}


async def test_it_sends_a_deleted_file(watched):
    root, mirror, link = watched
    os.unlink(root / "a.txt")
    await wait_for(lambda: {"op": "delete", "path": "a.txt"} in link.changes(), 2, "the delete")
    assert mirror.index.rows("p", [("a.txt", False)]) == {}


async def test_it_sends_a_renamed_folder_as_delete_and_upserts(watched):
    root, mirror, link = watched
    os.rename(root / "old", root / "new")
    want = {"new", "new/one.md", "new/sub", "new/sub/two.md"}
    await wait_for(
        lambda: {"op": "delete", "path": "old"} in link.changes() and paths_of(link.changes()) >= want,
        2,
        "the move",
    )
    assert paths_of(link.changes(), "delete") == {"old"}  # one delete for the whole folder
    assert paths_of(link.changes()) == want
    assert set(mirror.index.rows("p", [("", True)])) == {"a.txt", ".gitignore"} | want


async def test_it_ignores_git_and_ignored_paths(watched):
    root, _, link = watched
    write(root, ".git/objects/ab", "x")
    write(root, "debug.log", "x")
    write(root, "marker.txt", "x")  # a later, visible change to know the others were processed
    await wait_for(lambda: "marker.txt" in paths_of(link.changes()), 2, "the marker")
    assert paths_of(link.changes()) == {"marker.txt"}


async def test_it_debounces_a_burst_into_few_batches(watched):
    root, _, link = watched
    for i in range(30):
        write(root, f"burst/{i}.txt", str(i))
    await wait_for(lambda: len(paths_of(link.changes())) == 31, 2, "the burst")
    assert len(link.batches()) <= 5


async def test_it_queues_changes_while_the_project_was_not_synced_yet(tmp_path):
    root = tmp_path / "proj"
    write(root, "a.txt", "a")
    mirror, link = make_mirror(tmp_path, {"p": root}, watch=True)
    await mirror.start()
    try:
        write(root, "early.txt", "early")
        await wait_for(lambda: mirror.projects["p"].waiting, 2, "the event")
        assert link.sent == []  # nothing before the first sync (which follows mirror.projects)
        await mirror.sync_project("p")
        await mirror.idle()
        assert paths_of(link.changes()) == {"a.txt", "early.txt"}
    finally:
        await mirror.stop()
        mirror.index.close()


def test_it_maps_events_to_scopes():
    assert scopes_for("modified", False, "a/b.txt") == Scope("a/b.txt")
    assert scopes_for("modified", True, "a") == Scope("a", recursive=False)
    assert scopes_for("created", True, "a") == Scope("a")
    assert scopes_for("modified", False, ".git/index") is None
    assert scopes_for("modified", False, "sub/.GIT/HEAD") is None
    assert scopes_for("modified", False, ".git/info/exclude") == Scope("")
    assert scopes_for("modified", False, "src/.gitignore") == Scope("src")
    assert scopes_for("modified", False, ".gitignore") == Scope("")


def test_it_merges_scopes_under_a_recursive_parent():
    scopes = {
        Scope("a"),
        Scope("a/b"),
        Scope("a", recursive=False),
        Scope("c", recursive=False),
        Scope("d/e"),
    }
    assert normalize_scopes(scopes) == [Scope("a"), Scope("c", recursive=False), Scope("d/e")]
    assert normalize_scopes({Scope(""), Scope("x")}) == [Scope("")]


async def test_it_stops_its_observer(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    mirror, _ = make_mirror(tmp_path, {"p": root}, watch=True)
    await mirror.start()
    observer = mirror.watcher.observer
    await mirror.stop()
    assert not observer.is_alive()
    shutil.rmtree(root)
    mirror.index.close()


async def test_it_applies_a_changed_gitignore_to_its_folder(watched):
    root, _, link = watched
    write(root, ".gitignore", "*.log\nold/\n")
    await wait_for(lambda: {"op": "delete", "path": "old"} in link.changes(), 2, "the newly ignored folder")
    assert paths_of(link.changes()) == {".gitignore"}


async def test_it_keeps_running_when_a_project_folder_cannot_be_watched(tmp_path, caplog):
    root = tmp_path / "proj"
    write(root, "a.txt", "a")
    mirror, link = make_mirror(tmp_path, {"gone": tmp_path / "missing", "p": root}, watch=True)
    await mirror.start()
    try:
        assert "cannot watch project 'gone'" in caplog.text
        await mirror.sync_all()
        link.clear()
        write(root, "b.txt", "b")
        await wait_for(lambda: "b.txt" in paths_of(link.changes()), 2, "the change in the watched project")
    finally:
        await mirror.stop()
        mirror.index.close()
