"""Discarding a task that ran in the working copy, from the hashes the task recorded."""

from __future__ import annotations

import hashlib

import pytest

from hostagent import git as gitops
from tests.kits.gitrepo import make_repo, sh


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def project(tmp_path):
    return make_repo(tmp_path / "project", {"app.py": "a = 1\n", "notes.txt": "one\n"})


def test_it_restores_modified_deleted_and_created_files(project):
    (project / "app.py").write_text("a = 2\n")  # the task's edits
    (project / "notes.txt").unlink()
    (project / "made.txt").write_text("by the task\n")
    (project / "scratch.txt").write_text("kept text\n")  # untracked before the task, then edited
    changes = [
        gitops.FileChange("app.py", _h(b"a = 1\n"), _h(b"a = 2\n")),
        gitops.FileChange("notes.txt", _h(b"one\n"), None),
        gitops.FileChange("made.txt", None, _h(b"by the task\n")),
        gitops.FileChange("scratch.txt", _h(b"draft\n"), _h(b"kept text\n"), before_bytes=b"draft\n"),
    ]

    restored = gitops.discard_in_working_copy(project, changes)

    assert sorted(restored) == ["app.py", "made.txt", "notes.txt", "scratch.txt"]
    assert (project / "app.py").read_text() == "a = 1\n"
    assert (project / "notes.txt").read_text() == "one\n"
    assert not (project / "made.txt").exists()
    assert (project / "scratch.txt").read_text() == "draft\n"
    assert sh(project, "status", "--porcelain") == "?? scratch.txt\n"


def test_it_refuses_when_a_file_changed_again_since_the_task(project):
    (project / "app.py").write_text("a = 2\n")  # the task
    (project / "notes.txt").write_text("two\n")  # the task
    (project / "app.py").write_text("a = 2  # the user's later edit\n")
    changes = [
        gitops.FileChange("app.py", _h(b"a = 1\n"), _h(b"a = 2\n")),
        gitops.FileChange("notes.txt", _h(b"one\n"), _h(b"two\n")),
    ]

    with pytest.raises(gitops.DiscardRefused) as caught:
        gitops.discard_in_working_copy(project, changes)

    assert caught.value.files == ["app.py"]
    assert "changed since the task, so nothing was restored: app.py" in str(caught.value)
    assert (project / "app.py").read_text() == "a = 2  # the user's later edit\n"
    assert (project / "notes.txt").read_text() == "two\n"  # all or nothing


def test_it_refuses_when_the_earlier_bytes_are_nowhere(project):
    (project / "loose.txt").write_text("after\n")
    change = gitops.FileChange("loose.txt", _h(b"before, never in git\n"), _h(b"after\n"))
    with pytest.raises(gitops.DiscardRefused, match="neither in git nor kept"):
        gitops.discard_in_working_copy(project, [change])
    assert (project / "loose.txt").read_text() == "after\n"


def test_it_refuses_a_symlink_where_the_file_was(project, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    (project / "app.py").unlink()
    (project / "app.py").symlink_to(outside)
    change = gitops.FileChange("app.py", _h(b"a = 1\n"), _h(b"secret\n"))
    with pytest.raises(gitops.DiscardRefused, match="not regular files"):
        gitops.discard_in_working_copy(project, [change])
    assert outside.read_text() == "secret\n"


def test_a_project_that_is_not_a_repository_gets_back_the_text_the_task_kept(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "notes.md").write_text("- one\n")  # the task's edit of "one\n"
    (folder / "photo.bin").write_bytes(b"\x00new")  # binary: no text was kept
    changes = [
        gitops.FileChange("notes.md", _h(b"one\n"), _h(b"- one\n"), before_bytes=b"one\n"),
        gitops.FileChange("photo.bin", _h(b"\x00old"), _h(b"\x00new")),
    ]

    with pytest.raises(gitops.DiscardRefused) as refused:
        gitops.discard_in_working_copy(folder, changes)
    assert refused.value.files == ["photo.bin"]
    assert (folder / "notes.md").read_text() == "- one\n"  # all or nothing

    assert gitops.discard_in_working_copy(folder, changes[:1]) == ["notes.md"]
    assert (folder / "notes.md").read_text() == "one\n"
