"""Which folders the agent watches (Linux inotify): only those a scan enters."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from hostagent.mirror.inotify import PrunedObserver
from tests.kits.agent_mirror import make_mirror, paths_of, write
from tests.kits.fakehub import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify watches")


def watched_paths(mirror):
    group = mirror.watcher.pruners["p"].group
    root = mirror.projects["p"].scanner.root
    return {os.path.relpath(os.fsdecode(p), root) for p in group._active_callbacks_by_path}


@pytest.fixture
async def repo(tmp_path):
    root = tmp_path / "proj"
    write(root, ".gitignore", "target/\n*.log\n")
    write(root, ".git/info/exclude", "")
    for n in range(30):
        write(root, f".git/objects/{n:02x}/obj", "x")
        write(root, f"target/debug/deps/d{n}/lib.rlib", "x")
    write(root, "src/lib.rs", "fn main() {}")
    write(root, "src/sub/mod.rs", "")
    write(root, "logs.log/inner.txt", "x")  # *.log matches folders too, as in git
    os.symlink(root / "src", root / "link-to-src")  # a symlink is not followed, nor watched
    mirror, link = make_mirror(tmp_path, {"p": root}, watch=True)
    await mirror.start()
    await mirror.sync_project("p")
    link.clear()
    yield root, mirror, link
    await mirror.stop()
    mirror.index.close()


async def test_it_watches_only_shared_folders_and_git_info(repo):
    root, mirror, _ = repo
    assert isinstance(mirror.watcher.observer, PrunedObserver)
    assert watched_paths(mirror) == {".", "src", "src/sub", ".git/info"}
    assert mirror.watcher.observer.watch_count() == 4  # of 99 folders in the tree


async def test_writes_in_an_ignored_folder_cost_no_events(repo, monkeypatch):
    root, mirror, link = repo
    touched = []
    real_touch = mirror.watcher.touch
    monkeypatch.setattr(
        mirror.watcher, "touch", lambda name, scope: (touched.append(scope.rel), real_touch(name, scope))
    )
    for n in range(200):
        write(root, f"target/debug/deps/d{n % 30}/new{n}.o", "x")
    write(root, ".git/objects/00/new", "x")
    write(root, "src/marker.rs", "x")  # a later, shared change: the earlier events came first
    await wait_for(lambda: "src/marker.rs" in paths_of(link.changes()), 2, "the marker")
    assert [rel for rel in touched if rel.startswith(("target/", ".git"))] == []
    assert paths_of(link.changes()) == {"src/marker.rs"}


async def test_a_folder_a_gitignore_change_shares_is_sent_and_then_watched(repo):
    root, mirror, link = repo
    write(root, ".gitignore", "*.log\n")  # target/ is shared now
    await wait_for(
        lambda: "target/debug/deps/d7/lib.rlib" in paths_of(link.changes()), 3, "the un-ignored folder"
    )
    assert "target/debug/deps/d29" in watched_paths(mirror)
    link.clear()
    write(root, "target/debug/deps/d29/later.rlib", "x")
    await wait_for(
        lambda: "target/debug/deps/d29/later.rlib" in paths_of(link.changes()), 2, "a later write in it"
    )
    write(root, ".gitignore", "target/\n")  # ignored again: no longer watched
    await wait_for(
        lambda: {"op": "delete", "path": "target"} in link.changes(), 2, "the newly ignored folder"
    )
    await wait_for(
        lambda: not any(p.startswith("target") for p in watched_paths(mirror)), 2, "the watches dropped"
    )


async def test_a_nested_gitignore_change_rewatches_its_folder_only(repo):
    root, mirror, link = repo
    write(root, "src/gen/out.rs", "x")
    await wait_for(lambda: "src/gen" in watched_paths(mirror), 2, "the new folder watched")
    write(root, "src/.gitignore", "gen/\n")
    await wait_for(lambda: "src/gen" not in watched_paths(mirror), 2, "the folder unwatched")
    assert {"src", "src/sub"} <= watched_paths(mirror)


async def test_a_new_folder_is_watched_but_not_a_new_ignored_one(repo):
    root, mirror, link = repo
    write(root, "docs/a/b/c.md", "x")
    write(root, "target2/x.txt", "x")
    write(root, "newtarget/target/deep/x.o", "x")  # target/ matches at any depth
    await wait_for(lambda: "docs/a/b/c.md" in paths_of(link.changes()), 2, "the new files")
    await wait_for(
        lambda: "newtarget/target/deep/x.o" not in paths_of(link.changes())
        and "docs/a/b" in watched_paths(mirror),
        2,
        "watches",
    )
    watched = watched_paths(mirror)
    assert {"docs", "docs/a", "docs/a/b", "target2", "newtarget"} <= watched
    assert not {"newtarget/target", "newtarget/target/deep"} & watched


async def test_an_exclude_file_change_is_seen_through_the_watch_on_git_info(repo):
    root, mirror, link = repo
    write(root, ".git/info/exclude", "src/\n")
    await wait_for(lambda: {"op": "delete", "path": "src"} in link.changes(), 2, "the excluded folder")
    await wait_for(lambda: "src" not in watched_paths(mirror), 2, "its watch dropped")
    write(root, ".git/info/exclude", "")
    await wait_for(lambda: "src/sub/mod.rs" in paths_of(link.changes()), 2, "the folder back")
    assert {"src", "src/sub"} <= watched_paths(mirror)


async def test_watching_a_folder_twice_warns_nothing(repo):
    _, mirror, _ = repo
    group = mirror.watcher.pruners["p"].group
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        with group._lock:
            group._add_all_callbacks(group.path)  # as when a folder's creation event follows the walk
    assert caught == []
    assert mirror.watcher.observer.watch_count() == 4


def test_watchdogs_callback_warning_never_reaches_the_log():
    # The agent's log is its stderr, where Python prints warnings.
    script = (
        "import warnings, hostagent.mirror.watch, hostagent.mirror.inotify\n"
        "warnings.warn(\"Callback with id '1' already exists for watch <bound method \" + 'x' * 100000"
        " + '>. It will be Overwritten.', RuntimeWarning)\n"
        "warnings.warn('another runtime warning', RuntimeWarning)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert "another runtime warning" in done.stderr
    assert "already exists" not in done.stderr and len(done.stderr) < 1000
