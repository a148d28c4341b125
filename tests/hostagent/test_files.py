"""hostagent.files.write_atomic: the one way the agent replaces a file, and the paths it refuses."""

import os
import stat

import pytest

from hostagent import files
from hostagent.files import WriteRefused, write_atomic


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return root


def test_it_replaces_a_file_keeping_its_mode_and_leaves_no_temporary_file(root):
    target = root / "a" / "b" / "run.sh"
    target.write_text("old\n")
    target.chmod(0o751)
    write_atomic(root, "a/b/run.sh", b"new\n")
    assert target.read_bytes() == b"new\n" and mode(target) == 0o751
    assert os.listdir(root / "a" / "b") == ["run.sh"]


def test_it_sets_the_mode_it_is_given_whatever_the_umask(root):
    old = os.umask(0)
    try:
        write_atomic(root, "secret.toml", b"token", mode=0o600)
        (root / "loose").write_text("x")
        (root / "loose").chmod(0o666)
        write_atomic(root, "loose", b"secret", mode=0o600)
    finally:
        os.umask(old)
    assert mode(root / "secret.toml") == 0o600 and mode(root / "loose") == 0o600


def test_it_creates_missing_folders_only_when_asked(root):
    with pytest.raises(WriteRefused, match=files.FOLDER_UNSAFE):
        write_atomic(root, "new/deep/x.md", b"x")
    assert not (root / "new").exists()
    write_atomic(root, "new/deep/x.md", b"x", make_folders=True)
    assert (root / "new" / "deep" / "x.md").read_bytes() == b"x"


def test_it_refuses_a_symlinked_folder_on_the_path(root, tmp_path):
    (root / "a" / "link").symlink_to(tmp_path / "outside")
    for make_folders in (False, True):
        with pytest.raises(WriteRefused, match=files.FOLDER_UNSAFE):
            write_atomic(root, "a/link/x.md", b"x", make_folders=make_folders)
    assert os.listdir(tmp_path / "outside") == []


def test_it_refuses_a_root_that_is_a_symlink(root, tmp_path):
    (tmp_path / "alias").symlink_to(root)
    with pytest.raises(WriteRefused, match=files.FOLDER_UNSAFE):
        write_atomic(tmp_path / "alias", "x.md", b"x")
    assert not (root / "x.md").exists()


def test_it_refuses_a_target_that_is_a_symlink_fifo_or_folder(root, tmp_path):
    victim = tmp_path / "outside" / "victim"
    victim.write_text("keep")
    (root / "link").symlink_to(victim)
    os.mkfifo(root / "pipe")
    for name in ("link", "pipe", "a"):
        with pytest.raises(WriteRefused, match=files.NOT_REGULAR):
            write_atomic(root, name, b"x")
    assert victim.read_text() == "keep" and (root / "link").is_symlink()


@pytest.mark.parametrize(
    "relative", ["../outside/x", "a/../../outside/x", "/etc/x", "", "a//b", "a/./b", "nul\0"]
)
def test_it_refuses_a_path_that_could_leave_the_root(root, tmp_path, relative):
    with pytest.raises(WriteRefused, match=files.OUTSIDE):
        write_atomic(root, relative, b"x", make_folders=True)
    assert os.listdir(tmp_path / "outside") == []


def test_it_refuses_a_folder_swapped_for_a_symlink_mid_way(root, tmp_path, monkeypatch):
    real_open = os.open

    def swap_before_entering_b(path, flags, *args, **kwargs):
        if path == "b" and kwargs.get("dir_fd") is not None:
            os.rename(root / "a" / "b", root / "a" / "b-moved")
            (root / "a" / "b").symlink_to(tmp_path / "outside")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", swap_before_entering_b)
    with pytest.raises(WriteRefused, match=files.FOLDER_UNSAFE):
        write_atomic(root, "a/b/x.md", b"x")
    monkeypatch.undo()
    assert os.listdir(tmp_path / "outside") == [] and os.listdir(root / "a" / "b-moved") == []


def test_it_replaces_a_target_swapped_for_a_symlink_instead_of_following_it(root, tmp_path, monkeypatch):
    victim = tmp_path / "outside" / "victim"
    victim.write_text("keep")
    (root / "x.md").write_text("old")
    real_replace = os.replace

    def swap_before_replace(src, dst, **kwargs):
        os.unlink(root / "x.md")
        (root / "x.md").symlink_to(victim)
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", swap_before_replace)
    write_atomic(root, "x.md", b"new")
    monkeypatch.undo()
    assert victim.read_text() == "keep"
    assert not (root / "x.md").is_symlink() and (root / "x.md").read_bytes() == b"new"


def test_it_refuses_a_file_that_changed_or_went_away_when_told_what_to_expect(root):
    (root / "x.md").write_bytes(b"seen")
    with pytest.raises(WriteRefused, match=files.CHANGED):
        write_atomic(root, "x.md", b"new", expect=b"other")
    with pytest.raises(WriteRefused, match=files.GONE):
        write_atomic(root, "gone.md", b"new", expect=b"seen")
    write_atomic(root, "x.md", b"new", expect=b"seen")
    assert (root / "x.md").read_bytes() == b"new"


def test_it_removes_the_temporary_file_when_the_write_fails(root, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(root, "x.md", b"x")
    monkeypatch.undo()
    assert sorted(os.listdir(root)) == ["a"]
